import DICOMInspect
import DICOMUL

/// Why the proxy itself ended (or refused) an association.
enum RelayCloseReason: Sendable, Hashable, CustomStringConvertible {
    /// No `--route` for the called AE title and no default upstream.
    case noRoute(calledAETitle: String)
    /// The allow-list does not allow the calling AE title (from the SCU's address); the words say why.
    case callingAETitleNotAllowed(String)
    /// The upstream could not be reached (connection refused, no route, timeout).
    case upstreamUnreachable(String)
    /// The upstream did not answer the A-ASSOCIATE-RQ in time.
    case upstreamNotAnswering
    /// The SCU's first PDU was not an A-ASSOCIATE-RQ.
    case unexpectedFirstPDU(PDUType)
    /// A PDU that could not be framed or decoded.
    case malformedPDU(from: PeerRole, String)
    case idle
    case shutdown
    /// With rewriting on, a message towards the SCP could not be rewritten (it is not forwarded).
    case cannotRewrite(String)
    /// `--max-associations` associations were open (the limit): A-ASSOCIATE-RJ 2/3/2.
    case associationLimit(Int)
    /// The connection sent no complete A-ASSOCIATE-RQ: within ARTIM, or before the proxy needed its place.
    case noAssociateRequest(NoAssociateRequest)
    /// With rewriting on, a peer's Maximum Length is below `--min-max-pdu`.
    case maximumLengthTooSmall(UInt32, minimum: UInt32, from: PeerRole)

    /// A connection closed without its A-ASSOCIATE-RQ: from where, after how long, and why then.
    struct NoAssociateRequest: Sendable, Hashable {
        /// `127.0.0.1:40962`.
        var client: String
        /// `30 s`, `4.215 s`.
        var waited: String
        /// Closed to make room for a new connection at this `--max-associations`; nil: ARTIM ran out.
        var makingRoomAt: Int?
    }

    /// The proxy refused the A-ASSOCIATE-RQ itself, before any upstream was chosen.
    var refusedRequest: Bool {
        switch self {
        case .noRoute, .callingAETitleNotAllowed, .associationLimit: return true
        case .maximumLengthTooSmall(_, _, let from): return from == .requestor
        case .upstreamUnreachable, .upstreamNotAnswering, .unexpectedFirstPDU, .malformedPDU, .idle, .shutdown, .cannotRewrite,
             .noAssociateRequest:
            return false
        }
    }

    /// The finding code the proxy reports it with.
    var code: Finding.Code {
        switch self {
        case .noRoute: return .noRoute
        case .callingAETitleNotAllowed: return .callingAETitleNotAllowed
        case .upstreamUnreachable: return .upstreamUnreachable
        case .upstreamNotAnswering: return .upstreamNotAnswering
        case .unexpectedFirstPDU: return .unexpectedFirstPDU
        case .malformedPDU: return .malformedPDU
        case .idle: return .idleTimeout
        case .shutdown: return .shutdownAbort
        case .cannotRewrite: return .cannotRewrite
        case .associationLimit: return .associationLimit
        case .noAssociateRequest: return .noAssociateRequest
        case .maximumLengthTooSmall: return .maximumPDULengthTooSmall
        }
    }

    var description: String {
        switch self {
        case .noRoute(let title): return "no route for called AE title \"\(title)\" and no default upstream"
        case .callingAETitleNotAllowed(let why): return why
        // `why` is the whole sentence (`cannot connect to 127.0.0.1:104: connection refused`, see `SocketFailure`).
        case .upstreamUnreachable(let why): return why
        case .upstreamNotAnswering: return "upstream did not answer the A-ASSOCIATE-RQ in time"
        case .unexpectedFirstPDU(let type): return "the SCU's first PDU is an \(type), not an A-ASSOCIATE-RQ"
        case .malformedPDU(let from, let detail): return "malformed PDU from the \(from): \(detail)"
        case .idle: return "idle timeout"
        case .shutdown: return "proxy shutting down"
        case .cannotRewrite(let detail): return "cannot rewrite: \(detail)"
        case .associationLimit(let limit):
            return "\(limit) association\(limit == 1 ? "" : "s") open, the limit (--max-associations \(limit)): "
                + "refused with A-ASSOCIATE-RJ 2/3/2 (rejected-transient, local-limit-exceeded); the SCU may try again later"
        case .noAssociateRequest(let why):
            let base = "from \(why.client) sent no A-ASSOCIATE-RQ "
            guard let limit = why.makingRoomAt else { return base + "within \(why.waited)" }
            return base + "in \(why.waited); closed to make room for a new connection (--max-associations \(limit) reached)"
        case .maximumLengthTooSmall(let length, let minimum, let from):
            let who = from == .requestor ? "the SCU's A-ASSOCIATE-RQ" : "the upstream SCP's A-ASSOCIATE-AC"
            let effect = from == .requestor ? "responses to the SCU" : "requests to the SCP"
            let what = from == .requestor
                ? "refused with A-ASSOCIATE-RJ 1/1/1 (rejected-permanent, no-reason-given)"
                : "the SCU gets A-ASSOCIATE-RJ 1/1/1 (rejected-permanent, no-reason-given), the SCP an A-ABORT"
            let fix = from == .requestor ? "set the SCU's maximum PDU length (receive)" : "set the SCP's maximum PDU length"
            return "\(who) gives a maximum PDU length of \(length) bytes, below the minimum of \(minimum) with rewriting on: "
                + "\(effect) would be cut into PDUs of at most \(max(Int(length) - 6, 0)) data bytes each; \(what). "
                + "To fix: \(fix) to at least \(minimum) bytes (16384 or more is usual), or lower --min-max-pdu (0: no minimum)"
        }
    }
}
