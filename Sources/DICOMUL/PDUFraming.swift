import DICOMCore
import NIOCore

/// Frames PDUs from a byte stream fed in arbitrary pieces (PS3.8 §9.3.1): reads the 6-byte
/// header, rejects an unknown type or a length over `maximumPDULength` as soon as the
/// header is in (before buffering the body), then slices exactly one PDU; it never reads
/// past a PDU. Used in a channel (`ByteToMessageHandler`) by the proxy and our SCU/SCP, and
/// outside one (`NIOSingleStepByteToMessageProcessor`) by the capture analyzer.
/// Model: postgres-nio `PostgresBackendMessageDecoder`, swift-nio `WebSocketFrameDecoder`.
public struct PDUFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = PDUFrame

    /// The largest PDU body (PDU-length field) accepted. Peers negotiate their max length for
    /// P-DATA-TF; association PDUs are small. The default bounds memory per connection.
    public var maximumPDULength: Int
    /// Bytes of the stream consumed so far: the offset of the next PDU.
    public private(set) var streamOffset: Int = 0

    public static let defaultMaximumPDULength = 16 << 20

    public init(maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength) {
        self.maximumPDULength = maximumPDULength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> PDUFrame? {
        try decodeFrame(buffer: &buffer)
    }

    /// Typed-throwing form of `decode(buffer:)`.
    public mutating func decodeFrame(buffer: inout ByteBuffer) throws(PDUDecodingError) -> PDUFrame? {
        let start = buffer.readerIndex
        guard let typeByte = buffer.getInteger(at: start, as: UInt8.self),
              let reserved = buffer.getInteger(at: start + 1, as: UInt8.self),
              let length = buffer.getInteger(at: start + 2, as: UInt32.self) else { return nil }
        guard let type = PDUType(rawValue: typeByte) else {
            throw PDUDecodingError(.unknownPDUType, offset: streamOffset, pduType: typeByte,
                                   "byte 0x\(hex2(typeByte)) is not a PDU type (0x01–0x07)",
                                   rawBytes: buffer.getSlice(at: start, length: min(buffer.readableBytes, 64)))
        }
        guard Int(length) <= maximumPDULength else {
            throw PDUDecodingError(.pduTooLarge, offset: streamOffset, pduType: typeByte,
                                   "PDU length \(length) exceeds the limit of \(maximumPDULength) bytes",
                                   rawBytes: buffer.getSlice(at: start, length: min(buffer.readableBytes, 64)))
        }
        guard buffer.readableBytes - pduHeaderLength >= Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: pduHeaderLength)
        let body = buffer.readSlice(length: Int(length)) ?? ByteBuffer()
        let frame = PDUFrame(type: type, reserved: reserved, body: body, streamOffset: streamOffset)
        streamOffset += pduHeaderLength + Int(length)
        return frame
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> PDUFrame? {
        if let frame = try decodeFrame(buffer: &buffer) { return frame }
        if seenEOF && buffer.readableBytes > 0 {
            throw PDUDecodingError(.truncated, offset: streamOffset, pduType: buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
                                   "the stream ended \(buffer.readableBytes) bytes into a PDU",
                                   rawBytes: buffer.getSlice(at: buffer.readerIndex, length: min(buffer.readableBytes, 64)))
        }
        return nil
    }
}

/// Frames and decodes PDUs: `PDUFrameDecoder` followed by `PDU(frame:)`. Errors carry the
/// offset in the stream and the PDU's raw bytes.
public struct PDUDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = PDU

    public var framer: PDUFrameDecoder

    public init(maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength) {
        framer = PDUFrameDecoder(maximumPDULength: maximumPDULength)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> PDU? {
        guard let frame = try framer.decodeFrame(buffer: &buffer) else { return nil }
        return try PDUDecoder.decode(frame)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> PDU? {
        guard let frame = try framer.decodeLast(buffer: &buffer, seenEOF: seenEOF) else { return nil }
        return try PDUDecoder.decode(frame)
    }

    /// Decodes a frame; error offsets become offsets in the stream.
    public static func decode(_ frame: PDUFrame) throws(PDUDecodingError) -> PDU {
        do throws(PDUDecodingError) {
            return try PDU(frame: frame)
        } catch {
            var e = error
            e.offset += frame.streamOffset
            throw e
        }
    }
}

/// Encodes PDUs onto a channel (`MessageToByteHandler`).
public struct PDUEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = PDU
    public init() {}
    public func encode(data: PDU, out: inout ByteBuffer) throws {
        data.write(into: &out)
    }
}
