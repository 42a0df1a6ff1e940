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

    /// The proxy refused the A-ASSOCIATE-RQ itself, before any upstream was chosen.
    var refusedRequest: Bool {
        switch self {
        case .noRoute, .callingAETitleNotAllowed: return true
        case .upstreamUnreachable, .upstreamNotAnswering, .unexpectedFirstPDU, .malformedPDU, .idle, .shutdown, .cannotRewrite:
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
        }
    }
}

/// The life of one relayed association as a pure state machine: the relay handlers feed it
/// events and run the actions it returns (model: postgres-nio `ConnectionStateMachine`).
///
/// The proxy does not terminate the association: it waits for the SCU's A-ASSOCIATE-RQ,
/// checks its calling AE title and the SCU's address against the allow-list, picks the
/// upstream from its called AE title, connects, forwards the RQ, and from then on forwards
/// every PDU unchanged. It speaks itself only to refuse an association (A-ASSOCIATE-RJ,
/// PS3.8 §9.3.4) or to end a broken one (A-ABORT, §9.3.8).
struct RelayStateMachine: Sendable {
    enum State: Sendable, Hashable {
        /// Reading the SCU's first PDU.
        case awaitingAssociateRequest
        /// The A-ASSOCIATE-RQ is held while the upstream connection opens.
        case connecting(ProxyEndpoint)
        /// The A-ASSOCIATE-RQ went upstream; waiting for its AC, RJ or ABORT.
        case awaitingAssociateResponse
        /// Forwarding both ways.
        case relaying
        /// The proxy rejected or aborted; the connections are closing.
        case closing
        /// Both connections are closed (and no upstream connection is still opening).
        case closed
    }

    enum Action: Sendable, Hashable {
        case none
        /// Open the upstream connection; the requestor's reads wait until it is writable.
        case connect(ProxyEndpoint)
        /// Keep the PDU: it goes upstream once the connection is open.
        case hold
        /// Send the PDU to the peer in this role.
        case forward(to: PeerRole)
        /// The upstream is open: send it the held PDUs and start waiting for its answer.
        case sendHeldPDUs
        /// Send the requestor this A-ASSOCIATE-RJ and close; A-ABORT the acceptor too when it is open.
        case reject(AssociateReject, abortAcceptor: Bool, RelayCloseReason)
        /// Send this A-ABORT to every open peer and close both connections.
        case abort(Abort, RelayCloseReason)
        /// The peer in this role gets no more bytes: close the output towards it.
        case closeOutput(PeerRole)
        /// Close the connection to the peer in this role.
        case close(PeerRole)
        /// Close both connections (without a PDU).
        case closeBoth
        /// An upstream connection opened after the association was given up: close it.
        case closeLateUpstream
    }

    private(set) var state: State = .awaitingAssociateRequest
    let routing: RoutingTable
    /// Who may associate (nil: anyone), and where the SCU connected from.
    let allowList: CallingAEAllowList?
    let requestorAddress: IPAddress?
    private(set) var requestorOpen = true
    private(set) var acceptorOpen = false
    private(set) var connectInFlight = false

    init(routing: RoutingTable, allowList: CallingAEAllowList? = nil, requestorAddress: IPAddress? = nil) {
        self.routing = routing
        self.allowList = allowList
        self.requestorAddress = requestorAddress
    }

    /// Both connections are closed and no upstream connection is still opening.
    var isFinished: Bool { state == .closed }

    /// Whether the peer in `role` may be read from now (backpressure is checked by the handler).
    func mayRead(_ role: PeerRole) -> Bool {
        switch state {
        case .awaitingAssociateRequest: return role == .requestor
        case .connecting: return false
        case .awaitingAssociateResponse, .relaying, .closing, .closed: return true
        }
    }

    // MARK: Events

    /// A PDU from the SCU, decoded.
    mutating func requestorSent(_ pdu: PDU) -> Action {
        switch state {
        case .awaitingAssociateRequest:
            guard case .associateRequest(let rq) = pdu else {
                state = .closing
                return .abort(Abort(source: .serviceProvider, reason: .unexpectedPDU), .unexpectedFirstPDU(pdu.type))
            }
            // Before routing: a client not allowed learns nothing about the upstreams.
            if let allowList,
               let refusal = allowList.refusal(callingAETitle: rq.fields.callingAETitle.value, from: requestorAddress) {
                state = .closing
                return .reject(CallingAEAllowList.reject, abortAcceptor: false, .callingAETitleNotAllowed(refusal))
            }
            let called = rq.fields.calledAETitle.value
            guard let upstream = routing.upstream(forCalledAETitle: called) else {
                state = .closing
                return .reject(AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                               reason: AssociateReject.Reason.calledAETitleNotRecognized),
                               abortAcceptor: false, .noRoute(calledAETitle: called))
            }
            state = .connecting(upstream)
            connectInFlight = true
            return .connect(upstream)
        case .connecting:
            return .hold
        case .awaitingAssociateResponse, .relaying:
            return .forward(to: .acceptor)
        case .closing, .closed:
            return .none
        }
    }

    /// A PDU from the upstream, decoded.
    mutating func acceptorSent(_ pdu: PDU) -> Action {
        switch state {
        case .awaitingAssociateResponse:
            state = .relaying
            return .forward(to: .requestor)
        case .relaying:
            return .forward(to: .requestor)
        case .awaitingAssociateRequest, .connecting, .closing, .closed:
            return .none
        }
    }

    /// A PDU that could not be framed or decoded: both peers get an A-ABORT (PS3.8 §9.3.8:
    /// unrecognized-PDU for an unknown type, invalid-PDU-parameter-value otherwise).
    mutating func malformedPDU(from role: PeerRole, unknownType: Bool, detail: String) -> Action {
        switch state {
        case .awaitingAssociateRequest, .connecting, .awaitingAssociateResponse, .relaying:
            state = .closing
            return .abort(Abort(source: .serviceProvider, reason: unknownType ? .unrecognizedPDU : .invalidPDUParameterValue),
                          .malformedPDU(from: role, detail))
        case .closing, .closed:
            return .none
        }
    }

    mutating func upstreamConnected() -> Action {
        connectInFlight = false
        switch state {
        case .connecting:
            acceptorOpen = true
            state = .awaitingAssociateResponse
            return .sendHeldPDUs
        case .awaitingAssociateRequest, .awaitingAssociateResponse, .relaying, .closing, .closed:
            if !requestorOpen { state = .closed }
            return .closeLateUpstream
        }
    }

    mutating func upstreamConnectFailed(_ why: String) -> Action {
        connectInFlight = false
        switch state {
        case .connecting:
            state = .closing
            return .reject(Self.temporaryCongestion, abortAcceptor: false, .upstreamUnreachable(why))
        case .awaitingAssociateRequest, .awaitingAssociateResponse, .relaying, .closing, .closed:
            if !requestorOpen && !acceptorOpen { state = .closed }
            return .none
        }
    }

    /// `connectTimeout` after the A-ASSOCIATE-RQ arrived.
    mutating func associationResponseTimedOut() -> Action {
        switch state {
        case .connecting:
            state = .closing
            return .reject(Self.temporaryCongestion, abortAcceptor: false, .upstreamNotAnswering)
        case .awaitingAssociateResponse:
            state = .closing
            return .reject(Self.temporaryCongestion, abortAcceptor: true, .upstreamNotAnswering)
        case .awaitingAssociateRequest, .relaying, .closing, .closed:
            return .none
        }
    }

    mutating func idleTimedOut() -> Action {
        abortOpenAssociation(.idle)
    }

    mutating func shutdownGraceExpired() -> Action {
        abortOpenAssociation(.shutdown)
    }

    /// With rewriting on, a message towards the SCP cannot be rewritten: it is dropped and both peers get an A-ABORT.
    mutating func cannotRewrite(_ detail: String) -> Action {
        abortOpenAssociation(.cannotRewrite(detail))
    }

    private mutating func abortOpenAssociation(_ reason: RelayCloseReason) -> Action {
        switch state {
        case .awaitingAssociateRequest, .awaitingAssociateResponse, .relaying, .connecting:
            state = .closing
            return .abort(Abort(source: .serviceProvider, reason: .notSpecified), reason)
        case .closing:
            return .closeBoth
        case .closed:
            return .none
        }
    }

    /// The peer in `role` closed its side of the connection (TCP FIN).
    mutating func inputClosed(_ role: PeerRole) -> Action {
        switch state {
        case .awaitingAssociateResponse, .relaying:
            // Half-close: the other peer may still answer (model: swift-nio-ssh GlueHandler).
            return (role == .requestor ? acceptorOpen : requestorOpen) ? .closeOutput(role.other) : .close(role)
        case .awaitingAssociateRequest, .connecting:
            state = .closing
            return .closeBoth
        case .closing, .closed:
            return .none
        }
    }

    /// The connection to the peer in `role` is gone.
    mutating func channelClosed(_ role: PeerRole) -> Action {
        switch role {
        case .requestor: requestorOpen = false
        case .acceptor: acceptorOpen = false
        }
        let otherOpen = role == .requestor ? acceptorOpen : requestorOpen
        if !otherOpen && !connectInFlight {
            state = .closed
            return .none
        }
        switch state {
        case .closing, .closed:
            // The proxy is closing the other side already (after its A-ABORT or A-ASSOCIATE-RJ is written).
            return .none
        case .awaitingAssociateRequest, .connecting, .awaitingAssociateResponse, .relaying:
            // The peer went away: close the other side cleanly.
            state = .closing
            return otherOpen ? .close(role.other) : .none
        }
    }

    // MARK: Codes

    /// A-ASSOCIATE-RJ rejected-transient, service-provider (Presentation), temporary-congestion (PS3.8 Table 9-21).
    static let temporaryCongestion = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation,
                                                     reason: AssociateReject.Reason.temporaryCongestion)
}
