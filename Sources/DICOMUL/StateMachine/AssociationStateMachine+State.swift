extension AssociationStateMachine {
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
}
