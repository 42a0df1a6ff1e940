import DICOMCapture
import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMUL
import Foundation
import DIMSE
import NIOCore

/// Why a capture, or one association of it, cannot be replayed. Every code names what is
/// missing and where (capture file, association number as `analyze` numbers them).
package struct ReplayError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// The capture could not be read.
        package static let unreadableCapture = Code(rawValue: "unreadable-capture")
        /// The capture holds no association that can be replayed.
        package static let noCompleteAssociation = Code(rawValue: "no-complete-association")
        /// `--association N` names an association the capture does not have.
        package static let noSuchAssociation = Code(rawValue: "no-such-association")
        /// The capture starts after the A-ASSOCIATE-RQ: the proposed contexts are unknown.
        package static let missingAssociateRequest = Code(rawValue: "missing-associate-request")
        /// The A-ASSOCIATE-RQ is there but no A-ASSOCIATE-AC (nor RJ) answers it.
        package static let missingAssociateAccept = Code(rawValue: "missing-associate-accept")
        /// The recorded association was rejected: there is nothing to replay.
        package static let rejectedInRecording = Code(rawValue: "rejected-in-recording")
        /// The recorded association was aborted by the acceptor: its answers are incomplete.
        package static let abortedInRecording = Code(rawValue: "aborted-in-recording")
        /// Bytes are missing or undecodable in the recording (gaps, framing errors) or a
        /// request has no final response: replaying it would compare against a partial record.
        package static let incompleteRecording = Code(rawValue: "incomplete-recording")
        /// The new peer rejected the association.
        package static let associationRejected = Code(rawValue: "association-rejected")
        /// The new peer aborted the association (A-ABORT) before the replay ended.
        package static let associationAborted = Code(rawValue: "association-aborted")
        /// Connecting to, or talking with, the new peer failed (refused, closed, timed out).
        package static let networkFailure = Code(rawValue: "network-failure")
        /// A recorded message could not be re-encoded for the new association.
        package static let unencodableMessage = Code(rawValue: "unencodable-message")
        /// Invalid options (keys, tags, addresses).
        package static let invalidOption = Code(rawValue: "invalid-option")
    }

    package var code: Code
    package var message: String
    /// The capture file concerned, when known.
    package var capture: String?
    /// The association concerned (1-based, as `analyze` numbers them).
    package var association: Int?

    package init(_ code: Code, _ message: String, capture: String? = nil, association: Int? = nil) {
        self.code = code
        self.message = message
        self.capture = capture
        self.association = association
    }

    package var description: String {
        var where_: [String] = []
        if let capture { where_.append(capture) }
        if let association { where_.append("association \(association)") }
        return (where_.isEmpty ? "" : where_.joined(separator: ", ") + ": ") + message
    }
}

/// A DIMSE message as recorded: command, data set bytes in the recorded transfer syntax,
/// the data set decoded, and when it was seen.
package struct RecordedMessage: Sendable {
    package var presentationContextID: UInt8
    package var command: DIMSECommand
    package var commandBytes: ByteBuffer
    /// The data set's bytes, when kept in memory (a short one).
    package var dataSetBytes: ByteBuffer?
    /// A long data set's bytes, in the recording's spool file.
    package var dataSetSpooled: SpooledBytes?
    /// The data set, decoded (values over the bulk threshold as references).
    package var dataSet: Dataset?
    package var transferSyntax: TransferSyntax?
    /// First and last fragment on the wire.
    package var firstFragmentTime: Timestamp
    package var time: Timestamp

    package init(presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer, dataSetBytes: ByteBuffer?,
                dataSet: Dataset?, transferSyntax: TransferSyntax?, firstFragmentTime: Timestamp, time: Timestamp) {
        self.presentationContextID = presentationContextID
        self.command = command
        self.commandBytes = commandBytes
        self.dataSetBytes = dataSetBytes
        self.dataSet = dataSet
        self.transferSyntax = transferSyntax
        self.firstFragmentTime = firstFragmentTime
        self.time = time
    }

    init(_ m: ObservedMessage) {
        self.init(presentationContextID: m.presentationContextID, command: m.command, commandBytes: m.commandBytes,
                  dataSetBytes: m.dataSetBytes, dataSet: m.dataSet, transferSyntax: m.transferSyntax,
                  firstFragmentTime: m.firstFragmentTime, time: m.time)
        dataSetSpooled = m.dataSetSpooled
    }

    /// Whether the message has a data set (in memory or spooled).
    package var hasDataSet: Bool { dataSetBytes != nil || dataSetSpooled != nil }

    package var status: UInt16? { command.status }
    package var statusCategory: DIMSEStatus.Category? { command.status.map { DIMSEStatus.category(of: $0) } }
}

extension RecordedMessage {
    /// The data set to send on `context` (an SCU replay's request, a replayed SCP's response or
    /// sub-operation): the recorded bytes when the transfer syntax is the same, else the decoded
    /// data set re-encoded in the context's. `what` names the message in errors.
    func dataSet(for context: AcceptedContext, what: String, association: Int?) throws(ReplayError) -> DataSetSource? {
        if let spooled = dataSetSpooled {
            // A long recorded data set is read from the spool as it is sent; only another transfer
            // syntax makes it decoded (and so read) whole.
            if transferSyntax?.uid == context.transferSyntax {
                return .pieces(length: spooled.length) { offset, count in try spooled.read(from: offset, length: count) }
            }
            let whole: Dataset
            do {
                let bytes = try spooled.readAll()
                guard let ts = transferSyntax else { throw ReplayError(.unencodableMessage, "unknown transfer syntax") }
                var plain = bytes
                if ts.isDeflated { plain = try Deflate.inflate(bytes, maxSize: DecodingOptions.lenient.maxInflatedSize, offset: 0) }
                whole = try DatasetDecoder(options: .lenient).decode(plain, encoding: ts.encoding)
            } catch {
                throw ReplayError(.unencodableMessage, "\(what): the recorded data set could not be read again to re-encode it in "
                                  + "\(context.syntax.name): \(error)", association: association)
            }
            return try encode(whole, for: context, what: what, association: association)
        }
        guard let bytes = dataSetBytes else {
            guard !command.hasDataSet else {
                throw ReplayError(.unencodableMessage, "\(what): the capture holds no data set for it although its command announces one "
                                  + "(cut off in the capture, or not kept: see `dicomtap analyze` on it)", association: association)
            }
            return nil
        }
        if transferSyntax?.uid == context.transferSyntax { return .bytes(bytes) }
        guard let dataSet else {
            throw ReplayError(.unencodableMessage, "\(what): the recorded data set could not be decoded, so it cannot be "
                              + "re-encoded in \(context.syntax.name)", association: association)
        }
        return try encode(dataSet, for: context, what: what, association: association)
    }

    private func encode(_ dataSet: Dataset, for context: AcceptedContext, what: String,
                        association: Int?) throws(ReplayError) -> DataSetSource {
        do {
            return .bytes(try context.encode(dataSet))
        } catch {
            throw ReplayError(.unencodableMessage, "\(what): cannot encode the data set in \(context.syntax.name): \(error)",
                              association: association)
        }
    }
}

/// A recorded C-CANCEL-RQ and its moment, expressed so that a replay can reproduce it on a
/// new peer: after as many responses to the cancelled request as had arrived when it was
/// sent, plus the time the requestor waited after the last of them (or after the request).
package struct RecordedCancel: Sendable {
    package var message: RecordedMessage
    /// Responses to the cancelled request received before the C-CANCEL-RQ was sent.
    package var afterResponses: Int
    /// Time from the last of those responses (or from the request when none) to the C-CANCEL-RQ.
    package var delay: Duration
}

/// One recorded request with its responses, as the requestor sent it.
package struct RecordedRequest: Sendable {
    /// Position in the association (0-based, in the order the requests were sent).
    package var index: Int
    /// Who sent the request (the requestor normally; the acceptor for C-STORE sub-operations of a C-GET).
    package var sender: PeerRole
    package var message: RecordedMessage
    package var responses: [RecordedMessage]
    package var cancel: RecordedCancel?
    /// The request's presentation context abstract syntax as negotiated.
    package var abstractSyntax: String
    /// Indices of the earlier requests (same sender) whose final response had arrived before
    /// this request was sent: a replay waits for them before sending it.
    package var waitsFor: [Int]
    /// Think time: from the later of the previous request and the last awaited final response
    /// to this request's first fragment. `--pace recorded` sleeps it.
    package var thinkTime: Duration
    /// Per response: time from the previous event (request or earlier response) to its first
    /// fragment, for an SCP replayed at recorded pace.
    package var responseDelays: [Duration]
    /// Requests the other side sent while this one was open (the C-STORE sub-operations of a
    /// C-GET), by index.
    package var subOperations: [Int] = []

    package var messageID: UInt16 { message.command.messageID ?? 0 }
    package var commandField: CommandField? { message.command.commandField }
    package var sopClassUID: String? { message.command.sopClassUID }
    /// The final response, when the recording has one.
    package var finalResponse: RecordedMessage? {
        guard let last = responses.last, last.statusCategory?.isFinal ?? true else { return nil }
        return last
    }
    package var pendingResponses: [RecordedMessage] { responses.filter { $0.statusCategory == .pending } }
}

/// A presentation context as proposed in the recorded A-ASSOCIATE-RQ and answered in the -AC.
package struct RecordedContext: Sendable, Hashable {
    package var id: UInt8
    package var abstractSyntax: String
    package var proposedTransferSyntaxes: [String]
    package var result: PresentationContextResult?
    package var acceptedTransferSyntax: String?
    package var isAccepted: Bool { result == .acceptance }
}

/// One association as recorded, with what a replay needs: the negotiation, every request in
/// order with its command set and data set bytes, its responses and C-CANCELs with their moment.
package struct RecordedAssociation: Sendable {
    /// 1-based, as `analyze` numbers associations.
    package var index: Int
    package var client: String
    package var server: String
    package var associateRequest: AssociateRequest
    package var associateAccept: AssociateAccept
    package var info: AssociationInfo
    /// Contexts in the order of the A-ASSOCIATE-RQ.
    package var contexts: [RecordedContext]
    package var requests: [RecordedRequest]
    package var outcome: AssociationOutcome
    package var startTime: Timestamp
    /// Time from the last final response (or the acceptance) to the A-RELEASE-RQ / A-ABORT.
    package var closingDelay: Duration
    /// The requestor ended the association with A-ABORT instead of A-RELEASE.
    package var requestorAborted: Bool

    package var callingAETitle: String { associateRequest.fields.callingAETitle.value }
    package var calledAETitle: String { associateRequest.fields.calledAETitle.value }
    package var acceptedContexts: [RecordedContext] { contexts.filter(\.isAccepted) }
    /// Requests sent by the requestor (what an SCU replay sends).
    package var requestorRequests: [RecordedRequest] { requests.filter { $0.sender == .requestor } }
    package func context(id: UInt8) -> RecordedContext? { contexts.first { $0.id == id } }
}

/// The associations of a capture, made ready for replay.
package struct RecordedConversation: Sendable {
    /// The capture file.
    package var source: String
    /// Associations that can be replayed, in start order.
    package var associations: [RecordedAssociation]
    /// Associations that cannot be, each with the reason.
    package var skipped: [ReplayError]
    /// Problems with the capture itself (truncation, no DICOM) from the analyzer, and one note
    /// when User Identity credentials in it were masked (`maskedCredentialsNote`).
    package var warnings: [String]

    /// Reads `path` (any capture `analyze` reads: pcap, pcapng, proxy recordings) with the
    /// capture analyzer and keeps every association. Throws when the file cannot be read or
    /// holds no association that can be replayed.
    package static func load(path: String, dicomPorts: Set<UInt16> = []) throws(ReplayError) -> RecordedConversation {
        var configuration = CaptureAnalyzer.Configuration()
        configuration.dicomPorts.formUnion(dicomPorts)
        configuration.keepEvents = false
        configuration.observer.keepsAssociationPDUs = true
        // Replay keeps every exchange, decodes data sets as they arrive (long values as references, for the
        // comparisons), and keeps the bytes it sends again: short data sets in memory, long ones in a spool file.
        configuration.observer.keepsExchanges = true
        // Every response: an SCP replay sends each one again, an SCU replay compares each one.
        configuration.observer.maximumKeptResponses = .max
        configuration.observer.decodesDataSets = true
        do {
            configuration.observer.spool = try DataSetSpool()
        } catch {
            throw ReplayError(.unreadableCapture, "cannot make a spool file for the recorded data sets in \(NSTemporaryDirectory()): \(error)",
                              capture: path)
        }
        var collected: [CaptureAnalyzer.Association] = []
        let analyzer: CaptureAnalyzer
        do {
            analyzer = try CaptureAnalyzer.analyze(path: path, configuration: configuration) { collected.append($0) }
        } catch {
            // The capture error names the file already: said once, as the replay error's capture.
            throw ReplayError(.unreadableCapture, error.problem, capture: path)
        }
        return try RecordedConversation(source: path, associations: collected,
                                        warnings: analyzer.warnings.map(\.description))
    }

    /// Builds the conversation from associations the analyzer reconstructed (observers
    /// configured with `keepsAssociationPDUs`).
    package init(source: String, associations: [CaptureAnalyzer.Association], warnings: [String] = []) throws(ReplayError) {
        self.source = source
        self.warnings = warnings
        var usable: [RecordedAssociation] = []
        var skipped: [ReplayError] = []
        for a in associations {
            do throws(ReplayError) {
                usable.append(try RecordedAssociation(a, capture: source))
            } catch {
                skipped.append(error)
            }
        }
        self.associations = usable
        self.skipped = skipped
        if let note = Self.maskedCredentialsNote(usable) { self.warnings.append(note) }
        guard !usable.isEmpty else {
            let why = associations.isEmpty
                ? (warnings.isEmpty ? "no DICOM association found" : warnings.joined(separator: "; "))
                : skipped.map(\.description).joined(separator: "; ")
            throw ReplayError(.noCompleteAssociation, "no complete association to replay: \(why)", capture: source)
        }
    }

    /// One warning for the associations whose A-ASSOCIATE-RQ carries User Identity credentials
    /// that are all zeros: `dicomtap proxy` records them so unless `--record-secrets`, and a
    /// replay sends them as recorded.
    static func maskedCredentialsNote(_ associations: [RecordedAssociation]) -> String? {
        let masked = associations.filter { a in
            a.associateRequest.fields.userInformation?.subItems.contains { item in
                if case .userIdentityRequest(let identity) = item { return identity.credentialsAreZeroed }
                return false
            } ?? false
        }
        guard !masked.isEmpty else { return nil }
        let which = masked.count == 1 ? "association \(masked[0].index)" : "associations " + masked.map { "\($0.index)" }.joined(separator: ", ")
        return "the User Identity credentials of \(which) in this recording were masked (zeros of the same length), as "
            + "dicomtap proxy records them unless --record-secrets: a replay --to sends the zeros, and an SCP that checks "
            + "them may refuse the association"
    }

    /// The associations to replay: all of them, or the one `--association` names. When some
    /// associations of the capture cannot be replayed and none was named, that is an error:
    /// a regression run must not silently leave part of the recording out.
    package func selected(_ number: Int?) throws(ReplayError) -> [RecordedAssociation] {
        if let number {
            if let a = associations.first(where: { $0.index == number }) { return [a] }
            if let reason = skipped.first(where: { $0.association == number }) { throw reason }
            let known = (associations.map(\.index) + skipped.compactMap(\.association)).sorted()
            throw ReplayError(.noSuchAssociation, "there is no association \(number) (the capture has "
                              + (known.isEmpty ? "none" : known.map(String.init).joined(separator: ", ")) + ")",
                              capture: source)
        }
        if let first = skipped.first {
            var e = first
            e.message += " (use --association to replay only "
                + associations.map { "\($0.index)" }.joined(separator: ", ") + ")"
            throw e
        }
        return associations
    }
}

extension RecordedAssociation {
    /// Extracts the replayable association, or throws why it cannot be replayed.
    init(_ a: CaptureAnalyzer.Association, capture: String) throws(ReplayError) {
        let observer = a.observer
        let info = observer.info
        func fail(_ code: ReplayError.Code, _ message: String) -> ReplayError {
            ReplayError(code, message, capture: capture, association: a.index)
        }
        if case .rejected(let rj) = info.outcome {
            throw fail(.rejectedInRecording, "the association was rejected in the recording (\(rj)): there is nothing to replay")
        }
        guard !info.startedMidStream, let rq = observer.associateRequest, let requestTime = info.requestTime else {
            throw fail(.missingAssociateRequest, "the capture starts after the A-ASSOCIATE-RQ (mid-association): "
                       + "the proposed presentation contexts are unknown, so it cannot be negotiated again")
        }
        guard let ac = observer.associateAccept else {
            throw fail(.missingAssociateAccept, "the A-ASSOCIATE-RQ has no A-ASSOCIATE-AC in the capture (\(info.outcome))")
        }
        var requestorAborted = false
        switch info.outcome {
        case .released:
            break
        case .aborted(let abort, let by):
            guard by == .requestor else {
                throw fail(.abortedInRecording, "the acceptor aborted the association in the recording (\(abort)): "
                           + "its answers are incomplete")
            }
            requestorAborted = true
        case .negotiating, .established, .releaseRequested, .connectionClosed, .openAtCaptureEnd, .unknownStart, .rejected:
            throw fail(.incompleteRecording, "the association does not end with A-RELEASE or A-ABORT in the capture (\(info.outcome))")
        }
        let lossCodes: Set<Finding.Code> = [.streamGap, .framingLost, .malformedPDU, .dimseAssemblyError,
                                            .commandNotDecodable, .dataSetNotDecodable]
        if let loss = observer.findings.first(where: { lossCodes.contains($0.code) }) {
            throw fail(.incompleteRecording, "the recording is damaged (\(loss.code): \(loss.message))")
        }

        var contexts: [RecordedContext] = []
        for pc in rq.presentationContexts {
            let answer = info.contexts[pc.contextID]
            contexts.append(RecordedContext(id: pc.contextID, abstractSyntax: pc.abstractSyntax ?? "",
                                            proposedTransferSyntaxes: pc.transferSyntaxes, result: answer?.result,
                                            acceptedTransferSyntax: answer?.isAccepted == true ? answer?.transferSyntax : nil))
        }

        var requests: [RecordedRequest] = []
        for ex in observer.exchanges {
            let request = ex.request
            guard ex.finalResponse != nil else {
                throw fail(.incompleteRecording, "\(request.command) got no final response in the recording")
            }
            guard ex.responsesNotKept == 0 else {
                throw fail(.incompleteRecording, "\(request.command): \(ex.responsesNotKept) of its \(ex.responseCount) responses "
                           + "were not kept by the observer (maximumKeptResponses), so they cannot be replayed")
            }
            let contextID = request.presentationContextID
            let responses = ex.responses.map(RecordedMessage.init)
            var delays: [Duration] = []
            var previous = request.time
            for r in ex.responses {
                delays.append(max(.zero, gap(r.firstFragmentTime, previous)))
                previous = r.time
            }
            // Earlier requests of the same sender completed before this one was sent.
            var waits: [Int] = []
            var ready = a.firstTime
            if let accept = info.acceptTime { ready = accept }
            for earlier in requests where earlier.sender == request.sender {
                if let f = earlier.finalResponse, f.time <= request.firstFragmentTime {
                    waits.append(earlier.index)
                    ready = max(ready, f.time)
                }
                ready = max(ready, earlier.message.firstFragmentTime)
            }
            var cancel: RecordedCancel?
            if let c = ex.cancel {
                let before = ex.responses.filter { $0.time <= c.firstFragmentTime }
                cancel = RecordedCancel(message: RecordedMessage(c), afterResponses: before.count,
                                        delay: max(.zero, gap(c.firstFragmentTime, before.last?.time ?? request.time)))
            }
            requests.append(RecordedRequest(index: requests.count, sender: request.sender, message: RecordedMessage(request),
                                            responses: responses, cancel: cancel,
                                            abstractSyntax: info.contexts[contextID]?.abstractSyntax ?? "",
                                            waitsFor: waits, thinkTime: max(.zero, gap(request.firstFragmentTime, ready)),
                                            responseDelays: delays))
        }
        for i in requests.indices where requests[i].sender == .requestor {
            guard let end = requests[i].finalResponse?.time else { continue }
            let start = requests[i].message.time
            requests[i].subOperations = requests.filter {
                $0.sender == .acceptor && $0.message.firstFragmentTime >= start && $0.message.time <= end
            }.map(\.index)
        }
        var lastActivity = info.acceptTime ?? requestTime
        for r in requests { lastActivity = max(lastActivity, r.responses.last?.time ?? r.message.time) }
        let end = info.endTime ?? lastActivity

        self.init(index: a.index, client: a.client.description, server: a.server.description, associateRequest: rq,
                  associateAccept: ac, info: info, contexts: contexts, requests: requests, outcome: info.outcome,
                  startTime: requestTime, closingDelay: max(.zero, gap(end, lastActivity)), requestorAborted: requestorAborted)
    }
}
