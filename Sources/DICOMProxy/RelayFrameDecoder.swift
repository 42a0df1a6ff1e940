import DICOMUL
import NIOCore

/// What the relay's framer hands on from one peer's byte stream.
enum RelayInput: Sendable, Hashable {
    /// One complete PDU: its frame (header fields and body) and its exact bytes on the wire,
    /// a slice of the bytes read (no copy).
    case pdu(PDUFrame, bytes: ByteBuffer)
    /// The peer closed its side of the connection in the middle of a PDU: what it had sent of it.
    case truncated(ByteBuffer)
}

/// Frames one peer's stream with the shared `PDUFrameDecoder` (so an unknown PDU type or a
/// PDU over the length bound fails as soon as its header is in), and keeps each PDU's exact
/// bytes for forwarding. Runs in a `ByteToMessageHandler` on each side of the relay.
struct RelayFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RelayInput

    private var framer: PDUFrameDecoder

    init(maximumPDULength: Int) {
        framer = PDUFrameDecoder(maximumPDULength: maximumPDULength)
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> RelayInput? {
        let start = buffer.readerIndex
        guard let frame = try framer.decodeFrame(buffer: &buffer) else { return nil }
        guard let bytes = buffer.getSlice(at: start, length: buffer.readerIndex - start) else {
            return .pdu(frame, bytes: frame.encoded())
        }
        return .pdu(frame, bytes: bytes)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RelayInput? {
        if let input = try decode(buffer: &buffer) { return input }
        // A stream that ends inside a PDU is the peer going away, not a malformed PDU.
        guard seenEOF, buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) else { return nil }
        return .truncated(rest)
    }
}
