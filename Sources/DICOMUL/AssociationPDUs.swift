import NIOCore

/// A variable item of an A-ASSOCIATE-RQ or -AC PDU (PS3.8 §9.3.2, §9.3.3), in wire order.
public enum AssociationItem: Sendable, Hashable {
    case applicationContext(ApplicationContextItem)
    case presentationContextRequest(PresentationContextRequestItem)
    case presentationContextAccept(PresentationContextAcceptItem)
    case userInformation(UserInformationItem)
    case unknown(UnknownItem)

    static func decodeAll(_ body: inout ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> [AssociationItem] {
        var items: [AssociationItem] = []
        while body.readableBytes > 0 {
            let start = body.readerIndex
            let (header, itemBody) = try body.readItem(base: base, pduType: pduType, container: "the \(pduType) PDU")
            let itemBase = base + start + ItemHeader.size
            switch header.type {
            case ApplicationContextItem.itemType:
                items.append(.applicationContext(.decode(header: header, body: itemBody)))
            case PresentationContextRequestItem.itemType where pduType == .associateRequest:
                items.append(.presentationContextRequest(try .decode(header: header, body: itemBody, base: itemBase, pduType: pduType)))
            case PresentationContextAcceptItem.itemType where pduType == .associateAccept:
                items.append(.presentationContextAccept(try .decode(header: header, body: itemBody, base: itemBase, pduType: pduType)))
            case UserInformationItem.itemType:
                items.append(.userInformation(try .decode(header: header, body: itemBody, base: itemBase, pduType: pduType)))
            default:
                items.append(.unknown(UnknownItem(type: header.type, reserved: header.reserved, body: Array(itemBody.readableBytesView))))
            }
        }
        return items
    }

    func write(into buffer: inout ByteBuffer) {
        switch self {
        case .applicationContext(let i): i.write(into: &buffer)
        case .presentationContextRequest(let i): i.write(into: &buffer)
        case .presentationContextAccept(let i): i.write(into: &buffer)
        case .userInformation(let i): i.write(into: &buffer)
        case .unknown(let i): i.write(into: &buffer)
        }
    }
}

/// The fields shared by A-ASSOCIATE-RQ (PS3.8 §9.3.2, Table 9-11) and A-ASSOCIATE-AC
/// (§9.3.3, Table 9-17): protocol version, reserved, called and calling AE titles (16 bytes
/// each; in the AC reserved but echoed), 32 reserved bytes, then the variable items.
public struct AssociationPDUFields: Sendable, Hashable {
    public var protocolVersion: UInt16
    public var reserved: UInt16
    public var calledAETitle: WireString
    public var callingAETitle: WireString
    public var reserved32: [UInt8]
    public var items: [AssociationItem]
    /// The reserved byte of the PDU header.
    public var pduReserved: UInt8

    static let fixedLength = 68
    public static let currentProtocolVersion: UInt16 = 0x0001

    public init(calledAETitle: String, callingAETitle: String, items: [AssociationItem]) {
        self.protocolVersion = Self.currentProtocolVersion
        self.reserved = 0
        self.calledAETitle = .aeTitle(calledAETitle)
        self.callingAETitle = .aeTitle(callingAETitle)
        self.reserved32 = Array(repeating: 0, count: 32)
        self.items = items
        self.pduReserved = 0
    }

    static func decode(body: inout ByteBuffer, pduType: PDUType, pduReserved: UInt8) throws(PDUDecodingError) -> Self {
        guard body.readableBytes >= fixedLength,
              let version = body.readInteger(as: UInt16.self), let reserved = body.readInteger(as: UInt16.self),
              let called = body.readBytes(length: 16), let calling = body.readBytes(length: 16),
              let reserved32 = body.readBytes(length: 32) else {
            throw PDUDecodingError(.invalidPDULength, offset: pduHeaderLength, pduType: pduType.rawValue,
                                   "PDU length \(body.readableBytes) is shorter than the \(fixedLength) fixed bytes of \(pduType)")
        }
        let items = try AssociationItem.decodeAll(&body, base: pduHeaderLength, pduType: pduType)
        return AssociationPDUFields(protocolVersion: version, reserved: reserved, calledAETitle: WireString(bytes: called),
                                    callingAETitle: WireString(bytes: calling), reserved32: reserved32, items: items,
                                    pduReserved: pduReserved)
    }

    private init(protocolVersion: UInt16, reserved: UInt16, calledAETitle: WireString, callingAETitle: WireString,
                 reserved32: [UInt8], items: [AssociationItem], pduReserved: UInt8) {
        self.protocolVersion = protocolVersion
        self.reserved = reserved
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.reserved32 = reserved32
        self.items = items
        self.pduReserved = pduReserved
    }

    func writeBody(into buffer: inout ByteBuffer) {
        buffer.writeInteger(protocolVersion)
        buffer.writeInteger(reserved)
        buffer.writeBytes(padded(calledAETitle.bytes, 16))
        buffer.writeBytes(padded(callingAETitle.bytes, 16))
        buffer.writeBytes(padded(reserved32, 32, with: 0))
        for item in items { item.write(into: &buffer) }
    }

    private func padded(_ bytes: [UInt8], _ count: Int, with pad: UInt8 = 0x20) -> [UInt8] {
        Array(bytes.prefix(count)) + Array(repeating: pad, count: max(0, count - bytes.count))
    }

    public var applicationContextName: String? {
        for case .applicationContext(let a) in items { return a.name.value }
        return nil
    }
    public var userInformation: UserInformationItem? {
        for case .userInformation(let u) in items { return u }
        return nil
    }
    public var maximumLength: UInt32? { userInformation?.maximumLength }
}

/// A-ASSOCIATE-RQ PDU, type 0x01 (PS3.8 §9.3.2).
public struct AssociateRequest: Sendable, Hashable {
    public var fields: AssociationPDUFields
    public init(fields: AssociationPDUFields) { self.fields = fields }

    public var presentationContexts: [PresentationContextRequestItem] {
        fields.items.compactMap { if case .presentationContextRequest(let p) = $0 { return p } else { return nil } }
    }
}

/// A-ASSOCIATE-AC PDU, type 0x02 (PS3.8 §9.3.3).
public struct AssociateAccept: Sendable, Hashable {
    public var fields: AssociationPDUFields
    public init(fields: AssociationPDUFields) { self.fields = fields }

    public var presentationContexts: [PresentationContextAcceptItem] {
        fields.items.compactMap { if case .presentationContextAccept(let p) = $0 { return p } else { return nil } }
    }
}
