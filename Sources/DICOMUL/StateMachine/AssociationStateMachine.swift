/// The DICOM Upper Layer protocol state machine of PS3.8 §9.2, for one transport connection,
/// as a pure value (model: postgres-nio `ConnectionStateMachine`).
///
/// The machine does no I/O, owns no timer and holds no PDU. A channel handler feeds it every
/// event of PS3.8 §9.2.3 (Table 9-10's rows: service-user primitives, PDUs received, transport
/// notifications, ARTIM expiry) and executes the ``Action``s it returns, in order. The handler
/// supplies the payloads: for `.sendPDU(.dataTransfer)` it sends the P-DATA request it just fed as
/// ``Event/dataRequest``, for `.issueIndication(.data)` it passes up the P-DATA-TF PDU it just fed as
/// ``Event/dataTransferPDUReceived``, and so on.
///
/// Two layers, exactly as the standard writes it:
/// - ``protocolAction(for:in:)`` is Table 9-10: which action (AE-1 … AA-8) an event triggers in a
///   state, or `nil` for a blank cell.
/// - ``handle(_:)`` performs that action as Tables 9-6 to 9-9 define it: next state and side effects.
///
/// A blank cell of Table 9-10 leaves the state unchanged. If the event was a local primitive
/// (Evt1, 7, 8, 9, 11, 14, 15) the machine returns ``Action/rejectPrimitive(_:state:)`` so the
/// handler can fail that request; a blank-cell transport, timer or PDU notification (e.g. the
/// transport-closed indication that follows AR-3's own close, or a stale ARTIM expiry) returns no
/// action. The machine never traps.
///
/// ```swift
/// var machine = AssociationStateMachine()
/// machine.handle(.associateRequest)              // Sta4: [.connectTransport]
/// machine.handle(.transportConnectConfirmation)  // Sta5: [.sendPDU(.associateRequest)]
/// machine.handle(.associateAcceptPDUReceived)    // Sta6: [.issueConfirmation(.associateAccepted)]
/// ```
public struct AssociationStateMachine: Sendable {

    // MARK: States (PS3.8 §9.2.1, Tables 9-1 to 9-5)

    /// The thirteen states of PS3.8 §9.2.1 (Tables 9-1 to 9-5).
    public enum State: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Sta1 — Idle (Table 9-1, no association).
        case sta1
        /// Sta2 — Transport connection open, awaiting the A-ASSOCIATE-RQ PDU (Table 9-2; acceptor side).
        case sta2
        /// Sta3 — Awaiting the local A-ASSOCIATE response primitive from the local user (Table 9-2; acceptor side).
        case sta3
        /// Sta4 — Awaiting the transport connection opening to complete, from the local transport service
        /// (Table 9-2; requestor side).
        case sta4
        /// Sta5 — Awaiting the A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU (Table 9-2; requestor side).
        case sta5
        /// Sta6 — Association established and ready for data transfer (Table 9-3).
        case sta6
        /// Sta7 — Awaiting the A-RELEASE-RP PDU (Table 9-4).
        case sta7
        /// Sta8 — Awaiting the local A-RELEASE response primitive from the local user (Table 9-4).
        case sta8
        /// Sta9 — Release collision, requestor side; awaiting the A-RELEASE response from the local user (Table 9-4).
        case sta9
        /// Sta10 — Release collision, acceptor side; awaiting the A-RELEASE-RP PDU (Table 9-4).
        case sta10
        /// Sta11 — Release collision, requestor side; awaiting the A-RELEASE-RP PDU (Table 9-4).
        case sta11
        /// Sta12 — Release collision, acceptor side; awaiting the A-RELEASE response primitive from the
        /// local user (Table 9-4).
        case sta12
        /// Sta13 — Awaiting the transport connection close indication; the association no longer exists
        /// (Table 9-5).
        case sta13

        /// The state's number in the standard, 1 to 13.
        public var number: Int {
            switch self {
            case .sta1: 1
            case .sta2: 2
            case .sta3: 3
            case .sta4: 4
            case .sta5: 5
            case .sta6: 6
            case .sta7: 7
            case .sta8: 8
            case .sta9: 9
            case .sta10: 10
            case .sta11: 11
            case .sta12: 12
            case .sta13: 13
            }
        }

        /// `"Sta1"` … `"Sta13"`, as the standard names them.
        public var description: String { "Sta\(number)" }

        /// The state's definition from Tables 9-1 to 9-5.
        public var definition: String {
            switch self {
            case .sta1: "Idle"
            case .sta2: "Transport connection open (awaiting A-ASSOCIATE-RQ PDU)"
            case .sta3: "Awaiting local A-ASSOCIATE response primitive (from local user)"
            case .sta4: "Awaiting transport connection opening to complete (from local transport service)"
            case .sta5: "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU"
            case .sta6: "Association established and ready for data transfer"
            case .sta7: "Awaiting A-RELEASE-RP PDU"
            case .sta8: "Awaiting local A-RELEASE response primitive (from local user)"
            case .sta9: "Release collision requestor side; awaiting A-RELEASE response (from local user)"
            case .sta10: "Release collision acceptor side; awaiting A-RELEASE-RP PDU"
            case .sta11: "Release collision requestor side; awaiting A-RELEASE-RP PDU"
            case .sta12: "Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)"
            case .sta13: "Awaiting transport connection close indication (association no longer exists)"
            }
        }
    }

    /// Which end of the association this machine is. It decides AR-8's next state in a release
    /// collision (Sta9 for the association-requestor, Sta10 otherwise; PS3.8 Table 9-8).
    public enum Role: Sendable, Hashable, CaseIterable {
        /// The association-requestor: the machine left Sta1 through Evt1 (A-ASSOCIATE request primitive).
        case requestor
        /// The association-acceptor: the machine left Sta1 through Evt5 (transport connection indication).
        case acceptor
    }

    // MARK: Events (PS3.8 §9.2.3, Table 9-10 rows)

    /// The nineteen events of PS3.8 §9.2.3, Table 9-10. Events carry no PDU: only the few facts the
    /// table's actions branch on (AE-6, AA-3) or put into the A-ABORT PDU they send (AA-7, AA-8).
    public enum Event: Sendable, Hashable, CustomStringConvertible {
        /// Evt1 — A-ASSOCIATE request primitive from the local user. Makes the machine the requestor.
        case associateRequest
        /// Evt2 — Transport connect confirmation from the local transport service (TCP connect completed).
        case transportConnectConfirmation
        /// Evt3 — A-ASSOCIATE-AC PDU received on the transport connection.
        case associateAcceptPDUReceived
        /// Evt4 — A-ASSOCIATE-RJ PDU received on the transport connection.
        case associateRejectPDUReceived
        /// Evt5 — Transport connection indication from the local transport service (TCP connection
        /// accepted). Makes the machine the acceptor.
        case transportConnectionIndication
        /// Evt6 — A-ASSOCIATE-RQ PDU received on the transport connection.
        ///
        /// `acceptable` is the service-provider's own check of AE-6 (e.g. the protocol version, PS3.8
        /// §9.3.2): if `false`, AE-6 sends an A-ASSOCIATE-RJ PDU (service-provider source) itself
        /// instead of issuing the A-ASSOCIATE indication. The service-user's accept or reject decision is
        /// a later, separate event: Evt7 or Evt8.
        case associateRequestPDUReceived(acceptable: Bool)
        /// Evt7 — A-ASSOCIATE response primitive (accept) from the local user.
        case associateResponseAccept
        /// Evt8 — A-ASSOCIATE response primitive (reject) from the local user.
        case associateResponseReject
        /// Evt9 — P-DATA request primitive from the local user.
        case dataRequest
        /// Evt10 — P-DATA-TF PDU received on the transport connection.
        case dataTransferPDUReceived
        /// Evt11 — A-RELEASE request primitive from the local user.
        case releaseRequest
        /// Evt12 — A-RELEASE-RQ PDU received on the transport connection.
        case releaseRequestPDUReceived
        /// Evt13 — A-RELEASE-RP PDU received on the transport connection.
        case releaseResponsePDUReceived
        /// Evt14 — A-RELEASE response primitive from the local user.
        case releaseResponse
        /// Evt15 — A-ABORT request primitive from the local user.
        case abortRequest
        /// Evt16 — A-ABORT PDU received on the transport connection, with its Source field (PS3.8
        /// §9.3.8): AA-3 issues an A-ABORT indication for a service-user abort and an A-P-ABORT
        /// indication for a service-provider abort.
        case abortPDUReceived(source: AbortSource)
        /// Evt17 — Transport connection closed indication from the local transport service (the peer
        /// closed, the network failed, or a connect attempt failed).
        case transportConnectionClosed
        /// Evt18 — ARTIM timer expired (association request/reject/release timer, PS3.8 §9.1.5).
        case artimTimerExpired
        /// Evt19 — Unrecognized or invalid PDU received, with the reason the decoder found; AA-7 and
        /// AA-8 send it in their A-ABORT PDU.
        case invalidPDUReceived(reason: ProviderAbortReason)

        /// The event's number in Table 9-10, 1 to 19.
        public var number: Int {
            switch self {
            case .associateRequest: 1
            case .transportConnectConfirmation: 2
            case .associateAcceptPDUReceived: 3
            case .associateRejectPDUReceived: 4
            case .transportConnectionIndication: 5
            case .associateRequestPDUReceived: 6
            case .associateResponseAccept: 7
            case .associateResponseReject: 8
            case .dataRequest: 9
            case .dataTransferPDUReceived: 10
            case .releaseRequest: 11
            case .releaseRequestPDUReceived: 12
            case .releaseResponsePDUReceived: 13
            case .releaseResponse: 14
            case .abortRequest: 15
            case .abortPDUReceived: 16
            case .transportConnectionClosed: 17
            case .artimTimerExpired: 18
            case .invalidPDUReceived: 19
            }
        }

        /// `"Evt1"` … `"Evt19"`, as the standard names them.
        public var description: String { "Evt\(number)" }

        /// The event's definition from Table 9-10.
        public var definition: String {
            switch self {
            case .associateRequest: "A-ASSOCIATE request (local user)"
            case .transportConnectConfirmation: "Transport connect confirmation (local transport service)"
            case .associateAcceptPDUReceived: "A-ASSOCIATE-AC PDU (received on transport connection)"
            case .associateRejectPDUReceived: "A-ASSOCIATE-RJ PDU (received on transport connection)"
            case .transportConnectionIndication: "Transport connection indication (local transport service)"
            case .associateRequestPDUReceived: "A-ASSOCIATE-RQ PDU (received on transport connection)"
            case .associateResponseAccept: "A-ASSOCIATE response primitive (accept)"
            case .associateResponseReject: "A-ASSOCIATE response primitive (reject)"
            case .dataRequest: "P-DATA request primitive"
            case .dataTransferPDUReceived: "P-DATA-TF PDU (received on transport connection)"
            case .releaseRequest: "A-RELEASE request primitive"
            case .releaseRequestPDUReceived: "A-RELEASE-RQ PDU (received on transport connection)"
            case .releaseResponsePDUReceived: "A-RELEASE-RP PDU (received on transport connection)"
            case .releaseResponse: "A-RELEASE response primitive"
            case .abortRequest: "A-ABORT request primitive"
            case .abortPDUReceived: "A-ABORT PDU (received on transport connection)"
            case .transportConnectionClosed: "Transport connection closed indication (local transport service)"
            case .artimTimerExpired: "ARTIM timer expired (association reject/release timer)"
            case .invalidPDUReceived: "Unrecognized or invalid PDU received"
            }
        }

        /// Whether the event is a primitive issued by the local service-user (Evt1, 7, 8, 9, 11, 14,
        /// 15): in a blank cell of Table 9-10 such a request is refused with
        /// ``Action/rejectPrimitive(_:state:)``.
        public var isLocalPrimitive: Bool {
            switch self {
            case .associateRequest, .associateResponseAccept, .associateResponseReject, .dataRequest,
                 .releaseRequest, .releaseResponse, .abortRequest:
                true
            case .transportConnectConfirmation, .associateAcceptPDUReceived, .associateRejectPDUReceived,
                 .transportConnectionIndication, .associateRequestPDUReceived, .dataTransferPDUReceived,
                 .releaseRequestPDUReceived, .releaseResponsePDUReceived, .abortPDUReceived,
                 .transportConnectionClosed, .artimTimerExpired, .invalidPDUReceived:
                false
            }
        }
    }

    // MARK: Actions (what a channel handler executes)

    /// A side effect for the channel handler to execute, in the order returned. Each standard action
    /// (``ProtocolAction``, PS3.8 §9.2.2 Tables 9-6 to 9-9) expands to zero or more of these.
    public enum Action: Sendable, Hashable {
        /// Issue a TRANSPORT CONNECT request to the local transport service: open the TCP connection
        /// to the peer (AE-1). Completion is fed back as Evt2, failure as Evt17.
        case connectTransport
        /// Send a PDU on the transport connection. Its content comes from the primitive that caused
        /// the event (e.g. the A-ASSOCIATE request for AE-2, the P-DATA request for DT-1 and AR-7).
        case sendPDU(PDUKind)
        /// Start the ARTIM timer (PS3.8 §9.1.5), or restart it if it is already running (AA-1).
        /// Its expiry is fed back as Evt18.
        case startARTIMTimer
        /// Stop (cancel) the ARTIM timer.
        case stopARTIMTimer
        /// Close the transport connection (TCP, PS3.8 §9.1.4).
        case closeTransport
        /// Issue an indication primitive to the local service-user.
        case issueIndication(Indication)
        /// Issue a confirmation primitive to the local service-user.
        case issueConfirmation(Confirmation)
        /// A local primitive that Table 9-10 does not allow in this state (a blank cell): nothing was
        /// sent and the state did not change; fail the service-user's request.
        case rejectPrimitive(Event, state: State)
    }

    /// A PDU to send (PS3.8 §9.3, Table 9-11).
    public enum PDUKind: Sendable, Hashable {
        /// A-ASSOCIATE-RQ (AE-2).
        case associateRequest
        /// A-ASSOCIATE-AC (AE-7).
        case associateAccept
        /// A-ASSOCIATE-RJ (AE-6 with result source service-provider, AE-8 with the service-user's result).
        case associateReject
        /// P-DATA-TF (DT-1, AR-7).
        case dataTransfer
        /// A-RELEASE-RQ (AR-1).
        case releaseRequest
        /// A-RELEASE-RP (AR-4, AR-9).
        case releaseResponse
        /// A-ABORT with its Source and Reason/Diag. fields (AA-1, AA-7, AA-8).
        case abort(AbortSource)

        /// The PDU type byte (PS3.8 Table 9-11).
        public var pduType: PDUType {
            switch self {
            case .associateRequest: .associateRequest
            case .associateAccept: .associateAccept
            case .associateReject: .associateReject
            case .dataTransfer: .dataTransfer
            case .releaseRequest: .releaseRequest
            case .releaseResponse: .releaseResponse
            case .abort: .abort
            }
        }
    }

    /// The Source field of an A-ABORT PDU (PS3.8 §9.3.8, Table 9-26), with the Reason/Diag. field
    /// that is significant only for a service-provider abort.
    public enum AbortSource: Sendable, Hashable {
        /// Source 0: DICOM UL service-user initiated abort (Reason/Diag. sent as 00H, not significant).
        case serviceUser
        /// Source 2: DICOM UL service-provider initiated abort, with its reason.
        case serviceProvider(ProviderAbortReason)

        /// The Source field value: 0 or 2 (1 is reserved).
        public var sourceValue: UInt8 {
            switch self {
            case .serviceUser: 0
            case .serviceProvider: 2
            }
        }

        /// The Reason/Diag. field value: the provider reason, or 0 for a service-user abort.
        public var reasonValue: UInt8 {
            switch self {
            case .serviceUser: 0
            case .serviceProvider(let reason): reason.reasonValue
            }
        }
    }

    /// The provider reason of an A-P-ABORT (PS3.8 §7.4.1) and of a service-provider A-ABORT PDU
    /// (PS3.8 §9.3.8, Table 9-26, Reason/Diag. values in parentheses).
    public enum ProviderAbortReason: Sendable, Hashable, CaseIterable {
        /// Reason-not-specified (0).
        case reasonNotSpecified
        /// Unrecognized-PDU (1).
        case unrecognizedPDU
        /// Unexpected-PDU (2): a well-formed PDU that Table 9-10 does not allow in the state (AA-7, AA-8).
        case unexpectedPDU
        /// Unrecognized-PDU parameter (4).
        case unrecognizedPDUParameter
        /// Unexpected-PDU parameter (5).
        case unexpectedPDUParameter
        /// Invalid-PDU-parameter value (6).
        case invalidPDUParameterValue
        /// A locally defined reason (PS3.8 §7.4.1 allows them for errors from the transport and
        /// lower layers): the transport connection closed or could not be opened (AA-4). Never sent
        /// in a PDU; its ``reasonValue`` is 0.
        case transportConnectionClosed

        /// The Reason/Diag. field value of an A-ABORT PDU (PS3.8 Table 9-26).
        public var reasonValue: UInt8 {
            switch self {
            case .reasonNotSpecified: 0
            case .unrecognizedPDU: 1
            case .unexpectedPDU: 2
            case .unrecognizedPDUParameter: 4
            case .unexpectedPDUParameter: 5
            case .invalidPDUParameterValue: 6
            case .transportConnectionClosed: 0
            }
        }
    }

    /// An indication primitive issued to the local service-user (PS3.8 §7).
    public enum Indication: Sendable, Hashable {
        /// A-ASSOCIATE indication: the peer requests an association; answer with Evt7 or Evt8 (AE-6).
        case associate
        /// P-DATA indication: pass up the received P-DATA-TF's presentation data values (DT-2, AR-6).
        case data
        /// A-RELEASE indication: the peer requests release; answer with Evt14 (AR-2).
        case release
        /// A-RELEASE indication in a release collision: both sides requested release; answer with
        /// Evt14 (AR-8).
        case releaseCollision
        /// A-ABORT indication: the peer's service-user aborted the association (AA-3).
        case abort
        /// A-P-ABORT indication: the association was aborted by a service-provider, local or remote
        /// (AA-3, AA-4, AA-8).
        case providerAbort(ProviderAbortReason)
    }

    /// A confirmation primitive issued to the local service-user (PS3.8 §7).
    public enum Confirmation: Sendable, Hashable {
        /// A-ASSOCIATE confirmation (accept): the association is established (AE-3).
        case associateAccepted
        /// A-ASSOCIATE confirmation (reject): pass up the received A-ASSOCIATE-RJ's result (AE-4).
        case associateRejected
        /// A-RELEASE confirmation: the release completed (AR-3, AR-10).
        case release
    }

    // MARK: Stored state

    /// The current state, Sta1 to Sta13.
    public private(set) var state: State
    /// The association role, set on leaving Sta1 (Evt1: requestor, Evt5: acceptor); `nil` before.
    public private(set) var role: Role?

    /// A machine in Sta1 (Idle), with no role yet.
    public init() {
        self.state = .sta1
        self.role = nil
    }

    /// A machine put directly into `state` (for tests).
    init(state: State, role: Role?) {
        self.state = state
        self.role = role
    }

    /// Whether the ARTIM timer (PS3.8 §9.1.5) runs, until it expires (Evt18). It runs exactly in
    /// Sta2 and Sta13: every action that enters them starts it (AE-5, AE-6, AE-8, AR-4, AA-1, AA-8)
    /// and every action that leaves them stops it (AE-6, AR-5, AA-2, AA-5). AA-1 restarts it when it
    /// leaves Sta2 for Sta13.
    public var isARTIMTimerRunning: Bool {
        switch state {
        case .sta2, .sta13: true
        case .sta1, .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: false
        }
    }

    // MARK: Handling events

    /// Handles one event: performs the action that Table 9-10 gives for the current state (PS3.8
    /// §9.2.3), moves to the next state of Tables 9-6 to 9-9, and returns the side effects to execute,
    /// in order. A blank cell leaves the state unchanged (see the type's documentation).
    public mutating func handle(_ event: Event) -> [Action] {
        guard let action = Self.protocolAction(for: event, in: state) else {
            return event.isLocalPrimitive ? [.rejectPrimitive(event, state: state)] : []
        }
        return perform(action, for: event)
    }

    /// Performs one action of PS3.8 §9.2.2 (Tables 9-6 to 9-9): sets the next state and the role,
    /// returns the side effects.
    private mutating func perform(_ action: ProtocolAction, for event: Event) -> [Action] {
        switch action {
        // Table 9-6, association establishment.
        case .ae1:
            role = .requestor
            state = .sta4
            return [.connectTransport]
        case .ae2:
            state = .sta5
            return [.sendPDU(.associateRequest)]
        case .ae3:
            state = .sta6
            return [.issueConfirmation(.associateAccepted)]
        case .ae4:
            state = .sta1
            return [.issueConfirmation(.associateRejected), .closeTransport]
        case .ae5:
            // The transport connection response is implicit: the TCP connection is already accepted
            // when Evt5 is fed.
            role = .acceptor
            state = .sta2
            return [.startARTIMTimer]
        case .ae6:
            if case .associateRequestPDUReceived(acceptable: false) = event {
                state = .sta13
                return [.stopARTIMTimer, .sendPDU(.associateReject), .startARTIMTimer]
            }
            state = .sta3
            return [.stopARTIMTimer, .issueIndication(.associate)]
        case .ae7:
            state = .sta6
            return [.sendPDU(.associateAccept)]
        case .ae8:
            state = .sta13
            return [.sendPDU(.associateReject), .startARTIMTimer]

        // Table 9-7, data transfer.
        case .dt1:
            state = .sta6
            return [.sendPDU(.dataTransfer)]
        case .dt2:
            state = .sta6
            return [.issueIndication(.data)]

        // Table 9-8, association release.
        case .ar1:
            state = .sta7
            return [.sendPDU(.releaseRequest)]
        case .ar2:
            state = .sta8
            return [.issueIndication(.release)]
        case .ar3:
            state = .sta1
            return [.issueConfirmation(.release), .closeTransport]
        case .ar4:
            state = .sta13
            return [.sendPDU(.releaseResponse), .startARTIMTimer]
        case .ar5:
            state = .sta1
            return [.stopARTIMTimer]
        case .ar6:
            state = .sta7
            return [.issueIndication(.data)]
        case .ar7:
            state = .sta8
            return [.sendPDU(.dataTransfer)]
        case .ar8:
            // "If association-requestor, next state is Sta9; if not, next state is Sta10."
            state = role == .requestor ? .sta9 : .sta10
            return [.issueIndication(.releaseCollision)]
        case .ar9:
            state = .sta11
            return [.sendPDU(.releaseResponse)]
        case .ar10:
            state = .sta12
            return [.issueConfirmation(.release)]

        // Table 9-9, association abort.
        case .aa1:
            state = .sta13
            return [.sendPDU(.abort(.serviceUser)), .startARTIMTimer]
        case .aa2:
            // "Stop ARTIM timer if running": it runs in Sta2 and Sta13, unless this is its expiry.
            var timerRunning = isARTIMTimerRunning
            if case .artimTimerExpired = event {
                timerRunning = false
            }
            state = .sta1
            return timerRunning ? [.stopARTIMTimer, .closeTransport] : [.closeTransport]
        case .aa3:
            state = .sta1
            if case .abortPDUReceived(source: .serviceProvider(let reason)) = event {
                return [.issueIndication(.providerAbort(reason)), .closeTransport]
            }
            return [.issueIndication(.abort), .closeTransport]
        case .aa4:
            state = .sta1
            return [.issueIndication(.providerAbort(.transportConnectionClosed))]
        case .aa5:
            state = .sta1
            return [.stopARTIMTimer]
        case .aa6:
            state = .sta13
            return []
        case .aa7:
            state = .sta13
            return [.sendPDU(.abort(.serviceProvider(event.abortReason)))]
        case .aa8:
            let reason = event.abortReason
            state = .sta13
            return [.sendPDU(.abort(.serviceProvider(reason))), .issueIndication(.providerAbort(reason)),
                    .startARTIMTimer]
        }
    }
}

extension AssociationStateMachine.Event {
    /// The reason an A-ABORT sent by AA-7 or AA-8 gives: the decoder's for Evt19, unexpected-PDU for
    /// a well-formed PDU in the wrong state.
    fileprivate var abortReason: AssociationStateMachine.ProviderAbortReason {
        if case .invalidPDUReceived(let reason) = self {
            return reason
        }
        return .unexpectedPDU
    }
}

// MARK: - Table 9-10

extension AssociationStateMachine {
    /// PS3.8 §9.2.3, Table 9-10 (DICOM Upper Layer Protocol State Transition Table), one row per
    /// event: the action `event` triggers in `state`, or `nil` for a blank cell.
    ///
    /// Cell by cell equal to pynetdicom 3.0.4's `fsm.TRANSITION_TABLE`, which follows the standard.
    public static func protocolAction(for event: Event, in state: State) -> ProtocolAction? {
        switch event {
        case .associateRequest: // Evt1
            switch state {
            case .sta1: return .ae1
            case .sta2, .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .transportConnectConfirmation: // Evt2
            switch state {
            case .sta4: return .ae2
            case .sta1, .sta2, .sta3, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .associateAcceptPDUReceived: // Evt3
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta5: return .ae3
            case .sta13: return .aa6
            case .sta1, .sta4: return nil
            }
        case .associateRejectPDUReceived: // Evt4
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta5: return .ae4
            case .sta13: return .aa6
            case .sta1, .sta4: return nil
            }
        case .transportConnectionIndication: // Evt5
            switch state {
            case .sta1: return .ae5
            case .sta2, .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .associateRequestPDUReceived: // Evt6
            switch state {
            case .sta2: return .ae6
            case .sta3, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta13: return .aa7
            case .sta1, .sta4: return nil
            }
        case .associateResponseAccept: // Evt7
            switch state {
            case .sta3: return .ae7
            case .sta1, .sta2, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .associateResponseReject: // Evt8
            switch state {
            case .sta3: return .ae8
            case .sta1, .sta2, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .dataRequest: // Evt9
            switch state {
            case .sta6: return .dt1
            case .sta8: return .ar7
            case .sta1, .sta2, .sta3, .sta4, .sta5, .sta7, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .dataTransferPDUReceived: // Evt10
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta5, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta6: return .dt2
            case .sta7: return .ar6
            case .sta13: return .aa6
            case .sta1, .sta4: return nil
            }
        case .releaseRequest: // Evt11
            switch state {
            case .sta6: return .ar1
            case .sta1, .sta2, .sta3, .sta4, .sta5, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13: return nil
            }
        case .releaseRequestPDUReceived: // Evt12
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta5, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta6: return .ar2
            case .sta7: return .ar8
            case .sta13: return .aa6
            case .sta1, .sta4: return nil
            }
        case .releaseResponsePDUReceived: // Evt13
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta5, .sta6, .sta8, .sta9, .sta12: return .aa8
            case .sta7, .sta11: return .ar3
            case .sta10: return .ar10
            case .sta13: return .aa6
            case .sta1, .sta4: return nil
            }
        case .releaseResponse: // Evt14
            switch state {
            case .sta8, .sta12: return .ar4
            case .sta9: return .ar9
            case .sta1, .sta2, .sta3, .sta4, .sta5, .sta6, .sta7, .sta10, .sta11, .sta13: return nil
            }
        case .abortRequest: // Evt15
            switch state {
            case .sta3, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa1
            case .sta4: return .aa2
            case .sta1, .sta2, .sta13: return nil
            }
        case .abortPDUReceived: // Evt16
            switch state {
            case .sta2, .sta13: return .aa2
            case .sta3, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa3
            case .sta1, .sta4: return nil
            }
        case .transportConnectionClosed: // Evt17
            switch state {
            case .sta2: return .aa5
            case .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa4
            case .sta13: return .ar5
            case .sta1: return nil
            }
        case .artimTimerExpired: // Evt18
            switch state {
            case .sta2, .sta13: return .aa2
            case .sta1, .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return nil
            }
        case .invalidPDUReceived: // Evt19
            switch state {
            case .sta2: return .aa1
            case .sta3, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12: return .aa8
            case .sta13: return .aa7
            case .sta1, .sta4: return nil
            }
        }
    }
}
