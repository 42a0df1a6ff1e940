import Testing
@testable import DICOMUL

/// The DICOM Upper Layer state machine, PS3.8 §9.2: scripted scenarios, then every cell of
/// Table 9-10.
@Suite struct AssociationStateMachineTests {
    typealias Machine = AssociationStateMachine
    typealias State = AssociationStateMachine.State
    typealias Event = AssociationStateMachine.Event
    typealias Action = AssociationStateMachine.Action
    typealias Role = AssociationStateMachine.Role

    // MARK: Association requestor

    @Test func requestorAssociatesTransfersDataAndReleases() {
        var machine = Machine()
        #expect(machine.state == .sta1)
        #expect(machine.role == nil)

        #expect(machine.handle(.associateRequest) == [.connectTransport])
        #expect(machine.state == .sta4)
        #expect(machine.role == .requestor)
        #expect(machine.handle(.transportConnectConfirmation) == [.sendPDU(.associateRequest)])
        #expect(machine.state == .sta5)
        #expect(machine.handle(.associateAcceptPDUReceived) == [.issueConfirmation(.associateAccepted)])
        #expect(machine.state == .sta6)

        #expect(machine.handle(.dataRequest) == [.sendPDU(.dataTransfer)])
        #expect(machine.handle(.dataTransferPDUReceived) == [.issueIndication(.data)])
        #expect(machine.state == .sta6)

        #expect(machine.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        #expect(machine.state == .sta7)
        // AR-6: a P-DATA-TF that crossed our A-RELEASE-RQ is still delivered.
        #expect(machine.handle(.dataTransferPDUReceived) == [.issueIndication(.data)])
        #expect(machine.state == .sta7)
        #expect(machine.handle(.releaseResponsePDUReceived) == [.issueConfirmation(.release), .closeTransport])
        #expect(machine.state == .sta1)

        // The close indication that follows AR-3's own close is a blank cell: nothing to do.
        #expect(machine.handle(.transportConnectionClosed) == [])
        #expect(machine.state == .sta1)
    }

    @Test func requestorIsRejected() {
        var machine = Machine()
        #expect(machine.handle(.associateRequest) == [.connectTransport])
        #expect(machine.handle(.transportConnectConfirmation) == [.sendPDU(.associateRequest)])
        #expect(machine.handle(.associateRejectPDUReceived) == [.issueConfirmation(.associateRejected), .closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func requestorCannotConnect() {
        var machine = Machine()
        #expect(machine.handle(.associateRequest) == [.connectTransport])
        // AA-4 in Sta4: the connect attempt failed.
        #expect(machine.handle(.transportConnectionClosed)
                == [.issueIndication(.providerAbort(.transportConnectionClosed))])
        #expect(machine.state == .sta1)
    }

    // MARK: Association acceptor

    @Test func acceptorAcceptsThenPeerReleases() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        #expect(machine.state == .sta2)
        #expect(machine.role == .acceptor)
        #expect(machine.handle(.associateRequestPDUReceived(acceptable: true))
                == [.stopARTIMTimer, .issueIndication(.associate)])
        #expect(machine.state == .sta3)
        #expect(machine.handle(.associateResponseAccept) == [.sendPDU(.associateAccept)])
        #expect(machine.state == .sta6)

        #expect(machine.handle(.dataTransferPDUReceived) == [.issueIndication(.data)])
        #expect(machine.handle(.dataRequest) == [.sendPDU(.dataTransfer)])

        #expect(machine.handle(.releaseRequestPDUReceived) == [.issueIndication(.release)])
        #expect(machine.state == .sta8)
        // AR-7: the user may still send data before answering the release.
        #expect(machine.handle(.dataRequest) == [.sendPDU(.dataTransfer)])
        #expect(machine.state == .sta8)
        #expect(machine.handle(.releaseResponse) == [.sendPDU(.releaseResponse), .startARTIMTimer])
        #expect(machine.state == .sta13)
        // The requestor closes the connection after the A-RELEASE-RP.
        #expect(machine.handle(.transportConnectionClosed) == [.stopARTIMTimer])
        #expect(machine.state == .sta1)
    }

    @Test func acceptorUserRejects() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        #expect(machine.handle(.associateRequestPDUReceived(acceptable: true))
                == [.stopARTIMTimer, .issueIndication(.associate)])
        #expect(machine.handle(.associateResponseReject) == [.sendPDU(.associateReject), .startARTIMTimer])
        #expect(machine.state == .sta13)
        #expect(machine.handle(.transportConnectionClosed) == [.stopARTIMTimer])
        #expect(machine.state == .sta1)
    }

    @Test func acceptorProviderRejectsWithoutAskingTheUser() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        // AE-6 "otherwise": e.g. an unsupported protocol version.
        #expect(machine.handle(.associateRequestPDUReceived(acceptable: false))
                == [.stopARTIMTimer, .sendPDU(.associateReject), .startARTIMTimer])
        #expect(machine.state == .sta13)
    }

    // MARK: ARTIM timer

    @Test func artimExpiresBeforeAssociateRequest() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        #expect(machine.isARTIMTimerRunning)
        // AA-2: the timer has just expired, so there is nothing to stop.
        #expect(machine.handle(.artimTimerExpired) == [.closeTransport])
        #expect(machine.state == .sta1)
        #expect(!machine.isARTIMTimerRunning)
    }

    @Test func artimExpiresWhilePeerKeepsConnectionOpen() {
        var machine = Self.established(as: .acceptor)
        #expect(machine.handle(.releaseRequestPDUReceived) == [.issueIndication(.release)])
        #expect(machine.handle(.releaseResponse) == [.sendPDU(.releaseResponse), .startARTIMTimer])
        #expect(machine.state == .sta13)
        #expect(machine.handle(.artimTimerExpired) == [.closeTransport])
        #expect(machine.state == .sta1)
        // The close indication that follows, and a stale expiry, are blank cells.
        #expect(machine.handle(.transportConnectionClosed) == [])
        #expect(machine.handle(.artimTimerExpired) == [])
        #expect(machine.state == .sta1)
    }

    @Test func connectionClosedBeforeAssociateRequest() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        #expect(machine.handle(.transportConnectionClosed) == [.stopARTIMTimer])  // AA-5
        #expect(machine.state == .sta1)
    }

    // MARK: Release collision (Sta9–Sta12)

    @Test func releaseCollisionRequestorSide() {
        var machine = Self.established(as: .requestor)
        #expect(machine.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        #expect(machine.handle(.releaseRequestPDUReceived) == [.issueIndication(.releaseCollision)])
        #expect(machine.state == .sta9)
        #expect(machine.handle(.releaseResponse) == [.sendPDU(.releaseResponse)])
        #expect(machine.state == .sta11)
        #expect(machine.handle(.releaseResponsePDUReceived) == [.issueConfirmation(.release), .closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func releaseCollisionAcceptorSide() {
        var machine = Self.established(as: .acceptor)
        #expect(machine.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        #expect(machine.handle(.releaseRequestPDUReceived) == [.issueIndication(.releaseCollision)])
        #expect(machine.state == .sta10)
        #expect(machine.handle(.releaseResponsePDUReceived) == [.issueConfirmation(.release)])
        #expect(machine.state == .sta12)
        #expect(machine.handle(.releaseResponse) == [.sendPDU(.releaseResponse), .startARTIMTimer])
        #expect(machine.state == .sta13)
        #expect(machine.handle(.transportConnectionClosed) == [.stopARTIMTimer])
        #expect(machine.state == .sta1)
    }

    /// Both users request release at once; the PDUs each side sends are fed to the other.
    @Test func releaseCollisionBetweenTwoMachines() {
        var requestor = Self.established(as: .requestor)
        var acceptor = Self.established(as: .acceptor)

        #expect(requestor.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        #expect(acceptor.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        // The A-RELEASE-RQ PDUs cross on the wire.
        #expect(requestor.handle(.releaseRequestPDUReceived) == [.issueIndication(.releaseCollision)])
        #expect(acceptor.handle(.releaseRequestPDUReceived) == [.issueIndication(.releaseCollision)])
        #expect(requestor.state == .sta9)
        #expect(acceptor.state == .sta10)

        // The requestor answers first; the acceptor only once it has the requestor's A-RELEASE-RP.
        #expect(requestor.handle(.releaseResponse) == [.sendPDU(.releaseResponse)])
        #expect(acceptor.handle(.releaseResponsePDUReceived) == [.issueConfirmation(.release)])
        #expect(acceptor.handle(.releaseResponse) == [.sendPDU(.releaseResponse), .startARTIMTimer])
        #expect(requestor.handle(.releaseResponsePDUReceived) == [.issueConfirmation(.release), .closeTransport])
        #expect(acceptor.handle(.transportConnectionClosed) == [.stopARTIMTimer])
        #expect(requestor.state == .sta1)
        #expect(acceptor.state == .sta1)
    }

    // MARK: Abort

    @Test func localUserAborts() {
        var machine = Self.established(as: .requestor)
        #expect(machine.handle(.abortRequest) == [.sendPDU(.abort(.serviceUser)), .startARTIMTimer])
        #expect(machine.state == .sta13)
        // A P-DATA-TF still in flight is ignored (AA-6); the peer then closes (AR-5).
        #expect(machine.handle(.dataTransferPDUReceived) == [])
        #expect(machine.handle(.transportConnectionClosed) == [.stopARTIMTimer])
        #expect(machine.state == .sta1)
    }

    @Test func localUserAbortsWhileConnecting() {
        var machine = Machine()
        #expect(machine.handle(.associateRequest) == [.connectTransport])
        // AA-2 in Sta4: the timer is not running; just close.
        #expect(machine.handle(.abortRequest) == [.closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func peerUserAborts() {
        var machine = Self.established(as: .acceptor)
        #expect(machine.handle(.abortPDUReceived(source: .serviceUser)) == [.issueIndication(.abort), .closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func peerProviderAborts() {
        var machine = Self.established(as: .requestor)
        #expect(machine.handle(.abortPDUReceived(source: .serviceProvider(.invalidPDUParameterValue)))
                == [.issueIndication(.providerAbort(.invalidPDUParameterValue)), .closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func peerAbortsBeforeAssociateRequest() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        // AA-2 in Sta2: no user to tell yet.
        #expect(machine.handle(.abortPDUReceived(source: .serviceUser)) == [.stopARTIMTimer, .closeTransport])
        #expect(machine.state == .sta1)
    }

    @Test func peerAbortsWhileWeAwaitClose() {
        var machine = Self.established(as: .requestor)
        #expect(machine.handle(.abortRequest) == [.sendPDU(.abort(.serviceUser)), .startARTIMTimer])
        #expect(machine.handle(.abortPDUReceived(source: .serviceUser)) == [.stopARTIMTimer, .closeTransport])
        #expect(machine.state == .sta1)
    }

    // MARK: Unexpected and invalid PDUs

    @Test func unexpectedPDUInSta6() {
        for event: Event in [.associateAcceptPDUReceived, .associateRejectPDUReceived,
                             .associateRequestPDUReceived(acceptable: true), .releaseResponsePDUReceived] {
            var machine = Self.established(as: .requestor)
            // AA-8
            #expect(machine.handle(event) == [.sendPDU(.abort(.serviceProvider(.unexpectedPDU))),
                                              .issueIndication(.providerAbort(.unexpectedPDU)),
                                              .startARTIMTimer])
            #expect(machine.state == .sta13)
        }
    }

    @Test func invalidPDUInSta6() {
        var machine = Self.established(as: .acceptor)
        #expect(machine.handle(.invalidPDUReceived(reason: .unrecognizedPDU))
                == [.sendPDU(.abort(.serviceProvider(.unrecognizedPDU))),
                    .issueIndication(.providerAbort(.unrecognizedPDU)),
                    .startARTIMTimer])
        #expect(machine.state == .sta13)
        // Sta13: AA-7 answers an invalid PDU or an A-ASSOCIATE-RQ with an A-ABORT, AA-6 ignores the rest.
        #expect(machine.handle(.invalidPDUReceived(reason: .invalidPDUParameterValue))
                == [.sendPDU(.abort(.serviceProvider(.invalidPDUParameterValue)))])
        #expect(machine.handle(.associateRequestPDUReceived(acceptable: true))
                == [.sendPDU(.abort(.serviceProvider(.unexpectedPDU)))])
        #expect(machine.handle(.releaseRequestPDUReceived) == [])
        #expect(machine.state == .sta13)
    }

    @Test func unexpectedPDUBeforeAssociateRequest() {
        var machine = Machine()
        #expect(machine.handle(.transportConnectionIndication) == [.startARTIMTimer])
        // AA-1 in Sta2: the standard names the service-user source here; the ARTIM timer restarts.
        #expect(machine.handle(.dataTransferPDUReceived) == [.sendPDU(.abort(.serviceUser)), .startARTIMTimer])
        #expect(machine.state == .sta13)
    }

    // MARK: Transport connection closed

    @Test func transportClosedInSta13VersusElsewhere() {
        var closing = Self.established(as: .requestor)
        #expect(closing.handle(.abortRequest) == [.sendPDU(.abort(.serviceUser)), .startARTIMTimer])
        #expect(closing.handle(.transportConnectionClosed) == [.stopARTIMTimer])  // AR-5
        #expect(closing.state == .sta1)

        for state in State.allCases where ![.sta1, .sta2, .sta13].contains(state) {
            var machine = Machine(state: state, role: .requestor)
            #expect(machine.handle(.transportConnectionClosed)
                    == [.issueIndication(.providerAbort(.transportConnectionClosed))],
                    "AA-4 in \(state)")
            #expect(machine.state == .sta1)
        }
    }

    // MARK: Blank cells

    @Test func primitiveInBlankCellIsRejectedWithoutStateChange() {
        var machine = Self.established(as: .requestor)
        #expect(machine.handle(.releaseRequest) == [.sendPDU(.releaseRequest)])
        #expect(machine.handle(.dataRequest) == [.rejectPrimitive(.dataRequest, state: .sta7)])
        #expect(machine.handle(.associateRequest) == [.rejectPrimitive(.associateRequest, state: .sta7)])
        #expect(machine.state == .sta7)

        var idle = Machine()
        #expect(idle.handle(.abortRequest) == [.rejectPrimitive(.abortRequest, state: .sta1)])
        #expect(idle.handle(.releaseRequest) == [.rejectPrimitive(.releaseRequest, state: .sta1)])
        #expect(idle.state == .sta1)
    }

    // MARK: Table 9-10, every cell

    /// PS3.8 §9.2.3 Table 9-10: the action of every (event, state) cell; "-" is a blank cell.
    /// Cross-checked cell by cell against pynetdicom 3.0.4 `fsm.TRANSITION_TABLE` (identical).
    static let table9_10 = """
               Sta1  Sta2  Sta3  Sta4  Sta5  Sta6  Sta7  Sta8  Sta9  Sta10 Sta11 Sta12 Sta13
        Evt1   AE-1  -     -     -     -     -     -     -     -     -     -     -     -
        Evt2   -     -     -     AE-2  -     -     -     -     -     -     -     -     -
        Evt3   -     AA-1  AA-8  -     AE-3  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
        Evt4   -     AA-1  AA-8  -     AE-4  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
        Evt5   AE-5  -     -     -     -     -     -     -     -     -     -     -     -
        Evt6   -     AE-6  AA-8  -     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
        Evt7   -     -     AE-7  -     -     -     -     -     -     -     -     -     -
        Evt8   -     -     AE-8  -     -     -     -     -     -     -     -     -     -
        Evt9   -     -     -     -     -     DT-1  -     AR-7  -     -     -     -     -
        Evt10  -     AA-1  AA-8  -     AA-8  DT-2  AR-6  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
        Evt11  -     -     -     -     -     AR-1  -     -     -     -     -     -     -
        Evt12  -     AA-1  AA-8  -     AA-8  AR-2  AR-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
        Evt13  -     AA-1  AA-8  -     AA-8  AA-8  AR-3  AA-8  AA-8  AR-10 AR-3  AA-8  AA-6
        Evt14  -     -     -     -     -     -     -     AR-4  AR-9  -     -     AR-4  -
        Evt15  -     -     AA-1  AA-2  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  -
        Evt16  -     AA-2  AA-3  -     AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-2
        Evt17  -     AA-5  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AR-5
        Evt18  -     AA-2  -     -     -     -     -     -     -     -     -     -     AA-2
        Evt19  -     AA-1  AA-8  -     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
        """

    /// PS3.8 §9.2.2 Tables 9-6 to 9-9: each action's next state. Two are conditional: AE-6
    /// ("Sta3 if acceptable, otherwise Sta13") and AR-8 ("Sta9 if association-requestor, otherwise
    /// Sta10"); they are written first-choice|second-choice.
    static let nextStates: [String: String] = [
        "AE-1": "Sta4", "AE-2": "Sta5", "AE-3": "Sta6", "AE-4": "Sta1", "AE-5": "Sta2",
        "AE-6": "Sta3|Sta13", "AE-7": "Sta6", "AE-8": "Sta13",
        "DT-1": "Sta6", "DT-2": "Sta6",
        "AR-1": "Sta7", "AR-2": "Sta8", "AR-3": "Sta1", "AR-4": "Sta13", "AR-5": "Sta1",
        "AR-6": "Sta7", "AR-7": "Sta8", "AR-8": "Sta9|Sta10", "AR-9": "Sta11", "AR-10": "Sta12",
        "AA-1": "Sta13", "AA-2": "Sta1", "AA-3": "Sta1", "AA-4": "Sta1", "AA-5": "Sta1",
        "AA-6": "Sta13", "AA-7": "Sta13", "AA-8": "Sta13",
    ]

    /// One or more values of every event, Evt1 to Evt19; the values that change AE-6 or AA-3 all appear.
    static let eventVariants: [Event] = [
        .associateRequest, .transportConnectConfirmation, .associateAcceptPDUReceived,
        .associateRejectPDUReceived, .transportConnectionIndication,
        .associateRequestPDUReceived(acceptable: true), .associateRequestPDUReceived(acceptable: false),
        .associateResponseAccept, .associateResponseReject, .dataRequest, .dataTransferPDUReceived,
        .releaseRequest, .releaseRequestPDUReceived, .releaseResponsePDUReceived, .releaseResponse,
        .abortRequest, .abortPDUReceived(source: .serviceUser),
        .abortPDUReceived(source: .serviceProvider(.reasonNotSpecified)),
        .transportConnectionClosed, .artimTimerExpired, .invalidPDUReceived(reason: .unrecognizedPDU),
    ]

    /// `table9_10` parsed: cells["Evt6"]["Sta2"] == "AE-6".
    static func parsedTable() -> [String: [String: String]] {
        let lines = table9_10.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let columns = lines[0]
        var cells: [String: [String: String]] = [:]
        for row in lines.dropFirst() {
            var entries: [String: String] = [:]
            for (column, cell) in zip(columns, row.dropFirst()) where cell != "-" {
                entries[column] = cell
            }
            cells[row[0]] = entries
        }
        return cells
    }

    @Test func tableHasEveryRowColumnAndAction() {
        let lines = Self.table9_10.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines[0] == State.allCases.map(\.description))
        #expect(lines.dropFirst().map { $0[0] } == (1...19).map { "Evt\($0)" })
        #expect(lines.dropFirst().allSatisfy { $0.count == 14 })
        #expect(Set(Self.eventVariants.map(\.number)) == Set(1...19))
        let used = Set(Self.parsedTable().values.flatMap(\.values))
        #expect(used == Set(Machine.ProtocolAction.allCases.map(\.rawValue)))
        #expect(Set(Self.nextStates.keys) == used)
    }

    /// For every state, event and role: the action is Table 9-10's and the next state is the one
    /// Tables 9-6 to 9-9 give for it; a blank cell changes nothing.
    @Test(arguments: State.allCases)
    func everyCellFollowsTable9_10(state: State) {
        let table = Self.parsedTable()
        for role in Role.allCases {
            for event in Self.eventVariants {
                var machine = Machine(state: state, role: role)
                let actions = machine.handle(event)
                let cell = table[event.description]?[state.description]
                #expect(Machine.protocolAction(for: event, in: state)?.rawValue == cell, "\(state) \(event)")
                // Only leaving Sta1 sets the role: AE-1 (Evt1) requestor, AE-5 (Evt5) acceptor.
                #expect(machine.role == (cell == "AE-1" ? .requestor : cell == "AE-5" ? .acceptor : role))

                guard let cell, let next = Self.nextStates[cell] else {
                    #expect(machine.state == state, "blank cell \(state) \(event)")
                    #expect(actions == (event.isLocalPrimitive ? [.rejectPrimitive(event, state: state)] : []))
                    continue
                }
                let choices = next.split(separator: "|").map(String.init)
                let expected: String
                switch (cell, event) {
                case ("AE-6", .associateRequestPDUReceived(acceptable: false)): expected = choices[1]
                case ("AR-8", _) where role == .acceptor: expected = choices[1]
                default: expected = choices[0]
                }
                #expect(machine.state.description == expected, "\(state) + \(event) -> \(cell)")
            }
        }
    }

    /// The ARTIM timer runs exactly in Sta2 and Sta13: no cell stops a timer that is not running or
    /// starts one that is, except AA-1, which restarts it.
    @Test(arguments: State.allCases)
    func artimTimerRunsExactlyInSta2AndSta13(state: State) {
        for event in Self.eventVariants {
            var machine = Machine(state: state, role: .requestor)
            var running = machine.isARTIMTimerRunning
            if event == .artimTimerExpired && running {
                running = false
            }
            let action = Machine.protocolAction(for: event, in: state)
            for effect in machine.handle(event) {
                switch effect {
                case .startARTIMTimer:
                    #expect(!running || action == .aa1, "\(state) \(event) starts a running timer")
                    running = true
                case .stopARTIMTimer:
                    #expect(running, "\(state) \(event) stops a stopped timer")
                    running = false
                case .connectTransport, .sendPDU, .closeTransport, .issueIndication, .issueConfirmation,
                     .rejectPrimitive:
                    break
                }
            }
            if action != nil {
                #expect(running == machine.isARTIMTimerRunning, "\(state) \(event)")
            }
        }
    }

    // MARK: Names and field values

    @Test func namesAndFieldValues() {
        #expect(State.allCases.map(\.number) == Array(1...13))
        #expect(State.sta10.description == "Sta10")
        #expect(Event.invalidPDUReceived(reason: .unrecognizedPDU).description == "Evt19")
        #expect(Event.releaseResponse.definition == "A-RELEASE response primitive")
        #expect(State.sta13.definition.hasPrefix("Awaiting transport connection close indication"))
        #expect(Machine.ProtocolAction.ar10.description == "AR-10")
        #expect(Machine.ProtocolAction.aa8.table == "Table 9-9")
        #expect(Machine.PDUKind.abort(.serviceUser).pduType == .abort)
        #expect(Machine.PDUKind.releaseResponse.pduType.rawValue == 0x06)
        #expect(Machine.AbortSource.serviceUser.sourceValue == 0)
        #expect(Machine.AbortSource.serviceUser.reasonValue == 0)
        #expect(Machine.AbortSource.serviceProvider(.unexpectedPDU).sourceValue == 2)
        #expect(Machine.AbortSource.serviceProvider(.unexpectedPDU).reasonValue == 2)
        #expect(Machine.ProviderAbortReason.allCases.map(\.reasonValue) == [0, 1, 2, 4, 5, 6, 0])
    }

    // MARK: Helpers

    /// A machine driven through real events to Sta6 as `role`.
    static func established(as role: Role) -> Machine {
        var machine = Machine()
        switch role {
        case .requestor:
            _ = machine.handle(.associateRequest)
            _ = machine.handle(.transportConnectConfirmation)
            _ = machine.handle(.associateAcceptPDUReceived)
        case .acceptor:
            _ = machine.handle(.transportConnectionIndication)
            _ = machine.handle(.associateRequestPDUReceived(acceptable: true))
            _ = machine.handle(.associateResponseAccept)
        }
        precondition(machine.state == .sta6 && machine.role == role)
        return machine
    }
}
