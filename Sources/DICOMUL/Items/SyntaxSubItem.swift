import NIOCore

/// Abstract Syntax (0x30) and Transfer Syntax (0x40) sub-items (PS3.8 §9.3.2.2.1–2,
/// Tables 9-14 and 9-15): a UID, kept as its wire bytes.
public struct SyntaxSubItem: Sendable, Hashable {
    public static let abstractSyntaxType: UInt8 = 0x30
    public static let transferSyntaxType: UInt8 = 0x40

    public var type: UInt8
    public var uid: WireString
    public var reserved: UInt8

    public init(type: UInt8, uid: WireString, reserved: UInt8 = 0) {
        self.type = type
        self.uid = uid
        self.reserved = reserved
    }

    public static func abstractSyntax(_ uid: String) -> SyntaxSubItem { SyntaxSubItem(type: abstractSyntaxType, uid: WireString(uid)) }
    public static func transferSyntax(_ uid: String) -> SyntaxSubItem { SyntaxSubItem(type: transferSyntaxType, uid: WireString(uid)) }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: type, reserved: reserved) { $0.writeBytes(uid.bytes) }
    }
}

/// A sub-item of a presentation context item: abstract or transfer syntax, or one we do not know.
public enum PresentationContextSubItem: Sendable, Hashable {
    case abstractSyntax(SyntaxSubItem)
    case transferSyntax(SyntaxSubItem)
    case unknown(UnknownItem)

    static func decodeAll(_ body: inout ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> [PresentationContextSubItem] {
        var items: [PresentationContextSubItem] = []
        while body.readableBytes > 0 {
            let (header, item) = try body.readItem(base: base, pduType: pduType, container: "the presentation context item")
            let uid = WireString(bytes: Array(item.readableBytesView))
            switch header.type {
            case SyntaxSubItem.abstractSyntaxType:
                items.append(.abstractSyntax(SyntaxSubItem(type: header.type, uid: uid, reserved: header.reserved)))
            case SyntaxSubItem.transferSyntaxType:
                items.append(.transferSyntax(SyntaxSubItem(type: header.type, uid: uid, reserved: header.reserved)))
            default:
                items.append(.unknown(UnknownItem(type: header.type, reserved: header.reserved, body: Array(item.readableBytesView))))
            }
        }
        return items
    }

    func write(into buffer: inout ByteBuffer) {
        switch self {
        case .abstractSyntax(let s), .transferSyntax(let s): s.write(into: &buffer)
        case .unknown(let u): u.write(into: &buffer)
        }
    }
}
