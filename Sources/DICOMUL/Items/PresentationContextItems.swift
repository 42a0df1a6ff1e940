import NIOCore

/// Presentation Context Item of an A-ASSOCIATE-RQ, type 0x20 (PS3.8 §9.3.2.2, Table 9-13):
/// context ID (odd, 1–255), three reserved bytes, one abstract syntax and one or more
/// transfer syntax sub-items.
public struct PresentationContextRequestItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x20

    public var contextID: UInt8
    public var subItems: [PresentationContextSubItem]
    /// Item header byte 1 and body bytes 5–7, all reserved; kept for byte-exactness.
    public var reserved: UInt8
    public var reservedBody: [UInt8]

    public init(contextID: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.contextID = contextID
        self.subItems = [.abstractSyntax(.abstractSyntax(abstractSyntax))] + transferSyntaxes.map { .transferSyntax(.transferSyntax($0)) }
        self.reserved = 0
        self.reservedBody = [0, 0, 0]
    }

    public var abstractSyntax: String? {
        for case .abstractSyntax(let s) in subItems { return s.uid.value }
        return nil
    }
    public var transferSyntaxes: [String] {
        subItems.compactMap { if case .transferSyntax(let s) = $0 { return s.uid.value } else { return nil } }
    }

    static func decode(header: ItemHeader, body: ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> Self {
        var body = body
        guard let id = body.readInteger(as: UInt8.self), let reservedBody = body.readBytes(length: 3) else {
            throw PDUDecodingError(.invalidItemLength, offset: base - 4, pduType: pduType.rawValue,
                                   "presentation context item length \(header.length) is shorter than its 4 fixed bytes")
        }
        let subItems = try PresentationContextSubItem.decodeAll(&body, base: base, pduType: pduType)
        return PresentationContextRequestItem(contextID: id, subItems: subItems, reserved: header.reserved,
                                              reservedBody: reservedBody)
    }

    private init(contextID: UInt8, subItems: [PresentationContextSubItem], reserved: UInt8, reservedBody: [UInt8]) {
        self.contextID = contextID
        self.subItems = subItems
        self.reserved = reserved
        self.reservedBody = reservedBody
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: Self.itemType, reserved: reserved) { b in
            b.writeInteger(contextID)
            b.writeBytes(reservedBody)
            for s in subItems { s.write(into: &b) }
        }
    }
}

/// Result/reason of a presentation context in an A-ASSOCIATE-AC (PS3.8 §9.3.3.2, Table 9-18).
public struct PresentationContextResult: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let acceptance = Self(rawValue: 0)
    public static let userRejection = Self(rawValue: 1)
    public static let noReason = Self(rawValue: 2)
    public static let abstractSyntaxNotSupported = Self(rawValue: 3)
    public static let transferSyntaxesNotSupported = Self(rawValue: 4)

    public var description: String {
        switch rawValue {
        case 0: return "acceptance"
        case 1: return "user-rejection"
        case 2: return "no-reason (provider rejection)"
        case 3: return "abstract-syntax-not-supported (provider rejection)"
        case 4: return "transfer-syntaxes-not-supported (provider rejection)"
        default: return "unknown result \(rawValue)"
        }
    }
}

/// Presentation Context Item of an A-ASSOCIATE-AC, type 0x21 (PS3.8 §9.3.3.2, Table 9-18):
/// context ID, reserved, result/reason, reserved, one transfer syntax sub-item (not
/// significant when the result is not acceptance).
public struct PresentationContextAcceptItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x21

    public var contextID: UInt8
    public var result: PresentationContextResult
    public var subItems: [PresentationContextSubItem]
    public var reserved: UInt8
    /// Body bytes 5 and 7 (reserved).
    public var reserved5: UInt8
    public var reserved7: UInt8

    public init(contextID: UInt8, result: PresentationContextResult, transferSyntax: String) {
        self.contextID = contextID
        self.result = result
        self.subItems = [.transferSyntax(.transferSyntax(transferSyntax))]
        self.reserved = 0
        self.reserved5 = 0
        self.reserved7 = 0
    }

    public var transferSyntax: String? {
        for case .transferSyntax(let s) in subItems { return s.uid.value }
        return nil
    }

    static func decode(header: ItemHeader, body: ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> Self {
        var body = body
        guard let id = body.readInteger(as: UInt8.self), let r5 = body.readInteger(as: UInt8.self),
              let result = body.readInteger(as: UInt8.self), let r7 = body.readInteger(as: UInt8.self) else {
            throw PDUDecodingError(.invalidItemLength, offset: base - 4, pduType: pduType.rawValue,
                                   "presentation context item length \(header.length) is shorter than its 4 fixed bytes")
        }
        let subItems = try PresentationContextSubItem.decodeAll(&body, base: base, pduType: pduType)
        return PresentationContextAcceptItem(contextID: id, result: PresentationContextResult(rawValue: result),
                                             subItems: subItems, reserved: header.reserved, reserved5: r5, reserved7: r7)
    }

    private init(contextID: UInt8, result: PresentationContextResult, subItems: [PresentationContextSubItem],
                 reserved: UInt8, reserved5: UInt8, reserved7: UInt8) {
        self.contextID = contextID
        self.result = result
        self.subItems = subItems
        self.reserved = reserved
        self.reserved5 = reserved5
        self.reserved7 = reserved7
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: Self.itemType, reserved: reserved) { b in
            b.writeInteger(contextID)
            b.writeInteger(reserved5)
            b.writeInteger(result.rawValue)
            b.writeInteger(reserved7)
            for s in subItems { s.write(into: &b) }
        }
    }
}
