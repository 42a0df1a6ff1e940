import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMUL
import DIMSE
import Foundation
import Logging
import NIOCore
import NIOPosix

/// How fast a replay goes.
package enum ReplayPace: String, Sendable, CaseIterable {
    /// Sleep the recorded gaps: the requestor's think time before each request and C-CANCEL,
    /// the acceptor's processing time before each response; each for at most the replay's
    /// `maximumGap` (`defaultMaximumGap`, 60 s), a longer one with a warning.
    case recorded
    /// No waiting beyond what the protocol needs.
    case asap
}

/// Options of `dicomtap replay CAPTURE --to HOST:PORT`.
package struct SCUReplayOptions: Sendable {
    package var host: String
    package var port: Int
    package var pace: ReplayPace = .asap
    /// Replace the recorded calling / called AE titles.
    package var callingAETitle: String?
    package var calledAETitle: String?
    package var comparison = ComparisonOptions()
    /// Max PDU length we announce; nil keeps the recorded requestor's.
    package var maxPDULength: UInt32?
    /// How long to wait for each message from the peer.
    package var responseTimeout: TimeAmount = .seconds(60)
    package var connectTimeout: TimeAmount = .seconds(10)
    /// Per-association annotated dumps and `events.jsonl`.
    package var logDirectory: String?
    /// The longest recorded gap `--pace recorded` sleeps (see `ReplayPace.defaultMaximumGap`).
    package var maximumGap: Duration = ReplayPace.defaultMaximumGap
    /// Send recorded C-MOVE requests (`--allow-move`). A C-MOVE makes the new SCP send real images to
    /// the recorded Move Destination, so without this they are skipped, each with a note saying so.
    package var allowMove = false
    /// TLS to the SCP (PS3.15 B.12); nil: plain DICOM.
    package var tls: TLSContext?

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Replays the SCU side of recorded associations against a new SCP and compares its
/// answers with the recorded ones (a regression test for a PACS upgrade).
///
/// Per association: the recorded presentation contexts are proposed again (same IDs,
/// abstract and transfer syntaxes, the requestor's max PDU length and user information);
/// every recorded request is sent in recorded order with new Message IDs (`nextMessageID()`;
/// C-CANCEL's Message ID Being Responded To follows the map), its data set in the transfer
/// syntax the new peer accepted, fragmented by `DICOMClient` to the new peer's max PDU
/// length; a request waits for the responses its recording waited for; a C-CANCEL goes out
/// after as many responses as it followed in the recording. The association ends as recorded
/// (A-RELEASE-RQ, or A-ABORT when the modality aborted). A recorded C-MOVE is sent only with
/// `allowMove` (it moves real images to its Move Destination); otherwise it is skipped and
/// reported as skipped, not as a difference.
package struct SCUReplayer: Sendable {
    package var options: SCUReplayOptions
    package var logger: Logger

    package init(options: SCUReplayOptions, logger: Logger = Logger(label: "dicomtap.replay")) {
        self.options = options
        self.logger = logger
    }

    /// Replays the selected associations: one after the other with `--pace asap`; with
    /// `--pace recorded` each starts at its recorded offset from the first (at most
    /// `maximumGap`), so associations that overlapped in the recording overlap again.
    package func replay(_ conversation: RecordedConversation, association: Int? = nil) async throws(ReplayError) -> ReplayReport {
        let selected = try conversation.selected(association)
        let log = try ReplayLog(directory: options.logDirectory)
        var results: [AssociationReplayResult] = []
        if options.pace == .recorded, selected.count > 1, let first = selected.map(\.startTime).min() {
            results = await withTaskGroup(of: (Int, AssociationReplayResult).self) { group in
                for (i, a) in selected.enumerated() {
                    group.addTask {
                        let offset = PacedGap(gap(a.startTime, first), cap: options.maximumGap)
                        try? await Task.sleep(for: offset.sleep)
                        var result = await replay(a, log: log)
                        if let warning = offset.warning("the start after the first association's", association: a.index) {
                            logger.warning("\(warning)")
                            result.notes.insert(warning, at: 0)
                        }
                        return (i, result)
                    }
                }
                var byPosition: [(Int, AssociationReplayResult)] = []
                for await r in group { byPosition.append(r) }
                return byPosition.sorted { $0.0 < $1.0 }.map(\.1)
            }
        } else {
            for a in selected {
                results.append(await replay(a, log: log))
            }
        }
        log?.flushPages()
        return ReplayReport(capture: conversation.source, target: "\(options.host):\(options.port)", pace: options.pace.rawValue,
                            ignoredTags: options.comparison.ignoredTags.sorted(), associations: results)
    }

    /// The association parameters of the recorded A-ASSOCIATE-RQ (AE titles possibly replaced).
    package func parameters(for a: RecordedAssociation) -> AssociationParameters {
        let rq = a.associateRequest
        let user = rq.fields.userInformation
        var extra: [UserInformationSubItem] = []
        var implementationClassUID = DICOMTapImplementation.classUID
        var implementationVersionName: String? = DICOMTapImplementation.versionName
        for item in user?.subItems ?? [] {
            switch item {
            case .maximumLength: break
            case .implementationClassUID(let uid): implementationClassUID = uid.value
            case .implementationVersionName(let name): implementationVersionName = name.value
            case .asynchronousOperationsWindow, .roleSelection, .sopClassExtendedNegotiation, .sopClassCommonExtendedNegotiation,
                 .userIdentityRequest:
                extra.append(item)
            case .userIdentityAccept, .unknown: break
            }
        }
        return AssociationParameters(
            callingAETitle: options.callingAETitle ?? a.callingAETitle, calledAETitle: options.calledAETitle ?? a.calledAETitle,
            contexts: a.contexts.map { PresentationContextProposal(id: $0.id, abstractSyntax: $0.abstractSyntax,
                                                                   transferSyntaxes: $0.proposedTransferSyntaxes) },
            maxPDULength: options.maxPDULength ?? rq.fields.maximumLength ?? 16384,
            implementationClassUID: implementationClassUID, implementationVersionName: implementationVersionName,
            connectTimeout: options.connectTimeout, extraUserInformation: extra)
    }

    /// Replays one association. Never throws: what went wrong is the result's `error`.
    package func replay(_ a: RecordedAssociation, log: ReplayLog? = nil) async -> AssociationReplayResult {
        let parameters = parameters(for: a)
        var result = AssociationReplayResult(recordedIndex: a.index, callingAETitle: parameters.callingAETitle,
                                             calledAETitle: parameters.calledAETitle)
        func fail(_ code: ReplayError.Code, _ message: String) -> ReplayError {
            ReplayError(code, message, association: a.index)
        }
        let session = log?.session(client: "replay", server: "\(options.host):\(options.port)")
        let client: DICOMClient
        do {
            client = try await DICOMClient.connect(host: options.host, port: options.port, parameters: parameters,
                                                   tap: session?.tap, tls: options.tls)
        } catch {
            session?.finish()
            if case AssociationError.rejected(let rj) = error {
                result.error = fail(.associationRejected, "\(options.host):\(options.port) rejected the association (\(rj))")
            } else {
                result.error = fail(.networkFailure, "\(error)")
            }
            result.exchanges = a.requestorRequests.map {
                ResponseComparer(options: options.comparison).compare($0, replayedMessageID: nil, replayed: [])
            }
            return result
        }
        logger.info("association \(a.index) accepted by \(options.host):\(options.port)")

        // Negotiation: what the recording had accepted must be accepted again.
        for ctx in a.acceptedContexts {
            let name = UIDRegistry.name(for: ctx.abstractSyntax) ?? ctx.abstractSyntax
            guard let now = client.acceptedContexts.first(where: { $0.id == ctx.id }) else {
                let answer = client.associateAccept.presentationContexts.first { $0.contextID == ctx.id }
                result.negotiation.append(Difference(
                    .contextNotAccepted, recorded: "context \(ctx.id) \(name) accepted",
                    replayed: "context \(ctx.id) " + (answer.map { "\($0.result)" } ?? "not answered")))
                continue
            }
            if let recordedTS = ctx.acceptedTransferSyntax, recordedTS != now.transferSyntax {
                result.notes.append("context \(ctx.id) \(name): transfer syntax \(TransferSyntax(uid: recordedTS, lenient: true)?.name ?? recordedTS) "
                                    + "in the recording, \(now.syntax.name) now")
            }
        }

        var run = SCURun(association: a, client: client, options: options)
        do {
            try await run.sendAll()
            try await run.awaitAll()
            try await run.pause(a.closingDelay, "the wait before the " + (a.requestorAborted ? "A-ABORT" : "A-RELEASE-RQ"))
            if a.requestorAborted {
                await client.abort()
            } else {
                try await client.release()
            }
        } catch let error as ReplayError {
            result.error = error
            await client.abort()
        } catch AssociationError.aborted(let source, let reason) {
            let open = run.sent.values.filter { !$0.isComplete }.count
            result.error = fail(.associationAborted, "\(options.host):\(options.port) aborted the association (A-ABORT source \(source), "
                                + "reason \(reason)) with \(open) request(s) unanswered")
        } catch {
            result.error = fail(.networkFailure, "\(error)")
            await client.abort()
        }
        session?.finish()
        for warning in run.pacingWarnings { logger.warning("\(warning)") }
        result.notes += run.pacingWarnings
        let comparer = ResponseComparer(options: options.comparison)
        for r in a.requestorRequests {
            let sent = run.sent[r.index]
            result.exchanges.append(comparer.compare(r, replayedMessageID: sent?.messageID, replayed: sent?.responses ?? [],
                                                     replayedRequestTime: sent?.time, skipped: run.skipped[r.index]))
        }
        return result
    }
}

/// The state of one SCU replay: what was sent under which Message ID, what came back.
struct SCURun {
    struct Sent {
        var messageID: UInt16
        var contextID: UInt8
        var time: Timestamp
        var responses: [RecordedMessage] = []
        var isComplete = false
        var cancelSent = false
    }

    let association: RecordedAssociation
    let client: DICOMClient
    let options: SCUReplayOptions
    /// By recorded request index.
    var sent: [Int: Sent] = [:]
    /// New Message ID → recorded request index.
    var byMessageID: [UInt16: Int] = [:]
    /// Requests the peer sent us (C-STORE sub-operations of a C-GET), answered from the recording in order.
    var peerRequestsAnswered = 0
    /// Recorded gaps longer than `options.maximumGap`, shortened (`--pace recorded`).
    var pacingWarnings: [String] = []
    /// Requests deliberately not sent, by recorded request index, with the reason (C-MOVE without `allowMove`).
    var skipped: [Int: String] = [:]

    init(association: RecordedAssociation, client: DICOMClient, options: SCUReplayOptions) {
        self.association = association
        self.client = client
        self.options = options
    }

    /// Why a C-MOVE is not sent without `--allow-move`.
    static func moveSkipReason(_ move: CMoveRequest) -> String {
        "not sent: a C-MOVE makes the SCP send real images to Move Destination "
            + "\(move.moveDestination.trimmingCharacters(in: .whitespaces)); --allow-move sends it"
    }

    mutating func sendAll() async throws {
        for r in association.requestorRequests {
            if case .cMoveRequest(let move) = r.message.command, !options.allowMove {
                skipped[r.index] = Self.moveSkipReason(move)
                continue
            }
            for j in r.waitsFor { try await receive(until: { $0.sent[j]?.isComplete ?? true }) }
            try await pause(r.thinkTime, "the think time before request \(r.index + 1) (\(r.message.command))")
            guard let context = client.acceptedContexts.first(where: { $0.id == r.message.presentationContextID }) else {
                continue  // reported as request-not-sent (the context difference is in the negotiation)
            }
            let id = client.nextMessageID()
            guard let command = r.message.command.renumbered(messageID: id) else { continue }
            let dataSet = try r.message.dataSet(for: context, what: "\(r.message.command)", association: association.index)
            try await client.send(command, source: dataSet, contextID: context.id)
            sent[r.index] = Sent(messageID: id, contextID: context.id, time: .wallClock())
            byMessageID[id] = r.index
            try await cancelIfDue(r.index)
        }
    }

    mutating func awaitAll() async throws {
        try await receive(until: { run in run.sent.values.allSatisfy(\.isComplete) })
    }

    /// With `--pace recorded`, sleeps a recorded gap (at most `options.maximumGap`; a longer one
    /// is noted in `pacingWarnings`). `what` names the gap.
    mutating func pause(_ recorded: Duration, _ what: String) async throws {
        guard options.pace == .recorded else { return }
        let paced = PacedGap(recorded, cap: options.maximumGap)
        if let warning = paced.warning(what, association: association.index) { pacingWarnings.append(warning) }
        try await Task.sleep(for: paced.sleep)
    }

    /// Sends the C-CANCEL of request `index` once as many responses arrived as in the recording.
    mutating func cancelIfDue(_ index: Int) async throws {
        guard let r = association.requests.first(where: { $0.index == index }), let cancel = r.cancel,
              var s = sent[index], !s.cancelSent, !s.isComplete, s.responses.count >= cancel.afterResponses else { return }
        try await pause(cancel.delay, "the wait before the C-CANCEL-RQ of request \(index + 1)")
        guard let command = cancel.message.command.responding(to: s.messageID) else { return }
        try await client.send(command, dataSet: nil, contextID: s.contextID)
        s.cancelSent = true
        sent[index] = s
    }

    /// Receives messages from the peer until `done` holds.
    mutating func receive(until done: (SCURun) -> Bool) async throws {
        while !done(self) {
            guard let message = try await client.receive(timeout: options.responseTimeout) else {
                throw ReplayError(.networkFailure, "\(options.host):\(options.port) ended the association while "
                                  + "\(sent.values.filter { !$0.isComplete }.count) request(s) were unanswered",
                                  association: association.index)
            }
            try await handle(message)
        }
    }

    mutating func handle(_ message: DIMSEMessageAssembly) async throws {
        let context = client.acceptedContexts.first { $0.id == message.presentationContextID }
        var dataSet: Dataset?
        if let bytes = message.dataSetBytes, let context {
            dataSet = try? context.decode(bytes)
        }
        let received = RecordedMessage(presentationContextID: message.presentationContextID, command: message.command,
                                       commandBytes: message.commandBytes, dataSetBytes: message.dataSetBytes, dataSet: dataSet,
                                       transferSyntax: context?.syntax, firstFragmentTime: .wallClock(), time: .wallClock())
        if message.command.commandField?.isRequest == true {
            try await answerPeerRequest(message)
            return
        }
        guard let id = message.command.messageIDBeingRespondedTo, let index = byMessageID[id], var s = sent[index],
              !s.isComplete else {
            return  // a response to nothing we sent: the dump shows it; it cannot be compared
        }
        s.responses.append(received)
        if received.statusCategory?.isFinal ?? true { s.isComplete = true }
        sent[index] = s
        try await cancelIfDue(index)
    }

    /// A request from the SCP on our association (C-STORE sub-operations of a C-GET): answered
    /// with the recorded response to the recorded acceptor request in the same position.
    mutating func answerPeerRequest(_ message: DIMSEMessageAssembly) async throws {
        guard let id = message.command.messageID else { return }
        let recorded = association.requests.filter { $0.sender == .acceptor }
        let answer: DIMSECommand?
        if peerRequestsAnswered < recorded.count, let rsp = recorded[peerRequestsAnswered].finalResponse {
            answer = rsp.command.responding(to: id)?.echoingInstance(of: message.command)
        } else {
            answer = message.command.failureResponse(status: StatusCode.unableToProcess, comment: "not in the recording")
        }
        peerRequestsAnswered += 1
        if let answer { try await client.send(answer, dataSet: nil, contextID: message.presentationContextID) }
    }
}
