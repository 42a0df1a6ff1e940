import NIOCore

/// The message control header that starts every PDV value (PS3.8 §E.2, Annex E).
public struct MessageControlHeader: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(isCommand: Bool, isLastFragment: Bool) {
        rawValue = (isCommand ? MessageControlHeader.commandBit : 0) | (isLastFragment ? MessageControlHeader.lastFragmentBit : 0)
    }

    /// Bit 0: 1 = the fragment is part of a command set, 0 = of a data set.
    static let commandBit: UInt8 = 0x01
    /// Bit 1: 1 = last fragment of the command set or data set.
    static let lastFragmentBit: UInt8 = 0x02

    public var isCommand: Bool { rawValue & MessageControlHeader.commandBit != 0 }
    public var isLastFragment: Bool { rawValue & MessageControlHeader.lastFragmentBit != 0 }
    /// Bits 2–7 are sent as 0 (PS3.8 §E.2); receivers do not test them.
    public var hasReservedBitsSet: Bool { rawValue & 0xFC != 0 }

    public var description: String {
        (isCommand ? "command" : "dataset") + (isLastFragment ? ", last" : ", more")
    }
}

/// A Presentation Data Value item of a P-DATA-TF PDU (PS3.8 §9.3.5.1, Table 9-23):
/// item-length (4 bytes, counts the context ID and the value), presentation context ID,
/// then the value: the message control header and a fragment.
public struct PresentationDataValueItem: Sendable, Hashable {
    public var presentationContextID: UInt8
    public var messageControlHeader: MessageControlHeader
    public var fragment: ByteBuffer

    public init(presentationContextID: UInt8, messageControlHeader: MessageControlHeader, fragment: ByteBuffer) {
        self.presentationContextID = presentationContextID
        self.messageControlHeader = messageControlHeader
        self.fragment = fragment
    }

    /// Item-length field value: context ID (1) + control header (1) + fragment.
    public var itemLength: Int { 2 + fragment.readableBytes }
    /// Bytes on the wire: the 4-byte length plus `itemLength`.
    public var encodedLength: Int { 4 + itemLength }

    /// Reads one PDV item; `nil` when fewer bytes than the item are readable.
    /// Throws for a length below 2 (no room for the context ID and header).
    public static func read(from buffer: inout ByteBuffer) throws(PDUDecodingError) -> PresentationDataValueItem? {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, as: UInt32.self) else { return nil }
        guard length >= 2 else {
            throw PDUDecodingError(.invalidItemLength, offset: start,
                                   "PDV item length \(length) is too short for a context ID and a message control header")
        }
        guard Int(length) <= buffer.readableBytes - 4 else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let id = buffer.readInteger(as: UInt8.self) ?? 0
        let header = buffer.readInteger(as: UInt8.self) ?? 0
        let fragment = buffer.readSlice(length: Int(length) - 2) ?? ByteBuffer()
        return PresentationDataValueItem(presentationContextID: id, messageControlHeader: MessageControlHeader(rawValue: header),
                                         fragment: fragment)
    }

    /// Writes the item; returns the number of bytes written.
    @discardableResult
    public func write(into buffer: inout ByteBuffer) -> Int {
        var n = buffer.writeInteger(UInt32(itemLength))
        n += buffer.writeInteger(presentationContextID)
        n += buffer.writeInteger(messageControlHeader.rawValue)
        var copy = fragment
        n += buffer.writeBuffer(&copy)
        return n
    }
}
