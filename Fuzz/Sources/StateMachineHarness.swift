import DICOMUL

/// The UL state machine on random event sequences (each input byte one event, its parameters from
/// the byte too), against an independent copy of PS3.8 written here from the standard, not from
/// the machine's own table:
/// - Table 9-10: which action (AE-n, DT-n, AR-n, AA-n) each event triggers in each state, or none;
/// - Tables 9-6 to 9-9: each action's next state and what it does (sends which PDU, issues which
///   primitive, starts or stops ARTIM, closes the transport).
/// After every event the machine's state and returned side effects must be the standard's; a blank
/// cell must leave the state as it was and return nothing, or refuse a local primitive; the ARTIM
/// timer (tracked from the start/stop actions returned) must run exactly in Sta2 and Sta13.
enum StateMachineHarness {
    typealias Machine = AssociationStateMachine
    typealias Event = Machine.Event
    typealias Action = Machine.Action

    /// Table 9-10 by event (Evt1 to Evt19), one column per state (Sta1 to Sta13); "" is a blank cell.
    static let table: [[String]] = [
        /* Evt1  */ ["AE-1", "", "", "", "", "", "", "", "", "", "", "", ""],
        /* Evt2  */ ["", "", "", "AE-2", "", "", "", "", "", "", "", "", ""],
        /* Evt3  */ ["", "AA-1", "AA-8", "", "AE-3", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-6"],
        /* Evt4  */ ["", "AA-1", "AA-8", "", "AE-4", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-6"],
        /* Evt5  */ ["AE-5", "", "", "", "", "", "", "", "", "", "", "", ""],
        /* Evt6  */ ["", "AE-6", "AA-8", "", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-7"],
        /* Evt7  */ ["", "", "AE-7", "", "", "", "", "", "", "", "", "", ""],
        /* Evt8  */ ["", "", "AE-8", "", "", "", "", "", "", "", "", "", ""],
        /* Evt9  */ ["", "", "", "", "", "DT-1", "", "AR-7", "", "", "", "", ""],
        /* Evt10 */ ["", "AA-1", "AA-8", "", "AA-8", "DT-2", "AR-6", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-6"],
        /* Evt11 */ ["", "", "", "", "", "AR-1", "", "", "", "", "", "", ""],
        /* Evt12 */ ["", "AA-1", "AA-8", "", "AA-8", "AR-2", "AR-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-6"],
        /* Evt13 */ ["", "AA-1", "AA-8", "", "AA-8", "AA-8", "AR-3", "AA-8", "AA-8", "AR-10", "AR-3", "AA-8", "AA-6"],
        /* Evt14 */ ["", "", "", "", "", "", "", "AR-4", "AR-9", "", "", "AR-4", ""],
        /* Evt15 */ ["", "", "AA-1", "AA-2", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1", "AA-1", ""],
        /* Evt16 */ ["", "AA-2", "AA-3", "", "AA-3", "AA-3", "AA-3", "AA-3", "AA-3", "AA-3", "AA-3", "AA-3", "AA-2"],
        /* Evt17 */ ["", "AA-5", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AA-4", "AR-5"],
        /* Evt18 */ ["", "AA-2", "", "", "", "", "", "", "", "", "", "", "AA-2"],
        /* Evt19 */ ["", "AA-1", "AA-8", "", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-8", "AA-7"],
    ]

    static let states: [Machine.State] = [.sta1, .sta2, .sta3, .sta4, .sta5, .sta6, .sta7, .sta8, .sta9, .sta10, .sta11, .sta12, .sta13]
    static let reasons = Machine.ProviderAbortReason.allCases

    /// Event from a byte: the low part picks Evt1-19, the high part its parameter.
    static func event(_ byte: UInt8) -> Event {
        let parameter = Int(byte) / 19
        switch Int(byte) % 19 {
        case 0: return .associateRequest
        case 1: return .transportConnectConfirmation
        case 2: return .associateAcceptPDUReceived
        case 3: return .associateRejectPDUReceived
        case 4: return .transportConnectionIndication
        case 5: return .associateRequestPDUReceived(acceptable: parameter % 2 == 0)
        case 6: return .associateResponseAccept
        case 7: return .associateResponseReject
        case 8: return .dataRequest
        case 9: return .dataTransferPDUReceived
        case 10: return .releaseRequest
        case 11: return .releaseRequestPDUReceived
        case 12: return .releaseResponsePDUReceived
        case 13: return .releaseResponse
        case 14: return .abortRequest
        case 15: return .abortPDUReceived(source: parameter % 2 == 0 ? .serviceUser
                                          : .serviceProvider(reasons[parameter / 2 % reasons.count]))
        case 16: return .transportConnectionClosed
        case 17: return .artimTimerExpired
        default: return .invalidPDUReceived(reason: reasons[parameter % reasons.count])
        }
    }

    /// The reason a provider A-ABORT sent by AA-7 or AA-8 carries (PS3.8 Table 9-26): the invalid
    /// PDU's, else unexpected-PDU.
    static func providerReason(_ event: Event) -> Machine.ProviderAbortReason {
        if case .invalidPDUReceived(let reason) = event { return reason }
        return .unexpectedPDU
    }

    /// Tables 9-6 to 9-9: the next state and the side effects of `action` for `event` in `state`.
    static func expected(_ action: String, event: Event, state: Machine.State, isRequestor: Bool) -> (Machine.State, [Action]) {
        let timerRunning = state == .sta2 || state == .sta13
        switch action {
        case "AE-1": return (.sta4, [.connectTransport])
        case "AE-2": return (.sta5, [.sendPDU(.associateRequest)])
        case "AE-3": return (.sta6, [.issueConfirmation(.associateAccepted)])
        case "AE-4": return (.sta1, [.issueConfirmation(.associateRejected), .closeTransport])
        case "AE-5": return (.sta2, [.startARTIMTimer])
        case "AE-6":
            if case .associateRequestPDUReceived(acceptable: false) = event {
                return (.sta13, [.stopARTIMTimer, .sendPDU(.associateReject), .startARTIMTimer])
            }
            return (.sta3, [.stopARTIMTimer, .issueIndication(.associate)])
        case "AE-7": return (.sta6, [.sendPDU(.associateAccept)])
        case "AE-8": return (.sta13, [.sendPDU(.associateReject), .startARTIMTimer])
        case "DT-1": return (.sta6, [.sendPDU(.dataTransfer)])
        case "DT-2": return (.sta6, [.issueIndication(.data)])
        case "AR-1": return (.sta7, [.sendPDU(.releaseRequest)])
        case "AR-2": return (.sta8, [.issueIndication(.release)])
        case "AR-3": return (.sta1, [.issueConfirmation(.release), .closeTransport])
        case "AR-4": return (.sta13, [.sendPDU(.releaseResponse), .startARTIMTimer])
        case "AR-5": return (.sta1, [.stopARTIMTimer])
        case "AR-6": return (.sta7, [.issueIndication(.data)])
        case "AR-7": return (.sta8, [.sendPDU(.dataTransfer)])
        case "AR-8": return (isRequestor ? .sta9 : .sta10, [.issueIndication(.releaseCollision)])
        case "AR-9": return (.sta11, [.sendPDU(.releaseResponse)])
        case "AR-10": return (.sta12, [.issueConfirmation(.release)])
        case "AA-1": return (.sta13, [.sendPDU(.abort(.serviceUser)), .startARTIMTimer])
        case "AA-2":
            let stop: Bool
            if case .artimTimerExpired = event { stop = false } else { stop = timerRunning }
            return (.sta1, stop ? [.stopARTIMTimer, .closeTransport] : [.closeTransport])
        case "AA-3":
            if case .abortPDUReceived(source: .serviceProvider(let reason)) = event {
                return (.sta1, [.issueIndication(.providerAbort(reason)), .closeTransport])
            }
            return (.sta1, [.issueIndication(.abort), .closeTransport])
        case "AA-4": return (.sta1, [.issueIndication(.providerAbort(.transportConnectionClosed))])
        case "AA-5": return (.sta1, [.stopARTIMTimer])
        case "AA-6": return (.sta13, [])
        case "AA-7": return (.sta13, [.sendPDU(.abort(.serviceProvider(providerReason(event))))])
        case "AA-8":
            let reason = providerReason(event)
            return (.sta13, [.sendPDU(.abort(.serviceProvider(reason))), .issueIndication(.providerAbort(reason)), .startARTIMTimer])
        default:
            oracleFailure("no such action \(action) in the harness's table")
        }
    }

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var machine = Machine()
        var timerRunning = false
        var isRequestor: Bool?
        for byte in data {
            let event = event(byte)
            let before = machine.state
            guard let column = states.firstIndex(of: before) else { oracleFailure("state \(before) is not one of Sta1-13") }
            let cell = table[event.number - 1][column]
            let actions = machine.handle(event)
            if cell.isEmpty {
                let refused: [Action] = event.isLocalPrimitive ? [.rejectPrimitive(event, state: before)] : []
                if actions != refused || machine.state != before {
                    oracleFailure("\(event) in \(before) is a blank cell; the machine returned \(actions) and went to \(machine.state)")
                }
                continue
            }
            if cell == "AE-1" { isRequestor = true }
            if cell == "AE-5" { isRequestor = false }
            let (next, effects) = expected(cell, event: event, state: before, isRequestor: isRequestor ?? false)
            if actions != effects || machine.state != next {
                oracleFailure("\(event) in \(before) is \(cell): expected \(effects) and \(next), got \(actions) and \(machine.state)")
            }
            if let isRequestor, machine.role != (isRequestor ? .requestor : .acceptor) {
                oracleFailure("role \(String(describing: machine.role)) after \(event); the association began as \(isRequestor ? "requestor" : "acceptor")")
            }
            for action in actions {
                switch action {
                case .startARTIMTimer: timerRunning = true
                case .stopARTIMTimer:
                    if !timerRunning { oracleFailure("\(event) in \(before) stops an ARTIM timer that is not running") }
                    timerRunning = false
                default: break
                }
            }
            // The timer also ends when it expires (Evt18).
            if case .artimTimerExpired = event { timerRunning = false }
            if machine.state == .sta1 { timerRunning = false }
            if timerRunning != (machine.state == .sta2 || machine.state == .sta13) {
                oracleFailure("after \(event) in \(before): in \(machine.state) the ARTIM timer is \(timerRunning ? "running" : "stopped")")
            }
            if timerRunning != machine.isARTIMTimerRunning {
                oracleFailure("isARTIMTimerRunning is \(machine.isARTIMTimerRunning) in \(machine.state)")
            }
        }
    }

    /// A requestor's and an acceptor's normal associations, a release collision, and aborts.
    static func seeds() -> [[UInt8]] {
        [
            [0, 1, 2, 8, 9, 10, 12, 16],          // requestor: associate, data, release
            [4, 5, 6, 9, 8, 11, 13, 16],          // acceptor: indication, accept, data, release
            [4, 5 + 19, 17, 16],                  // acceptor rejects: ARTIM expires
            [0, 1, 2, 10, 11, 13, 12, 16],        // release collision, requestor side
            [4, 5, 6, 10, 11, 13, 12],            // release collision, acceptor side
            [0, 1, 2, 14, 15 + 19, 17],           // abort
            [4, 18, 9, 2],                        // invalid PDU in Sta2
        ]
    }
}
