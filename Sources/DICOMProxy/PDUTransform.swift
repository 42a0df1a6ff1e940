import DICOMInspect
import DICOMRewrite
import DICOMUL
import NIOCore

/// A PDU as the observer sees it: decoded, its body length and its offset in its sender's stream.
struct ObservedPDU {
    var pdu: PDU
    var bodyLength: Int
    var streamOffset: Int
}

/// What the relay does to each PDU on its way from one peer to the other: nothing (the
/// identity: the PDU's own bytes go on), or, with rewriting on, the association's
/// `AssociationRewriter` (AE titles, data sets; P-DATA goes on once a message is complete).
/// The state machine always sees the PDU as the peer sent it; the observer sees the upstream
/// leg: what the SCP sent and what it was sent. A value type fed the PDUs in order; it knows
/// nothing of channels.
struct PDUTransform {
    /// One PDU transformed.
    struct Output {
        /// The bytes for the other peer, in order (none while a message is held).
        var outgoing: [ByteBuffer]
        /// What the observer is to see of it.
        var observed: [ObservedPDU]
        /// With rewriting on, for a P-DATA-TF: the rewriter's notes, problems, failure and new pseudonyms.
        var rewrite: AssociationRewriter.DataResult?
    }

    /// Nil: the identity.
    private var rewriter: AssociationRewriter?
    /// With rewriting on: bytes sent to the SCP so far (the stream offsets of the PDUs the proxy re-encoded).
    private var sentToAcceptor = 0

    /// `rewriter` nil: the identity, every PDU relayed byte for byte.
    init(rewriter: AssociationRewriter?) {
        self.rewriter = rewriter
    }

    var rewrites: Bool { rewriter != nil }

    /// `pdu`, decoded from `frame`, whose bytes on the wire are `bytes`, sent by the peer in `role`.
    mutating func apply(_ pdu: PDU, frame: PDUFrame, bytes: ByteBuffer, from role: PeerRole) -> Output {
        var output = Output(outgoing: [bytes], observed: [ObservedPDU(pdu: pdu, bodyLength: frame.body.readableBytes,
                                                                      streamOffset: frame.streamOffset)])
        // Taken out of `self` while it is used, so that the message bytes it gathers are uniquely
        // referenced and appended to in place (a copy per PDU would make assembly quadratic).
        guard var rewriter = self.rewriter else { return output }
        self.rewriter = nil
        defer { self.rewriter = rewriter }
        switch pdu {
        case .associateRequest(let request) where role == .requestor:
            let rewritten = rewriter.associateRequest(request)
            if rewritten != request {
                let newPDU = PDU.associateRequest(rewritten)
                let encoded = newPDU.encoded()
                output.outgoing = [encoded]
                output.observed = [ObservedPDU(pdu: newPDU, bodyLength: encoded.readableBytes - pduHeaderLength, streamOffset: 0)]
            }
        case .associateAccept(let accept) where role == .acceptor:
            let restored = rewriter.associateAccept(accept)
            if restored != accept { output.outgoing = [PDU.associateAccept(restored).encoded()] }
        case .dataTransfer(let data):
            let result = rewriter.dataTransfer(data, from: role)
            output.rewrite = result
            // Nothing of a message that cannot be rewritten goes on.
            if result.failure != nil { return output }
            output.outgoing = []
            for pdu in result.pdus { Self.appendPieces(of: pdu, to: &output.outgoing) }
            // Towards the SCP the upstream leg carries the rewritten PDUs; from it, what the SCP sent.
            if role == .requestor {
                output.observed = result.pdus.map { ObservedPDU(pdu: .dataTransfer($0), bodyLength: $0.bodyLength, streamOffset: 0) }
            }
        default:
            break
        }
        // The proxy's own PDUs to the SCP are at their offsets in what it sent.
        if role == .requestor {
            for index in output.observed.indices {
                output.observed[index].streamOffset = sentToAcceptor
                sentToAcceptor += pduHeaderLength + output.observed[index].bodyLength
            }
        }
        return output
    }

    /// Fragments of at least this many bytes are written as they are (after their headers), not copied.
    private static let copyLimit = 4096

    /// The bytes of a P-DATA-TF as buffers to write in order: the PDU and PDV headers, and each
    /// large fragment's own bytes (a slice of what was received or rewritten: no copy).
    static func appendPieces(of pdu: DataTransfer, to out: inout [ByteBuffer]) {
        var headers = ByteBuffer()
        headers.reserveCapacity(pduHeaderLength + 6 + min(pdu.bodyLength, copyLimit))
        headers.writeInteger(PDUType.dataTransfer.rawValue)
        headers.writeInteger(pdu.reserved)
        headers.writeInteger(UInt32(pdu.bodyLength))
        for item in pdu.items {
            headers.writeInteger(UInt32(item.itemLength))
            headers.writeInteger(item.presentationContextID)
            headers.writeInteger(item.messageControlHeader.rawValue)
            var fragment = item.fragment
            if fragment.readableBytes < copyLimit {
                headers.writeBuffer(&fragment)
            } else {
                out.append(headers)
                out.append(fragment)
                headers = ByteBuffer()
            }
        }
        if headers.readableBytes > 0 { out.append(headers) }
    }
}
