import DICOMInspect
import DICOMUL

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
        /// Close the SCU's connection without a PDU, for this reason (no A-ASSOCIATE-RQ: PS3.8 ARTIM, AA-2).
        case closeRequestor(RelayCloseReason)
    }

    private(set) var state: State = .awaitingAssociateRequest
    let routing: RoutingTable
    /// Who may associate (nil: anyone), and where the SCU connected from.
    let allowList: CallingAEAllowList?
    let requestorAddress: IPAddress?
    private(set) var requestorOpen = true
    private(set) var acceptorOpen = false
    private(set) var connectInFlight = false
    /// The connection came past `--max-associations` (this limit): its A-ASSOCIATE-RQ is refused with
    /// A-ASSOCIATE-RJ 2/3/2. nil: a connection within the limit.
    let overLimit: Int?
    /// With rewriting on, the smallest Maximum Length either peer may advertise (0: none is checked).
    let minimumMaximumLength: UInt32

    init(routing: RoutingTable, allowList: CallingAEAllowList? = nil, requestorAddress: IPAddress? = nil,
         overLimit: Int? = nil, minimumMaximumLength: UInt32 = 0) {
        self.routing = routing
        self.allowList = allowList
        self.requestorAddress = requestorAddress
        self.overLimit = overLimit
        self.minimumMaximumLength = minimumMaximumLength
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
            if let overLimit {
                state = .closing
                return .reject(Self.localLimitExceeded, abortAcceptor: false, .associationLimit(overLimit))
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
            if let length = tooSmall(rq.fields.maximumLength) {
                state = .closing
                return .reject(Self.noReasonGiven, abortAcceptor: false,
                               .maximumLengthTooSmall(length, minimum: minimumMaximumLength, from: .requestor))
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
            // The SCP's Maximum Length binds what the rewriting proxy sends it.
            if case .associateAccept(let ac) = pdu, let length = tooSmall(ac.fields.maximumLength) {
                state = .closing
                return .reject(Self.noReasonGiven, abortAcceptor: true,
                               .maximumLengthTooSmall(length, minimum: minimumMaximumLength, from: .acceptor))
            }
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

    /// A Maximum Length below the minimum (0, unlimited, and an absent one are never too small).
    private func tooSmall(_ length: UInt32?) -> UInt32? {
        guard minimumMaximumLength > 0, let length, length > 0, length < minimumMaximumLength else { return nil }
        return length
    }

    /// No complete A-ASSOCIATE-RQ: ARTIM ran out, or the proxy at its limit needs the place (`reason` says which).
    /// The connection is closed (PS3.8 AA-2); one past the limit gets its A-ASSOCIATE-RJ 2/3/2 first.
    mutating func noAssociateRequest(_ reason: RelayCloseReason) -> Action {
        guard state == .awaitingAssociateRequest else { return .none }
        state = .closing
        if overLimit != nil { return .reject(Self.localLimitExceeded, abortAcceptor: false, reason) }
        return .closeRequestor(reason)
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
    /// A-ASSOCIATE-RJ rejected-transient, service-provider (Presentation), local-limit-exceeded (PS3.8 Table 9-21).
    static let localLimitExceeded = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation,
                                                    reason: AssociateReject.Reason.localLimitExceeded)
    /// A-ASSOCIATE-RJ rejected-permanent, service-user, no-reason-given (PS3.8 Table 9-21).
    static let noReasonGiven = AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                               reason: AssociateReject.Reason.noReasonGiven)
}
