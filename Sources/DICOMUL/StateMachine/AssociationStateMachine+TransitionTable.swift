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
