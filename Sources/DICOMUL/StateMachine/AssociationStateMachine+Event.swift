extension AssociationStateMachine {
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
}
