import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What our SCP accepts and how it behaves.
public struct ServerConfiguration: Sendable {
    /// Our AE title; nil answers to any called AE title.
    public var aeTitle: String?
    /// Calling AE titles allowed to associate, each from any address or from given address blocks; nil allows any.
    public var allowList: CallingAEAllowList?
    /// Abstract syntax → acceptable transfer syntaxes in our order of preference.
    public var supportedContexts: [String: [String]]
    /// The largest P-DATA-TF variable field we accept to receive (sent in the A-ASSOCIATE-AC); 0 = unlimited.
    public var maxPDULength: UInt32
    /// ARTIM (PS3.8 §9.1.5): how long a new connection may take to send its A-ASSOCIATE-RQ, and how long we
    /// wait for the peer to close after a reject, release or abort.
    public var artimTimeout: TimeAmount
    /// Connections served at once (nil: no limit); see `ServerConnections` for what happens past it.
    public var maxAssociations: Int?
    /// Abort an association that sends nothing for this long; nil never.
    public var idleTimeout: TimeAmount?
    /// How long a request of ours (a C-GET's C-STORE sub-operation) waits for the SCU's response.
    public var requestTimeout: TimeAmount
    /// Largest command set and data set accepted in one message (larger: A-ABORT).
    public var messageLimits: MessageAssembler.Configuration
    /// Requests received but not yet handled, per association (more: A-ABORT; PS3.7's default asynchronous
    /// operations window is 1, so a well-behaved SCU has one outstanding).
    public var maximumQueuedRequests: Int
    /// Where the server logs associations (accepted, rejected, released, aborted).
    public var logger: Logger
    /// Receives every PDU of every association (for dumps); built per association from its connection number.
    public var tap: (@Sendable (_ connection: Int) -> AssociationTap?)?
    /// TLS on every connection (PS3.15 B.12; a TLS port is never also a plain one); nil: plain DICOM.
    public var tls: TLSContext?

    public init(aeTitle: String? = nil, allowList: CallingAEAllowList? = nil,
                supportedContexts: [String: [String]], maxPDULength: UInt32 = 65536,
                artimTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount? = .seconds(300),
                requestTimeout: TimeAmount = .seconds(60),
                messageLimits: MessageAssembler.Configuration = .init(), maximumQueuedRequests: Int = 64,
                logger: Logger = Logger(label: "dicomtap.server"),
                tap: (@Sendable (Int) -> AssociationTap?)? = nil, tls: TLSContext? = nil) {
        self.aeTitle = aeTitle
        self.allowList = allowList
        self.supportedContexts = supportedContexts
        self.maxPDULength = maxPDULength
        self.artimTimeout = artimTimeout
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.messageLimits = messageLimits
        self.maximumQueuedRequests = maximumQueuedRequests
        self.logger = logger
        self.tap = tap
        self.tls = tls
    }

    /// Our answer to an A-ASSOCIATE-RQ from `address`: an A-ASSOCIATE-RJ for an unknown called AE title, a
    /// calling AE title the allow-list does not allow (from that address), or an application context other
    /// than DICOM's (PS3.8 Table 9-21, source service-user, rejected-permanent); otherwise an A-ASSOCIATE-AC
    /// accepting each proposed context whose abstract syntax we support with the first of our transfer
    /// syntaxes the requestor proposed (result 3 or 4 for the others).
    public func decide(_ rq: AssociateRequest, from address: SocketAddress? = nil) -> AssociateDecision {
        if let app = rq.fields.applicationContextName, app != ApplicationContextItem.dicomApplicationContextName {
            return .reject(AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                           reason: AssociateReject.Reason.applicationContextNameNotSupported),
                           why: "application context \(app) not supported")
        }
        let called = rq.fields.calledAETitle.value
        if let aeTitle, called != aeTitle {
            return .reject(AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                           reason: AssociateReject.Reason.calledAETitleNotRecognized),
                           why: "called AE title \"\(called)\" is not ours (\"\(aeTitle)\")")
        }
        let calling = rq.fields.callingAETitle.value
        if let allowList, let refusal = allowList.refusal(callingAETitle: calling, from: address.flatMap { IPAddress($0) }) {
            return .reject(CallingAEAllowList.reject, why: refusal)
        }
        var items: [AssociationItem] = [.applicationContext(ApplicationContextItem())]
        for p in rq.presentationContexts {
            let proposed = p.transferSyntaxes
            let result: PresentationContextResult
            var chosen = proposed.first ?? TransferSyntax.implicitVRLittleEndian.uid
            if let abstract = p.abstractSyntax, let ours = supportedContexts[abstract] {
                if let ts = ours.first(where: { proposed.contains($0) }) {
                    result = .acceptance
                    chosen = ts
                } else {
                    result = .transferSyntaxesNotSupported
                }
            } else {
                result = .abstractSyntaxNotSupported
            }
            items.append(.presentationContextAccept(PresentationContextAcceptItem(contextID: p.contextID, result: result, transferSyntax: chosen)))
        }
        // SCP/SCU role selection (PS3.7 D.3.3.4): the roles proposed for an abstract syntax we support are
        // accepted as proposed (e.g. the SCP role on storage contexts for C-GET's C-STORE sub-operations).
        var roles: [UserInformationSubItem] = []
        for case .roleSelection(let role) in rq.fields.userInformation?.subItems ?? []
        where supportedContexts[role.sopClassUID.value] != nil {
            roles.append(.roleSelection(role))
        }
        items.append(.userInformation(UserInformationItem(subItems: [
            .maximumLength(MaximumLengthSubItem(maximumLength: maxPDULength)),
            .implementationClassUID(WireString(DICOMTapImplementation.classUID)),
        ] + roles + [
            .implementationVersionName(WireString(DICOMTapImplementation.versionName)),
        ])))
        var fields = AssociationPDUFields(calledAETitle: called, callingAETitle: calling, items: items)
        fields.calledAETitle = rq.fields.calledAETitle
        fields.callingAETitle = rq.fields.callingAETitle
        return .accept(AssociateAccept(fields: fields))
    }
}

/// An acceptor's answer to an A-ASSOCIATE-RQ, with the reason for a rejection.
public enum AssociateDecision: Sendable {
    case accept(AssociateAccept)
    case reject(AssociateReject, why: String)
}
