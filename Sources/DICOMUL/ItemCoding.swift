import DICOMCore
import NIOCore

/// Shared reading and writing of the 4-byte item header (type, reserved, 16-bit length:
/// PS3.8 §9.3.2.1ff.) used by every item and sub-item file.
struct ItemHeader {
    var type: UInt8
    /// Byte 1: reserved, except in item 0x57 where it is the sub-item version.
    var reserved: UInt8
    var length: Int

    static let size = 4
}

extension ByteBuffer {
    /// Reads an item header and slices its body; rolls back and throws if the body overruns.
    /// `base` turns buffer indices into offsets from the PDU start. `container` is only built
    /// for an error (this runs for every item and sub-item of every A-ASSOCIATE).
    mutating func readItem(base: Int, pduType: PDUType,
                           container: @autoclosure () -> String) throws(PDUDecodingError) -> (ItemHeader, ByteBuffer) {
        let start = readerIndex
        guard readableBytes >= ItemHeader.size,
              let type = getInteger(at: start, as: UInt8.self),
              let reserved = getInteger(at: start + 1, as: UInt8.self),
              let length = getInteger(at: start + 2, as: UInt16.self) else {
            throw PDUDecodingError(.truncated, offset: base + start, pduType: pduType.rawValue,
                                   "\(readableBytes) bytes left in \(container()), an item header needs 4")
        }
        guard Int(length) <= readableBytes - ItemHeader.size else {
            throw PDUDecodingError(.invalidItemLength, offset: base + start, pduType: pduType.rawValue,
                                   "item 0x\(hex2(type)) length \(length) runs past the end of \(container()) (\(readableBytes - 4) bytes left)")
        }
        moveReaderIndex(forwardBy: ItemHeader.size)
        let body = readSlice(length: Int(length)) ?? ByteBuffer()
        return (ItemHeader(type: type, reserved: reserved, length: Int(length)), body)
    }

    /// Writes an item: header, then the body written by `body`, then patches the length.
    @discardableResult
    mutating func writeItem(type: UInt8, reserved: UInt8 = 0, _ body: (inout ByteBuffer) -> Void) -> Int {
        let start = writerIndex
        writeInteger(type)
        writeInteger(reserved)
        writeInteger(UInt16(0))
        body(&self)
        setInteger(UInt16(truncatingIfNeeded: writerIndex - start - ItemHeader.size), at: start + 2)
        return writerIndex - start
    }

    /// Reads a 16-bit length and that many bytes (sub-item fields such as UIDs in 0x54, 0x56, 0x57, 0x58).
    mutating func readLengthPrefixed(base: Int, pduType: PDUType, field: String) throws(PDUDecodingError) -> [UInt8] {
        let start = readerIndex
        guard let length = readInteger(as: UInt16.self) else {
            throw PDUDecodingError(.truncated, offset: base + start, pduType: pduType.rawValue, "\(field): length field missing")
        }
        guard let bytes = readBytes(length: Int(length)) else {
            moveReaderIndex(to: start)
            throw PDUDecodingError(.invalidItemLength, offset: base + start, pduType: pduType.rawValue,
                                   "\(field): length \(length) runs past the end of its item (\(readableBytes - 2) bytes left)")
        }
        return bytes
    }

    mutating func writeLengthPrefixed(_ bytes: [UInt8]) {
        writeInteger(UInt16(truncatingIfNeeded: bytes.count))
        writeBytes(bytes)
    }
}

/// An item or sub-item of a type this decoder does not know (or that does not belong where
/// it was found): kept whole and re-emitted unchanged.
public struct UnknownItem: Sendable, Hashable {
    public var type: UInt8
    public var reserved: UInt8
    public var body: [UInt8]

    public init(type: UInt8, reserved: UInt8 = 0, body: [UInt8]) {
        self.type = type
        self.reserved = reserved
        self.body = body
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: type, reserved: reserved) { $0.writeBytes(body) }
    }
}
