import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMStore
import DICOMUL
import DIMSE
import Logging
import NIOCore

/// Our Relevant Patient Information Query SCP (PS3.4 Annex Q) over an `RPIStore`:
/// one match → one Pending identifier then Success; none → Success; several → 0xC100;
/// a template we cannot build → 0xC200; a bad identifier → 0xA900 with Offending Element; C-CANCEL → 0xFE00.
package struct RPIService: DICOMServiceHandler {
    package let store: RPIStore
    package let logger: Logger
    /// Wait this long before answering each query (a slow SCP, for testing SCU timeouts and C-CANCEL).
    package let responseDelay: Duration?
    /// Leave Patient IDs out of the log (`serve --redact-identifiers`).
    package let redactIdentifiers: Bool

    package init(store: RPIStore, logger: Logger = Logger(label: "dicomtap.serve"), responseDelay: Duration? = nil,
                redactIdentifiers: Bool = false) {
        self.store = store
        self.logger = logger
        self.responseDelay = responseDelay
        self.redactIdentifiers = redactIdentifiers
    }

    /// Our codes in the "unable to process" range C000H–CFFFH (PS3.4 Table Q.2-1), one per cause.
    private static let storeLookupFailed: UInt16 = 0xC001
    private static let identifierNotEncodable: UInt16 = 0xC002

    /// Relevant Patient Information identifiers are a few kilobytes: a 1 MiB data set is already far too large.
    package static let messageLimits = MessageAssembler.Configuration(maximumDataSetLength: 1 << 20)

    /// The contexts `serve` accepts: the three query SOP classes and Verification, each in Explicit VR LE,
    /// Implicit VR LE, Deflated Explicit VR LE and Explicit VR BE (in that order of preference).
    package static let supportedContexts: [String: [String]] = {
        let syntaxes = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid,
                        TransferSyntax.deflatedExplicitVRLittleEndian.uid, TransferSyntax.explicitVRBigEndian.uid]
        var contexts: [String: [String]] = [CEchoRequest.verificationSOPClassUID: syntaxes]
        for model in RPIQueryModel.allCases { contexts[model.sopClassUID] = syntaxes }
        return contexts
    }()

    package func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard case .cFindRequest(let find) = request.command else {
            // Only C-FIND is offered on these contexts; anything else is refused with "unrecognized operation".
            try await refuse(request, responder: responder)
            return
        }
        func respond(_ status: UInt16, identifier: ByteBuffer? = nil, offending: [Tag]? = nil, comment: String? = nil) async throws {
            let rsp = CFindResponse(messageIDBeingRespondedTo: find.messageID, status: status, affectedSOPClassUID: find.affectedSOPClassUID,
                                    hasDataSet: identifier != nil, offendingElement: offending,
                                    errorComment: comment.map(ErrorComment.fitting))
            try await responder.send(.cFindResponse(rsp), dataSet: identifier)
        }
        let messageID = find.messageID
        var log = logger
        log[metadataKey: DICOMLogKey.associationID] = .string(DICOMLogKey.number(association.connection))
        /// `"CALLING" -> "CALLED" from ADDRESS: C-FIND msg 1 General, patient 1234567, TID 9007`: the line's head.
        var about = "\(association.peerDescription): C-FIND msg \(messageID)"
        guard let model = RPIQueryModel(sopClassUID: find.affectedSOPClassUID),
              let context = association.context(id: request.presentationContextID) else {
            try await respond(StatusCode.sopClassNotSupported, comment: "SOP class \(find.affectedSOPClassUID) not supported")
            log.notice("\(about): 0x0122 SOP class not supported (\(find.affectedSOPClassUID))")
            return
        }
        about += " \(model.rawValue)"
        guard let bytes = request.dataSetBytes else {
            try await respond(StatusCode.identifierDoesNotMatchSOPClass, comment: "C-FIND request without an identifier")
            log.notice("\(about): 0xA900 request without an identifier")
            return
        }
        let identifier: Dataset
        do throws(DICOMDecodingError) {
            identifier = try context.decode(bytes)
        } catch {
            try await respond(StatusCode.identifierDoesNotMatchSOPClass, comment: "identifier not decodable: \(error.code)")
            log.notice("\(about): 0xA900 identifier not decodable: \(error)")
            return
        }
        about += describe(identifier)
        if let responseDelay {
            try await Task.sleep(for: responseDelay)
        }
        let outcome: RPIFindOutcome
        do {
            outcome = try store.find(identifier: identifier, model: model)
        } catch {
            try await respond(Self.storeLookupFailed, comment: "unable to process: store lookup failed")
            log.error("\(about): 0xC001 store lookup failed: \(error)")
            return
        }
        if association.isCancelled(messageID: messageID) {
            try await respond(StatusCode.cancel)
            log.info("\(about): 0xFE00 cancelled")
            return
        }
        switch outcome {
        case .match(let dataset):
            let encoded: ByteBuffer
            do throws(DICOMDecodingError) {
                encoded = try context.encode(dataset)
            } catch {
                try await respond(Self.identifierNotEncodable, comment: "unable to process: identifier not encodable")
                log.error("\(about): 0xC002 response identifier not encodable: \(error)")
                return
            }
            try await respond(StatusCode.pending, identifier: encoded)
            let final: UInt16 = association.isCancelled(messageID: messageID) ? StatusCode.cancel : StatusCode.success
            try await respond(final)
            log.info("\(about): one match, \(final == StatusCode.success ? "0x0000 Success" : "0xFE00 cancelled")")
        case .noMatch:
            try await respond(StatusCode.success)
            log.info("\(about): no match, 0x0000 Success")
        case .multipleMatches(let count):
            try await respond(RelevantPatientInformationQuery.Status.moreThanOneMatch, comment: outcome.errorComment)
            log.notice("\(about): 0xC100 \(count) patients match (the SCU should give the Issuer of Patient ID)")
        case .templateUnsupported(let why):
            try await respond(RelevantPatientInformationQuery.Status.unableToSupportRequestedTemplate, comment: outcome.errorComment)
            log.notice("\(about): 0xC200 template not supported: \(why)")
        case .invalidIdentifier(let offending, let comment):
            try await respond(StatusCode.identifierDoesNotMatchSOPClass, offending: offending, comment: outcome.errorComment)
            log.notice("\(about): 0xA900 identifier does not match the SOP class: \(comment)")
        }
    }

    /// `, patient 1234567, TID 9007` (the Patient ID left out with `redactIdentifiers`).
    private func describe(_ identifier: Dataset) -> String {
        var out = ""
        if let id = identifier[Tag.patientID]?.string(), !id.isEmpty {
            out += redactIdentifiers ? ", patient (redacted)" : ", patient \(id)"
        }
        if let item = identifier[Tag.contentTemplateSequence]?.items?.first?.dataset,
           let tid = item[Tag.templateIdentifier]?.string(), !tid.isEmpty {
            out += ", TID \(tid)"
        }
        return out
    }

    /// Any other request on our contexts: the response of the same service with 0x0211 Unrecognized Operation.
    private func refuse(_ request: DIMSEMessageAssembly, responder: DIMSEResponder) async throws {
        guard let response = request.command.failureResponse(status: StatusCode.unrecognizedOperation,
                                                              comment: "only C-FIND and C-ECHO are served here") else { return }
        try await responder.send(response, dataSet: nil)
    }
}
