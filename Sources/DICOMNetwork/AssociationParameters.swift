import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Our implementation's identity in A-ASSOCIATE-RQ/AC user information (PS3.7 Annex D.3.3.2).
public enum DICOMTapImplementation {
    /// A UUID-derived UID (PS3.5 §B.2), fixed for DICOMTap.
    public static let classUID = "2.25.181546237829921721192124136535619941882"
    public static let versionName = "DICOMTAP_010"
}

/// One presentation context we propose (PS3.8 §9.3.2.2).
public struct PresentationContextProposal: Sendable, Hashable {
    public var id: UInt8
    public var abstractSyntax: String
    public var transferSyntaxes: [String]

    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }

    /// The transfer syntaxes every SCU proposes unless told otherwise: Explicit VR LE, then Implicit VR LE.
    public static let defaultTransferSyntaxes = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]

    /// Contexts with odd IDs 1, 3, 5, ... (PS3.8 §9.3.2.2) for `abstractSyntaxes`, each proposing `transferSyntaxes`.
    public static func numbered(_ abstractSyntaxes: [String],
                                transferSyntaxes: [String] = defaultTransferSyntaxes) -> [PresentationContextProposal] {
        abstractSyntaxes.prefix(128).enumerated().map {
            PresentationContextProposal(id: UInt8(2 * $0.offset + 1), abstractSyntax: $0.element, transferSyntaxes: transferSyntaxes)
        }
    }
}

/// What an association requestor asks for.
public struct AssociationParameters: Sendable {
    public var callingAETitle: String
    public var calledAETitle: String
    public var contexts: [PresentationContextProposal]
    /// The largest P-DATA-TF variable field we accept to receive; 0 = unlimited.
    public var maxPDULength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String?
    /// TCP connect plus A-ASSOCIATE-AC/RJ wait.
    public var connectTimeout: TimeAmount
    /// ARTIM (PS3.8 §9.1.5): how long to wait for the peer to close after a release or abort.
    public var artimTimeout: TimeAmount
    /// Extra user information sub-items (role selection, extended negotiation, user identity...) sent as given.
    public var extraUserInformation: [UserInformationSubItem]

    public init(callingAETitle: String = "DICOMTAP", calledAETitle: String = "ANY-SCP",
                contexts: [PresentationContextProposal], maxPDULength: UInt32 = 65536,
                implementationClassUID: String = DICOMTapImplementation.classUID,
                implementationVersionName: String? = DICOMTapImplementation.versionName,
                connectTimeout: TimeAmount = .seconds(30), artimTimeout: TimeAmount = .seconds(30),
                extraUserInformation: [UserInformationSubItem] = []) {
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.contexts = contexts
        self.maxPDULength = maxPDULength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
        self.connectTimeout = connectTimeout
        self.artimTimeout = artimTimeout
        self.extraUserInformation = extraUserInformation
    }

    /// The A-ASSOCIATE-RQ PDU these parameters describe.
    public var associateRequest: AssociateRequest {
        var items: [AssociationItem] = [.applicationContext(ApplicationContextItem())]
        for c in contexts {
            items.append(.presentationContextRequest(
                PresentationContextRequestItem(contextID: c.id, abstractSyntax: c.abstractSyntax, transferSyntaxes: c.transferSyntaxes)))
        }
        var sub: [UserInformationSubItem] = [.maximumLength(MaximumLengthSubItem(maximumLength: maxPDULength)),
                                             .implementationClassUID(WireString(implementationClassUID))]
        sub.append(contentsOf: extraUserInformation.filter { if case .sopClassExtendedNegotiation = $0 { return false } else { return true } }
            .filter { if case .userIdentityRequest = $0 { return false } else { return true } })
        if let implementationVersionName { sub.append(.implementationVersionName(WireString(implementationVersionName))) }
        // Order within user information: 51, 52, 53, 54, 55, 56, 57, 58 (PS3.7 D.3.3); keep it.
        sub.append(contentsOf: extraUserInformation.filter { if case .sopClassExtendedNegotiation = $0 { return true } else { return false } })
        sub.append(contentsOf: extraUserInformation.filter { if case .userIdentityRequest = $0 { return true } else { return false } })
        items.append(.userInformation(UserInformationItem(subItems: sub)))
        return AssociateRequest(fields: AssociationPDUFields(calledAETitle: calledAETitle, callingAETitle: callingAETitle, items: items))
    }
}

/// A presentation context the peer accepted, with the transfer syntax and dataset encoding it chose.
public struct AcceptedContext: Sendable, Hashable {
    public let id: UInt8
    public let abstractSyntax: String
    public let transferSyntax: String
    /// How data sets on this context are encoded (deflate is in `transferSyntax`).
    public let syntax: TransferSyntax

    public init(id: UInt8, abstractSyntax: String, transferSyntax: String) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntax = transferSyntax
        self.syntax = TransferSyntax(uid: transferSyntax, lenient: true) ?? .explicitVRLittleEndian
    }

    public var encoding: DatasetEncoding { syntax.encoding }

    /// Decodes a data set received on this context (inflating first for Deflated Explicit VR LE).
    public func decode(_ bytes: ByteBuffer, options: DecodingOptions = .lenient) throws(DICOMDecodingError) -> Dataset {
        var body = bytes
        if syntax.isDeflated { body = try Deflate.inflate(bytes, maxSize: options.maxInflatedSize, offset: 0) }
        return try DatasetDecoder(options: options).decode(body, encoding: syntax.encoding)
    }

    /// Encodes a data set for this context (deflating for Deflated Explicit VR LE).
    public func encode(_ dataset: Dataset) throws(DICOMDecodingError) -> ByteBuffer {
        let body = try DatasetEncoder().encode(dataset, encoding: syntax.encoding)
        return syntax.isDeflated ? try Deflate.deflate(body) : body
    }

    /// The contexts an A-ASSOCIATE-AC accepted, matched with the request's abstract syntaxes.
    public static func accepted(request: AssociateRequest, accept: AssociateAccept) -> [AcceptedContext] {
        var abstract: [UInt8: String] = [:]
        for p in request.presentationContexts { abstract[p.contextID] = p.abstractSyntax ?? "" }
        return accept.presentationContexts.compactMap { p in
            guard p.result == .acceptance, let a = abstract[p.contextID], let ts = p.transferSyntax else { return nil }
            return AcceptedContext(id: p.contextID, abstractSyntax: a, transferSyntax: ts)
        }
    }
}

/// Why an association could not be used.
public enum AssociationError: Error, Sendable, CustomStringConvertible {
    /// The whole sentence, e.g. `cannot connect to 127.0.0.1:104: connection refused` (see `SocketFailure`).
    case connectionFailed(String)
    case rejected(AssociateReject)
    case aborted(source: UInt8, reason: UInt8)
    case timedOut(String)
    case protocolViolation(String)
    case closedByPeer
    case notEstablished(String)

    public var description: String {
        switch self {
        case .connectionFailed(let why): why
        case .rejected(let rj): "association rejected: \(rj)"
        case .aborted(let source, let reason):
            "association aborted (A-ABORT source \(source) \(source == 0 ? "service-user" : source == 2 ? "service-provider" : "reserved"), reason \(reason))"
        case .timedOut(let what): "timed out: \(what)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .closedByPeer: "the peer closed the connection"
        case .notEstablished(let what): "no association: \(what)"
        }
    }
}

/// Receives every PDU of an association in both directions, as sent and received, with wall-clock times
/// (for `AssociationObserver`-based dumps and recordings). Called on the connection's event loop.
public struct AssociationTap: Sendable {
    public let onPDU: @Sendable (_ pdu: PDU, _ frame: PDUFrame, _ from: PeerRole, _ at: Timestamp) -> Void
    /// Called once when the connection has closed, whatever ended it.
    public let onClose: @Sendable (_ at: Timestamp) -> Void
    public init(_ onPDU: @escaping @Sendable (PDU, PDUFrame, PeerRole, Timestamp) -> Void,
                onClose: @escaping @Sendable (Timestamp) -> Void = { _ in }) {
        self.onPDU = onPDU
        self.onClose = onClose
    }
}
