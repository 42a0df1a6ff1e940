import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMUL
import DIMSE
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Options of `dicomtap replay CAPTURE --serve [HOST:]PORT`.
package struct SCPReplayOptions: Sendable {
    package var host: String = "0.0.0.0"
    package var port: Int
    package var pace: ReplayPace = .asap
    package var keys = MatchKeys()
    package var unmatched = UnmatchedPolicy()
    /// Our AE title; nil answers to any called AE title.
    package var aeTitle: String?
    package var maxPDULength: UInt32 = 16384
    /// TLS on the listening port (PS3.15 B.12); nil: plain DICOM.
    package var tls: TLSContext?
    package var logDirectory: String?
    /// The longest recorded response delay `--pace recorded` sleeps (see `ReplayPace.defaultMaximumGap`).
    package var maximumGap: Duration = ReplayPace.defaultMaximumGap
    /// The move destinations we have an address for (`--move-destination AE=host:port`). A C-MOVE
    /// to one of them is refused with 0xA702 (its sub-operations are not replayed), to any other AE
    /// with 0xA801 (Move Destination unknown).
    package var moveDestinations: [MoveDestination] = []

    package init(port: Int) { self.port = port }
}

/// An AE title a replayed SCP knows the address of, as a Q/R SCP's configuration lists them
/// (dcmqrscp's HostTable): `--move-destination STORESCP=127.0.0.1:11112`.
package struct MoveDestination: Sendable, Hashable, CustomStringConvertible {
    package var aeTitle: String
    package var host: String
    package var port: Int

    package init(aeTitle: String, host: String, port: Int) {
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
    }

    /// Parses `AE=host:port` (an IPv6 host in brackets: `AE=[::1]:104`). The AE title is 1 to 16
    /// characters (PS3.5 Table 6.2-1), leading and trailing spaces not significant.
    package init(parsing text: String) throws(ReplayError) {
        func invalid(_ why: String) -> ReplayError {
            ReplayError(.invalidOption, "--move-destination must be AE=host:port, not '\(text)': \(why)")
        }
        guard let equals = text.firstIndex(of: "=") else { throw invalid("no '='") }
        let ae = text[..<equals].trimmingCharacters(in: .whitespaces)
        guard (1...16).contains(ae.utf8.count), ae.allSatisfy({ $0.isASCII && $0 != "\\" && !$0.isNewline }) else {
            throw invalid("an AE title is 1 to 16 ASCII characters without backslash")
        }
        let address = text[text.index(after: equals)...]
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw invalid("no port (1-65535) after the host")
        }
        let host = address[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        guard !host.isEmpty else { throw invalid("no host") }
        self.init(aeTitle: ae, host: host, port: port)
    }

    /// `STORESCP=127.0.0.1:11112`.
    package var description: String { "\(aeTitle)=" + (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}

/// Stands in for the recorded SCP: accepts the recorded accepted contexts and answers each
/// request with the recorded responses of the matching recorded request (see
/// `ResponseMatcher`), at recorded pacing or as fast as possible. A request that matches
/// nothing gets `UnmatchedPolicy`'s failure status and an `unmatched-request` finding.
package final class SCPReplayer: Sendable {
    package let server: DICOMServer
    let handler: ReplayServiceHandler

    /// The port we listen on.
    package var port: Int { server.port }

    /// Findings so far (unmatched requests), in order.
    package var findings: [Finding] { handler.findings.withLockedValue { $0 } }
    /// Requests answered from the recording so far.
    package var answered: Int { handler.answeredCount.withLockedValue { $0 } }
    /// Recorded response delays longer than `maximumGap` that were shortened, in order (also
    /// logged as warnings and noted in `--log-dir`); not in `findings`, which are unmatched requests.
    package var pacingWarnings: [Finding] { handler.pacingWarnings.withLockedValue { $0 } }
    /// Associations whose `--log-dir` log is still open (each is removed once its log is written).
    package var openLogSessions: Int { handler.log?.openSessionCount ?? 0 }

    private init(server: DICOMServer, handler: ReplayServiceHandler) {
        self.server = server
        self.handler = handler
    }

    /// The contexts a replayed SCP accepts: every abstract syntax the recording accepted, with
    /// the transfer syntaxes accepted for it (first the most often accepted), then the other
    /// syntaxes every SCU can use.
    package static func supportedContexts(_ associations: [RecordedAssociation]) -> [String: [String]] {
        var counts: [String: [String: Int]] = [:]
        for a in associations {
            for c in a.acceptedContexts {
                guard let ts = c.acceptedTransferSyntax else { continue }
                counts[c.abstractSyntax, default: [:]][ts, default: 0] += 1
            }
        }
        var out: [String: [String]] = [:]
        for (abstract, tss) in counts {
            var list = tss.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
            for ts in [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid] where !list.contains(ts) {
                list.append(ts)
            }
            out[abstract] = list
        }
        // C-ECHO is answered by the server itself; accept it even when the recording has none.
        if out[CEchoRequest.verificationSOPClassUID] == nil {
            out[CEchoRequest.verificationSOPClassUID] = [TransferSyntax.implicitVRLittleEndian.uid, TransferSyntax.explicitVRLittleEndian.uid]
        }
        return out
    }

    /// Starts listening.
    package static func start(_ conversation: RecordedConversation, options: SCPReplayOptions,
                             logger: Logger = Logger(label: "dicomtap.replay")) async throws -> SCPReplayer {
        let log = try ReplayLog(directory: options.logDirectory)
        let handler = ReplayServiceHandler(associations: conversation.associations, options: options, log: log, logger: logger)
        var configuration = ServerConfiguration(aeTitle: options.aeTitle, supportedContexts: supportedContexts(conversation.associations),
                                                maxPDULength: options.maxPDULength, logger: logger)
        configuration.tls = options.tls
        if let log {
            let server = "\(options.host):\(options.port)"
            configuration.tap = { connection in log.session(client: "connection \(connection)", server: server, connection: connection).tap }
        }
        let server = try await DICOMServer.start(host: options.host, port: options.port, configuration: configuration,
                                                 handler: handler)
        return SCPReplayer(server: server, handler: handler)
    }

    /// Stops listening and ends the connections; logs of associations still open are written.
    package func shutdown() async {
        await server.shutdown()
        handler.log?.finishAll(reason: "the replayed SCP stopped")
    }
}

/// Answers requests from the recording.
struct ReplayServiceHandler: DICOMServiceHandler {
    let matcher: ResponseMatcher
    let options: SCPReplayOptions
    let log: ReplayLog?
    let logger: Logger
    let findings = NIOLockedValueBox<[Finding]>([])
    let pacingWarnings = NIOLockedValueBox<[Finding]>([])
    let answeredCount = NIOLockedValueBox(0)
    /// How often each recorded candidate list was used, so that a query asked twice gets the
    /// second recorded answer the second time (the last one once all were used).
    let usage = NIOLockedValueBox<[String: Int]>([:])

    /// The recorded associations by index, for the sub-operations (C-GET's C-STOREs) of a recorded answer.
    let recorded: [Int: RecordedAssociation]

    init(associations: [RecordedAssociation], options: SCPReplayOptions, log: ReplayLog?, logger: Logger) {
        matcher = ResponseMatcher(associations: associations, keys: options.keys)
        recorded = Dictionary(associations.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        self.options = options
        self.log = log
        self.logger = logger
    }

    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard let id = request.command.messageID else { return }
        let context = association.context(id: request.presentationContextID)
        var identifier: Dataset?
        if let bytes = request.dataSetBytes, let context {
            identifier = try? context.decode(bytes)
        }
        let candidates = matcher.candidates(for: request.command, identifier: identifier)
        guard !candidates.isEmpty else {
            let status = options.unmatched.status(for: request.command.commandField)
            let keys = matcher.describeKeys(command: request.command, identifier: identifier)
            let finding = Finding(.unmatchedRequest, .error,
                                  "\(request.command.commandField.map { "\($0)" } ?? "request") message \(id) "
                                  + (request.command.sopClassUID.map { "(\(UIDRegistry.name(for: $0) ?? $0)) " } ?? "")
                                  + "with \(keys) matches no recorded request (keys: \(matcher.keys)); answered 0x\(hex4(status))",
                                  time: .wallClock(), sender: .requestor)
            findings.withLockedValue { $0.append(finding) }
            log?.session(connection: association.connection)?.note(finding)
            logger.warning("\(finding.message)")
            if let response = request.command.failureResponse(status: status, comment: "no recorded request matches",
                                                              subOperations: .noneAttempted) {
                try await responder.send(response, dataSet: nil)
            }
            return
        }
        let key = candidates.map { "\($0.association):\($0.request.index)" }.joined(separator: ",")
        let use = usage.withLockedValue { counts -> Int in
            let n = counts[key, default: 0]
            counts[key] = n + 1
            return n
        }
        let candidate = candidates[min(use, candidates.count - 1)]
        let chosen = candidate.request
        if case .cMoveRequest(let move) = request.command {
            try await refuseMove(move, request: request.command, recorded: chosen, association: association, responder: responder)
            return
        }
        // The recorded answer's sub-operations (the C-STOREs of a C-GET), sent on the SCU's storage contexts
        // (SCP role) before the response they preceded in the recording.
        var subOperations = chosen.subOperations.compactMap { i in recorded[candidate.association]?.requests.first { $0.index == i } }
        if let missing = subOperations.first(where: { sub in association.contexts.first { $0.abstractSyntax == sub.abstractSyntax } == nil }) {
            try await refuseSubOperations(request.command, status: RetrieveStatus.unableToPerformSubOperations,
                                          why: "the recorded answer stores \(UIDRegistry.name(for: missing.abstractSyntax) ?? missing.abstractSyntax) "
                                              + "instances, and the SCU accepted no context for that SOP class",
                                          comment: "sub-operations are not replayed", association: association, responder: responder)
            return
        }
        func sendSubOperations(before time: Timestamp?) async throws {
            while let sub = subOperations.first, time.map({ sub.message.firstFragmentTime < $0 }) ?? true {
                subOperations.removeFirst()
                guard let ctx = association.contexts.first(where: { $0.abstractSyntax == sub.abstractSyntax }),
                      let command = sub.message.command.renumbered(messageID: association.nextMessageID()) else { continue }
                let dataSet = try sub.message.dataSet(for: ctx, what: "\(sub.message.command)", association: candidate.association)
                let answer = try await responder.request(command, source: dataSet, contextID: ctx.id)
                let recordedStatus = sub.finalResponse?.status
                if let status = answer.command.status, let recordedStatus, status != recordedStatus {
                    logger.notice("sub-operation answered differently than recorded",
                                  metadata: ["recorded": "\(hex4(recordedStatus))", "now": "\(hex4(status))"])
                }
            }
        }
        answeredCount.withLockedValue { $0 += 1 }
        for (k, recorded) in chosen.responses.enumerated() {
            if options.pace == .recorded, k < chosen.responseDelays.count {
                let paced = PacedGap(chosen.responseDelays[k], cap: options.maximumGap)
                if let warning = paced.warning("the delay before response \(k + 1) to request \(chosen.index + 1) "
                                               + "(\(chosen.message.command))", association: candidate.association) {
                    let finding = Finding(.recordedGapCapped, .warning, warning, time: .wallClock(), sender: .acceptor)
                    pacingWarnings.withLockedValue { $0.append(finding) }
                    log?.session(connection: association.connection)?.note(finding)
                    logger.warning("\(warning)")
                }
                try await Task.sleep(for: paced.sleep)
            }
            let isPending = recorded.statusCategory == .pending
            if isPending, association.isCancelled(messageID: id) {
                // PS3.4 C.4.1.2.3 / C.4.2.2: a cancelled operation ends with status Cancel (FE00).
                let final = chosen.cancel != nil ? chosen.finalResponse : nil
                let command = final?.command.responding(to: id)
                    ?? request.command.failureResponse(status: StatusCode.cancel, comment: nil)
                if let command { try await responder.send(command, dataSet: nil) }
                return
            }
            try await sendSubOperations(before: recorded.firstFragmentTime)
            guard let command = recorded.command.responding(to: id)?.echoingInstance(of: request.command) else { continue }
            let dataSet = try context.map { ctx throws(ReplayError) in
                try recorded.dataSet(for: ctx, what: "\(recorded.command)", association: candidate.association)
            } ?? nil
            try await responder.send(command, source: dataSet, contextID: responder.contextID)
        }
    }

    /// A C-MOVE that matched a recorded one. Its recorded sub-operations went to the move destination on
    /// another association, which replay does not reproduce: answering the recorded Success ("1 completed")
    /// would tell the SCU that images arrived where nothing did. Refused instead: 0xA801 (Move Destination
    /// unknown) when we have no address for the destination, else 0xA702 (unable to perform sub-operations).
    func refuseMove(_ move: CMoveRequest, request: DIMSECommand, recorded chosen: RecordedRequest,
                    association: ServerAssociation, responder: DIMSEResponder) async throws {
        let destination = move.moveDestination.trimmingCharacters(in: .whitespaces)
        let address = options.moveDestinations.first { $0.aeTitle == destination }
        var why = "the recording answered " + (chosen.finalResponse.map { final in
            (final.status.map { statusText($0, .cMove, chosen.sopClassUID) } ?? "no status")
                + (final.command.subOperationCounts.map { " (\($0))" } ?? "")
        } ?? "nothing final") + ", but "
        let status: UInt16
        let comment: String
        if let address {
            status = RetrieveStatus.unableToPerformSubOperations
            why += "replay cannot yet perform the C-STORE sub-operations to \(destination) (\(address.host):\(address.port)) "
                + "from the capture, so nothing is sent there"
            comment = "replay does not perform C-MOVE sub-operations"
        } else {
            status = RetrieveStatus.moveDestinationUnknown
            why += "replay has no address for move destination \(destination) "
                + "(--move-destination \(destination)=HOST:PORT gives one)"
            comment = "Move Destination \(destination) unknown to replay"
        }
        try await refuseSubOperations(request, status: status, why: why, comment: comment, association: association,
                                      responder: responder)
    }

    /// Answers a C-GET or C-MOVE whose sub-operations are not replayed with a failure `status`, no
    /// sub-operation reported as done (0 completed, 0 failed, 0 warning) and `comment` as Error Comment,
    /// and notes `why` in a `sub-operations-not-replayed` finding.
    func refuseSubOperations(_ request: DIMSECommand, status: UInt16, why: String, comment: String,
                             association: ServerAssociation, responder: DIMSEResponder) async throws {
        let meaning = DIMSEStatus.lookup(status, service: request.commandField?.service, sopClassUID: request.sopClassUID).meaning
        let finding = Finding(.subOperationsNotReplayed, .error,
                              "\(request.commandField.map { "\($0)" } ?? "request") message \(request.messageID ?? 0): \(why); "
                              + "answered 0x\(hex4(status)) (\(meaning)) with 0 sub-operations completed",
                              time: .wallClock(), sender: .acceptor)
        findings.withLockedValue { $0.append(finding) }
        log?.session(connection: association.connection)?.note(finding)
        logger.warning("\(finding.message)")
        if let response = request.failureResponse(status: status, comment: comment, subOperations: .noneAttempted) {
            try await responder.send(response, dataSet: nil)
        }
    }
}
