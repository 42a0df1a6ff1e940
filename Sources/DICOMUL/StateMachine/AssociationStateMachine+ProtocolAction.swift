extension AssociationStateMachine {
    /// The actions of the DICOM Upper Layer state machine, PS3.8 §9.2.2 (Tables 9-6 to 9-9), as
    /// Table 9-10's cells name them. ``AssociationStateMachine/handle(_:)`` performs them; the side
    /// effects each one expands to are listed per case.
    public enum ProtocolAction: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        // Table 9-6, association establishment related actions.

        /// AE-1: issue a TRANSPORT CONNECT request primitive to the local transport service.
        /// Next state Sta4. Effects: `connectTransport`; the machine becomes the requestor.
        case ae1 = "AE-1"
        /// AE-2: send the A-ASSOCIATE-RQ PDU. Next state Sta5.
        case ae2 = "AE-2"
        /// AE-3: issue the A-ASSOCIATE confirmation (accept) primitive. Next state Sta6.
        case ae3 = "AE-3"
        /// AE-4: issue the A-ASSOCIATE confirmation (reject) primitive and close the transport
        /// connection. Next state Sta1.
        case ae4 = "AE-4"
        /// AE-5: issue the transport connection response primitive (implicit for TCP: the connection
        /// is already accepted) and start the ARTIM timer. Next state Sta2; the machine becomes the
        /// acceptor.
        case ae5 = "AE-5"
        /// AE-6: stop the ARTIM timer; if the A-ASSOCIATE-RQ is acceptable by the service-provider,
        /// issue the A-ASSOCIATE indication primitive (next state Sta3), otherwise send an
        /// A-ASSOCIATE-RJ PDU and start the ARTIM timer (next state Sta13).
        case ae6 = "AE-6"
        /// AE-7: send the A-ASSOCIATE-AC PDU. Next state Sta6.
        case ae7 = "AE-7"
        /// AE-8: send the A-ASSOCIATE-RJ PDU and start the ARTIM timer. Next state Sta13.
        case ae8 = "AE-8"

        // Table 9-7, data transfer related actions.

        /// DT-1: send a P-DATA-TF PDU. Next state Sta6.
        case dt1 = "DT-1"
        /// DT-2: issue a P-DATA indication primitive. Next state Sta6.
        case dt2 = "DT-2"

        // Table 9-8, association release related actions.

        /// AR-1: send the A-RELEASE-RQ PDU. Next state Sta7.
        case ar1 = "AR-1"
        /// AR-2: issue the A-RELEASE indication primitive. Next state Sta8.
        case ar2 = "AR-2"
        /// AR-3: issue the A-RELEASE confirmation primitive and close the transport connection.
        /// Next state Sta1.
        case ar3 = "AR-3"
        /// AR-4: send the A-RELEASE-RP PDU and start the ARTIM timer. Next state Sta13.
        case ar4 = "AR-4"
        /// AR-5: stop the ARTIM timer (the transport connection is closed). Next state Sta1.
        case ar5 = "AR-5"
        /// AR-6: issue a P-DATA indication (data that crossed our A-RELEASE-RQ). Next state Sta7.
        case ar6 = "AR-6"
        /// AR-7: send a P-DATA-TF PDU (data before our A-RELEASE response). Next state Sta8.
        case ar7 = "AR-7"
        /// AR-8: issue the A-RELEASE indication (release collision). Next state Sta9 for the
        /// association-requestor, Sta10 otherwise.
        case ar8 = "AR-8"
        /// AR-9: send the A-RELEASE-RP PDU. Next state Sta11.
        case ar9 = "AR-9"
        /// AR-10: issue the A-RELEASE confirmation primitive. Next state Sta12.
        case ar10 = "AR-10"

        // Table 9-9, association abort related actions.

        /// AA-1: send an A-ABORT PDU (service-user source) and start the ARTIM timer, or restart it
        /// if already started. Next state Sta13.
        case aa1 = "AA-1"
        /// AA-2: stop the ARTIM timer if running; close the transport connection. Next state Sta1.
        case aa2 = "AA-2"
        /// AA-3: for a service-user initiated abort, issue the A-ABORT indication; otherwise (service-
        /// provider initiated) issue the A-P-ABORT indication; then close the transport connection.
        /// Next state Sta1.
        case aa3 = "AA-3"
        /// AA-4: issue the A-P-ABORT indication primitive (the transport connection is closed).
        /// Next state Sta1.
        case aa4 = "AA-4"
        /// AA-5: stop the ARTIM timer (the transport connection is closed). Next state Sta1.
        case aa5 = "AA-5"
        /// AA-6: ignore the PDU. Next state Sta13.
        case aa6 = "AA-6"
        /// AA-7: send an A-ABORT PDU (sent here with service-provider source). Next state Sta13.
        case aa7 = "AA-7"
        /// AA-8: send an A-ABORT PDU (service-provider source), issue an A-P-ABORT indication and
        /// start the ARTIM timer. Next state Sta13.
        case aa8 = "AA-8"

        /// `"AE-1"` … `"AA-8"`, as the standard names them.
        public var description: String { rawValue }

        /// The table that defines the action: 9-6, 9-7, 9-8 or 9-9.
        public var table: String {
            switch self {
            case .ae1, .ae2, .ae3, .ae4, .ae5, .ae6, .ae7, .ae8: "Table 9-6"
            case .dt1, .dt2: "Table 9-7"
            case .ar1, .ar2, .ar3, .ar4, .ar5, .ar6, .ar7, .ar8, .ar9, .ar10: "Table 9-8"
            case .aa1, .aa2, .aa3, .aa4, .aa5, .aa6, .aa7, .aa8: "Table 9-9"
            }
        }
    }
}
