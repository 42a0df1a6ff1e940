import DICOMCore
@testable import DICOMInspect
import DICOMUL
import NIOCore

/// PDU framing and the association observer on one association's two byte streams.
///
/// Input: records. A record's first byte `h`: bit 0 is the sender (requestor, acceptor); `h >> 1`
/// is the chunk's length, 1 to 125, or 0 for a two-byte little-endian length after it; 126 is a
/// gap in that sender's stream (next byte + 1 bytes lost), 127 the next chunk's time one second
/// later. The observer's configuration comes from the first byte of the input.
///
/// Each chunk goes to `PDUFrameDecoder` through a `NIOSingleStepByteToMessageProcessor` (the way
/// capture streams are framed) and to an `AssociationObserver` (which frames with the same decoder).
/// Oracles:
/// - every PDU the framer delivers that `PDUDecoder` decodes re-encodes to bytes that decode to an
///   equal PDU;
/// - the observer's memory bound (issue 13), after every chunk: at most `maximumFindings` findings
///   plus the `findings-truncated` one, at most `maximumOpenRequests` open requests and open
///   exchanges, no ended exchange kept, at most one message in progress per presentation context
///   and sender; and at the end, once the connection closed, nothing open.
enum StreamHarness {
    static let maximumFindings = 16
    static let maximumOpenRequests = 4

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var input = FuzzInput(data)
        let flags = input.byte()
        var configuration = AssociationObserver.Configuration()
        configuration.maximumFindings = maximumFindings
        configuration.maximumOpenRequests = maximumOpenRequests
        configuration.maximumPDULength = flags & 1 == 0 ? 1 << 16 : 1 << 10
        configuration.decodesDataSets = flags & 2 == 0
        configuration.bulkThreshold = flags & 4 == 0 ? 1 << 16 : 8
        configuration.keptDataSetLength = flags & 8 == 0 ? 1 << 16 : 16
        configuration.emitsEvents = flags & 16 == 0
        configuration.keepsAssociationPDUs = flags & 32 != 0
        var observer = AssociationObserver(configuration: configuration)
        let processors = [NIOSingleStepByteToMessageProcessor(PDUFrameDecoder(maximumPDULength: configuration.maximumPDULength)),
                          NIOSingleStepByteToMessageProcessor(PDUFrameDecoder(maximumPDULength: configuration.maximumPDULength))]
        var framingFailed = [false, false]
        var streamOffsets = [0, 0]
        var seconds: Int64 = 1

        while !input.isEmpty {
            let h = input.byte()
            let side = Int(h & 1)
            let sender: PeerRole = side == 0 ? .requestor : .acceptor
            let time = Timestamp(nanoseconds: seconds * 1_000_000_000)
            var length = Int(h >> 1)
            switch length {
            case 127:
                seconds += 1
                continue
            case 126:
                let lost = Int(input.byte()) + 1
                consume(observer.gap(from: sender, length: lost, streamOffset: streamOffsets[side], at: time))
                streamOffsets[side] += lost
                framingFailed[side] = true  // the standalone framer cannot resume inside a stream
                checkBound(observer)
                continue
            case 0:
                length = input.uint16()
            default:
                break
            }
            let chunk = ByteBuffer(bytes: input.take(length))
            streamOffsets[side] += chunk.readableBytes
            if !framingFailed[side] {
                do {
                    try processors[side].process(buffer: chunk) { frame in checkRoundTrip(frame) }
                } catch {
                    framingFailed[side] = true
                }
            }
            consume(observer.receive(chunk, from: sender, at: time))
            checkBound(observer)
        }
        consume(observer.connectionClosed(at: Timestamp(nanoseconds: (seconds + 1) * 1_000_000_000), captureEnded: flags & 64 != 0))
        checkBound(observer)
        let open = observer.exchangeTracker.openCounts
        if open.requests != 0 || open.exchanges != 0 {
            oracleFailure("after the connection closed, \(open.requests) requests and \(open.exchanges) exchanges are still open")
        }
        if PeerRole.allCases.contains(where: { !observer.inProgress[$0].isEmpty }) {
            oracleFailure("after the connection closed, messages are still in progress")
        }
    }

    /// What a consumer does with the events: look at every message's data set (decoding a deferred one).
    static func consume(_ events: [ObservationEvent]) {
        for event in events {
            switch event {
            case .message(let message, _):
                _ = message.dataSet?.count
            case .exchangeEnded(let exchange):
                _ = exchange.responses.count
            case .pdu, .finding:
                break
            }
        }
    }

    static func checkRoundTrip(_ frame: PDUFrame) {
        guard let pdu = try? PDUDecoder.decode(frame) else { return }
        let bytes = pdu.encoded()
        var copy = bytes
        var framer = PDUFrameDecoder(maximumPDULength: .max)
        guard let again = try? framer.decodeFrame(buffer: &copy), copy.readableBytes == 0 else {
            oracleFailure("a decoded \(frame.type) PDU re-encodes to \(bytes.readableBytes) bytes that do not frame as one PDU")
        }
        guard let decoded = try? PDUDecoder.decode(again) else {
            oracleFailure("a decoded \(frame.type) PDU re-encodes to bytes that do not decode")
        }
        if decoded != pdu { oracleFailure("a decoded \(frame.type) PDU re-encodes to bytes that decode to a different PDU") }
    }

    static func checkBound(_ observer: AssociationObserver) {
        if observer.findings.count > maximumFindings + 1 {
            oracleFailure("\(observer.findings.count) findings kept; the limit is \(maximumFindings) and one findings-truncated")
        }
        let open = observer.exchangeTracker.openCounts
        if open.requests > maximumOpenRequests || open.exchanges > maximumOpenRequests {
            oracleFailure("\(open.requests) open requests, \(open.exchanges) open exchanges; the limit is \(maximumOpenRequests)")
        }
        if !observer.exchanges.isEmpty {
            oracleFailure("\(observer.exchanges.count) ended exchanges kept without keepsExchanges")
        }
        for role in PeerRole.allCases {
            let inProgress = observer.inProgress[role]
            if Set(inProgress.map(\.contextID)).count != inProgress.count {
                oracleFailure("two messages in progress on one presentation context from the \(role)")
            }
        }
    }

    /// Every capture's association as the PDUs each side sent, one record per PDU.
    static func seeds(root: String) throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for stream in try SeedSources.streams(root: root) {
            var seed: [UInt8] = [0]
            for (sender, bytes) in stream {
                for piece in stride(from: 0, to: bytes.count, by: 65_535) {
                    let chunk = bytes[piece..<min(bytes.count, piece + 65_535)]
                    seed.append(sender == .requestor ? 0 : 1)
                    seed.append(UInt8(chunk.count & 0xFF))
                    seed.append(UInt8(chunk.count >> 8))
                    seed.append(contentsOf: chunk)
                }
            }
            seeds.append(seed)
        }
        return seeds
    }
}
