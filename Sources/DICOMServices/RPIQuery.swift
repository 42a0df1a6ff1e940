import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMStore
import DICOMUL
import DIMSE
import NIOCore

/// One Relevant Patient Information Query (PS3.4 Annex Q) as our SCU sends it.
package struct RPIQuery: Sendable {
    package var patientID: String
    package var issuer: String?
    package var model: RPIQueryModel
    /// Template Identifier (0040,DB00) asked for; nil sends the model's default (9007, 9000, 3802).
    package var template: String?
    /// Send Content Template Sequence (Annex Q requires it; leaving it out tests an SCP's 0xA900).
    package var includesTemplate = true
    package var callingAETitle: String
    package var calledAETitle: String
    package var maxPDULength: UInt32
    /// Proposed transfer syntaxes, in order.
    package var transferSyntaxes: [String]
    /// How long to wait for the final response before sending C-CANCEL; nil waits for ever.
    package var timeout: TimeAmount?
    package var connectTimeout: TimeAmount
    /// TLS to the SCP (PS3.15 B.12); nil: plain DICOM.
    package var tls: TLSContext?

    package init(patientID: String, issuer: String? = nil, model: RPIQueryModel = .general, template: String? = nil,
                callingAETitle: String = "DICOMTAP", calledAETitle: String = "ANY-SCP", maxPDULength: UInt32 = 65536,
                transferSyntaxes: [String] = PresentationContextProposal.defaultTransferSyntaxes,
                timeout: TimeAmount? = nil, connectTimeout: TimeAmount = .seconds(30)) {
        self.patientID = patientID
        self.issuer = issuer
        self.model = model
        self.template = template
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.maxPDULength = maxPDULength
        self.transferSyntaxes = transferSyntaxes
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// The request identifier: the patient's keys, the return keys (empty), and Content Template Sequence
    /// naming the template (PS3.4 §Q.2.1.1.3; the seed document's identifier plus birth date and sex).
    package func identifier(characterSet: SpecificCharacterSet = .default) -> Dataset {
        var ds = Dataset()
        if patientID.unicodeScalars.contains(where: { !$0.isASCII }) || (issuer ?? "").unicodeScalars.contains(where: { !$0.isASCII }) {
            ds.set(DataElement(tag: Tag.specificCharacterSet, vr: .CS, string: "ISO_IR 192")!)
        }
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        ds.set(.empty(Tag.patientName, vr: .PN))
        if let id = DataElement(tag: Tag.patientID, vr: .LO, string: patientID, characterSet: utf8) { ds.set(id) }
        if let issuer, let element = DataElement(tag: Tag.issuerOfPatientID, vr: .LO, string: issuer, characterSet: utf8) { ds.set(element) }
        ds.set(.empty(Tag.patientBirthDate, vr: .DA))
        ds.set(.empty(Tag.patientSex, vr: .CS))
        if includesTemplate {
            var item = Dataset()
            item.set(DataElement(tag: Tag.mappingResource, vr: .CS, string: "DCMR")!)
            // A template that CS cannot carry (not ASCII) falls back to the model's; `dicomtap query` validates it first.
            item.set(DataElement(tag: Tag.templateIdentifier, vr: .CS, string: template ?? model.defaultTemplate)
                     ?? DataElement(tag: Tag.templateIdentifier, vr: .CS, string: model.defaultTemplate)!)
            ds.set(.sequence(Tag.contentTemplateSequence, items: [item]))
        }
        return ds
    }
}

/// One C-FIND-RSP as received.
package struct RPIQueryResponse: Sendable {
    package var status: UInt16
    package var meaning: DIMSEStatus
    package var identifier: Dataset?
    /// Offending Element and Error Comment, if the SCP sent them.
    package var offendingElements: [Tag]?
    package var errorComment: String?
    package var receivedAt: Timestamp
}

/// What happened to a query.
package struct RPIQueryResult: Sendable {
    package enum Ending: Sendable, Equatable {
        /// The final response arrived (its category tells success, cancel, failure...).
        case completed
        /// No final response within the timeout; we sent C-CANCEL (and got `cancelAnswered`).
        case timedOut(cancelAnswered: Bool)
    }
    package var request: Dataset
    package var context: AcceptedContext
    package var responses: [RPIQueryResponse]
    package var ending: Ending
    package var startedAt: Timestamp
    package var finishedAt: Timestamp
    /// The TLS session the query ran in; nil without TLS.
    package var tls: TLSSessionInfo? = nil

    package var finalStatus: RPIQueryResponse? { responses.last { $0.meaning.category.isFinal } }
    package var matches: [Dataset] { responses.filter { $0.meaning.category == .pending }.compactMap(\.identifier) }
}

/// The query errors a user sees, with what to do about them.
package enum RPIQueryError: Error, CustomStringConvertible {
    case noAcceptedContext(model: RPIQueryModel, calledAE: String)
    case association(AssociationError)
    case identifierNotDecodable(String)

    package var description: String {
        switch self {
        case .noAcceptedContext(let model, let called):
            "\(called) accepted no presentation context for \(UIDRegistry.name(for: model.sopClassUID) ?? model.sopClassUID) (\(model.sopClassUID))"
        case .association(let error): "\(error)"
        case .identifierNotDecodable(let why): "a response identifier could not be decoded: \(why)"
        }
    }
}

extension RPIQuery {
    /// The association the query proposes: its AE titles, one presentation context for its model, its limits.
    package var associationParameters: AssociationParameters {
        AssociationParameters(
            callingAETitle: callingAETitle, calledAETitle: calledAETitle,
            contexts: [PresentationContextProposal(id: 1, abstractSyntax: model.sopClassUID, transferSyntaxes: transferSyntaxes)],
            maxPDULength: maxPDULength, connectTimeout: connectTimeout)
    }

    /// Associates, sends the C-FIND, collects every response until the final one (or the timeout, then C-CANCEL),
    /// and releases. `onResponse` sees each response as it arrives.
    package func run(host: String, port: Int, tap: AssociationTap? = nil,
                    onResponse: @Sendable (RPIQueryResponse) -> Void = { _ in }) async throws -> RPIQueryResult {
        let parameters = associationParameters
        let client: DICOMClient
        do {
            client = try await DICOMClient.connect(host: host, port: port, parameters: parameters, tap: tap, tls: tls)
        } catch let error as AssociationError {
            throw RPIQueryError.association(error)
        }
        guard let context = client.context(for: model.sopClassUID) else {
            try? await client.release()
            throw RPIQueryError.noAcceptedContext(model: model, calledAE: calledAETitle)
        }
        do {
            let result = try await exchange(client: client, context: context, onResponse: onResponse)
            try await client.release()
            return result
        } catch let error as AssociationError {
            await client.abort()
            throw RPIQueryError.association(error)
        } catch {
            await client.abort()
            throw error
        }
    }

    /// Sends the C-FIND on an association already established (several queries on one association) and collects
    /// its responses as `run(host:port:)` does; the association stays open.
    package func run(on client: DICOMClient) async throws -> RPIQueryResult {
        guard let context = client.context(for: model.sopClassUID) else {
            throw RPIQueryError.noAcceptedContext(model: model, calledAE: calledAETitle)
        }
        return try await exchange(client: client, context: context, onResponse: { _ in })
    }

    private func exchange(client: DICOMClient, context: AcceptedContext,
                          onResponse: @Sendable (RPIQueryResponse) -> Void) async throws -> RPIQueryResult {
        let request = identifier()
        let messageID = client.nextMessageID()
        let started = Timestamp.wallClock()
        try await client.send(.cFindRequest(CFindRequest(messageID: messageID, affectedSOPClassUID: model.sopClassUID)),
                              dataSet: try context.encode(request), contextID: context.id)
        var responses: [RPIQueryResponse] = []
        var ending = RPIQueryResult.Ending.completed
        let deadline = timeout.map { NIODeadline.now() + $0 }
        var cancelled = false
        while true {
            let wait: TimeAmount? = cancelled ? .seconds(10) : deadline.map { max(.zero, $0 - .now()) }
            let message: DIMSEMessageAssembly?
            do {
                message = try await client.receive(timeout: wait)
            } catch AssociationError.timedOut {
                if cancelled {
                    ending = .timedOut(cancelAnswered: false)
                    break
                }
                cancelled = true
                ending = .timedOut(cancelAnswered: false)
                try await client.send(.cCancelRequest(CCancelRequest(messageIDBeingRespondedTo: messageID)), dataSet: nil,
                                      contextID: context.id)
                continue
            }
            guard let message else { throw AssociationError.closedByPeer }
            guard case .cFindResponse(let rsp) = message.command, rsp.messageIDBeingRespondedTo == messageID else { continue }
            var identifier: Dataset?
            if let bytes = message.dataSetBytes {
                do throws(DICOMDecodingError) {
                    identifier = try context.decode(bytes)
                } catch {
                    throw RPIQueryError.identifierNotDecodable("\(error)")
                }
            }
            let response = RPIQueryResponse(status: rsp.status,
                                            meaning: DIMSEStatus.lookup(rsp.status, commandField: .cFindResponse, sopClassUID: model.sopClassUID),
                                            identifier: identifier, offendingElements: rsp.offendingElement,
                                            errorComment: rsp.errorComment, receivedAt: .wallClock())
            responses.append(response)
            onResponse(response)
            if response.meaning.category.isFinal {
                if cancelled { ending = .timedOut(cancelAnswered: true) }
                break
            }
        }
        return RPIQueryResult(request: request, context: context, responses: responses, ending: ending,
                              startedAt: started, finishedAt: .wallClock(), tls: client.tls)
    }
}
