import NIOCore

/// P-DATA-TF PDU (PS3.8 §9.3.5, Table 9-22): one or more PDV items.
public struct DataTransfer: Sendable, Hashable {
    /// The reserved byte after the PDU type, kept for byte-exact re-encoding.
    public var reserved: UInt8
    public var items: [PresentationDataValueItem]

    public init(items: [PresentationDataValueItem], reserved: UInt8 = 0) {
        self.items = items
        self.reserved = reserved
    }

    /// Decodes the body (after the 6-byte header); the body must be consumed exactly.
    public static func decode(body: inout ByteBuffer, reserved: UInt8) throws(PDUDecodingError) -> DataTransfer {
        var items: [PresentationDataValueItem] = []
        while body.readableBytes > 0 {
            let offset = pduHeaderLength + body.readerIndex
            do throws(PDUDecodingError) {
                guard let item = try PresentationDataValueItem.read(from: &body) else {
                    throw PDUDecodingError(.invalidItemLength, offset: offset, pduType: PDUType.dataTransfer.rawValue,
                                           "PDV item length runs past the end of the P-DATA-TF PDU (\(body.readableBytes) bytes left)")
                }
                items.append(item)
            } catch {
                var e = error
                e.offset = offset
                e.pduType = PDUType.dataTransfer.rawValue
                throw e
            }
        }
        guard !items.isEmpty else {
            throw PDUDecodingError(.invalidPDULength, offset: pduHeaderLength, pduType: PDUType.dataTransfer.rawValue,
                                   "a P-DATA-TF PDU must hold at least one PDV item")
        }
        return DataTransfer(items: items, reserved: reserved)
    }

    /// Length of the body (the PDU-length field).
    public var bodyLength: Int { items.reduce(0) { $0 + $1.encodedLength } }

    /// Writes the body (after the header); returns bytes written.
    @discardableResult
    public func writeBody(into buffer: inout ByteBuffer) -> Int {
        items.reduce(0) { $0 + $1.write(into: &buffer) }
    }
}
