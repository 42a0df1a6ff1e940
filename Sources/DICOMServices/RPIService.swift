import DICOMCore
import DICOMNetwork
import DICOMStore
import DICOMUL
import DIMSE
import Logging
import NIOCore

/// Our Relevant Patient Information Query SCP (PS3.4 Annex Q) over an `RPIStore`:
/// one match → one Pending identifier then Success; none → Success; several → 0xC100;
/// a template we cannot build → 0xC200; a bad identifier → 0xA900 with Offending Element; C-CANCEL → 0xFE00.
public struct RPIService: DICOMServiceHandler {
    public let store: RPIStore
    public let logger: Logger
    /// Wait this long before answering each query (a slow SCP, for testing SCU timeouts and C-CANCEL).
    public let responseDelay: Duration?

    public init(store: RPIStore, logger: Logger = Logger(label: "dicomtap.serve"), responseDelay: Duration? = nil) {
        self.store = store
        self.logger = logger
        self.responseDelay = responseDelay
    }

    /// Relevant Patient Information identifiers are a few kilobytes: a 1 MiB data set is already far too large.
    public static let messageLimits = MessageAssembler.Configuration(maximumDataSetLength: 1 << 20)

    /// The contexts `serve` accepts: the three query SOP classes and Verification, each in Explicit VR LE,
    /// Implicit VR LE, Deflated Explicit VR LE and Explicit VR BE (in that order of preference).
    public static let supportedContexts: [String: [String]] = {
        let syntaxes = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid,
                        TransferSyntax.deflatedExplicitVRLittleEndian.uid, TransferSyntax.explicitVRBigEndian.uid]
        var contexts: [String: [String]] = [CEchoRequest.verificationSOPClassUID: syntaxes]
        for model in RPIQueryModel.allCases { contexts[model.sopClassUID] = syntaxes }
        return contexts
    }()

    public func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard case .cFindRequest(let find) = request.command else {
            // Only C-FIND is offered on these contexts; anything else is refused with "unrecognized operation".
            try await refuse(request, responder: responder)
            return
        }
        func respond(_ status: UInt16, identifier: ByteBuffer? = nil, offending: [Tag]? = nil, comment: String? = nil) async throws {
            let rsp = CFindResponse(messageIDBeingRespondedTo: find.messageID, status: status, affectedSOPClassUID: find.affectedSOPClassUID,
                                    hasDataSet: identifier != nil, offendingElement: offending,
                                    errorComment: comment.map { String($0.prefix(64)) })
            try await responder.send(.cFindResponse(rsp), dataSet: identifier)
        }
        let messageID = find.messageID
        var log = logger
        log[metadataKey: "association"] = "\(association.connection)"
        log[metadataKey: "message"] = "\(messageID)"
        guard let model = RPIQueryModel(sopClassUID: find.affectedSOPClassUID),
              let context = association.context(id: request.presentationContextID) else {
            try await respond(0x0122, comment: "SOP class \(find.affectedSOPClassUID) not supported")
            return
        }
        guard let bytes = request.dataSetBytes else {
            try await respond(0xA900, comment: "C-FIND request without an identifier")
            return
        }
        let identifier: Dataset
        do throws(DICOMDecodingError) {
            identifier = try context.decode(bytes)
        } catch {
            log.warning("identifier not decodable", metadata: ["error": "\(error)"])
            try await respond(0xA900, comment: "identifier not decodable: \(error.code)")
            return
        }
        if let responseDelay {
            try await Task.sleep(for: responseDelay)
        }
        let outcome: RPIFindOutcome
        do {
            outcome = try store.find(identifier: identifier, model: model)
        } catch {
            log.error("store lookup failed", metadata: ["error": "\(error)"])
            try await respond(0xC001, comment: "unable to process: store lookup failed")
            return
        }
        if association.isCancelled(messageID: messageID) {
            try await respond(0xFE00)
            return
        }
        switch outcome {
        case .match(let dataset):
            let encoded: ByteBuffer
            do throws(DICOMDecodingError) {
                encoded = try context.encode(dataset)
            } catch {
                log.error("response identifier not encodable", metadata: ["error": "\(error)"])
                try await respond(0xC002, comment: "unable to process: identifier not encodable")
                return
            }
            try await respond(0xFF00, identifier: encoded)
            try await respond(association.isCancelled(messageID: messageID) ? 0xFE00 : 0x0000)
            log.info("C-FIND one match", metadata: ["model": "\(model.rawValue)"])
        case .noMatch:
            try await respond(0x0000)
            log.info("C-FIND no match", metadata: ["model": "\(model.rawValue)"])
        case .multipleMatches(let count):
            try await respond(0xC100, comment: "\(count) patients match")
            log.info("C-FIND more than one match", metadata: ["model": "\(model.rawValue)", "matches": "\(count)"])
        case .templateUnsupported(let why):
            try await respond(0xC200, comment: why)
            log.info("C-FIND template not supported", metadata: ["why": "\(why)"])
        case .invalidIdentifier(let offending, let comment):
            try await respond(0xA900, offending: offending, comment: comment)
            log.info("C-FIND identifier does not match the SOP class", metadata: ["why": "\(comment)"])
        }
    }

    /// Any other request on our contexts: the response of the same service with 0x0211 Unrecognized Operation.
    private func refuse(_ request: DIMSEMessageAssembly, responder: DIMSEResponder) async throws {
        guard let response = request.command.failureResponse(status: 0x0211,
                                                              comment: "only C-FIND and C-ECHO are served here") else { return }
        try await responder.send(response, dataSet: nil)
    }
}
