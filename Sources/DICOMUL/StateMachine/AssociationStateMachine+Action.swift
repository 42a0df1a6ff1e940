extension AssociationStateMachine {
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
}
