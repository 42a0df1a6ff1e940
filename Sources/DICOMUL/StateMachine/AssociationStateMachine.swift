// The parts, one file each: `+State` (Sta1–Sta13, roles), `+Event` (Evt1–Evt19, Table 9-10 rows),
// `+Action` (what the channel handler executes), `+ProtocolAction` (AE-1 … AA-8, Tables 9-6 to 9-9)
// and `+TransitionTable` (Table 9-10, cell by cell).

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
