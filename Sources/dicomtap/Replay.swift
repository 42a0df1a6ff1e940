import ArgumentParser
import DICOMCore
import DICOMNetwork
import DICOMReplay
import Dispatch
import Foundation
import Logging

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded DICOM session: the SCU side against a new SCP, or the SCP side for a modality.",
        discussion: """
        CAPTURE is any capture analyze reads (pcap, pcapng, proxy recordings).
        --to HOST:PORT replays the SCU side: each recorded association is negotiated again with its presentation \
        contexts, its requests are sent in recorded order (new message IDs, C-CANCEL at its recorded moment) and the \
        responses are compared with the recorded ones: status, number of pending responses, identifiers element by \
        element (--ignore leaves tags out at any depth); a C-GET's C-STORE sub-operations are answered from the \
        recording. A recorded C-MOVE is skipped (and reported as skipped) unless --allow-move: it makes the SCP send \
        real images to the recorded Move Destination; sent, its final sub-operation counts are compared too. \
        Exit status: 0 everything matched, 1 differences, 2 errors.
        --serve [HOST:]PORT stands in for the recorded SCP: it accepts the recorded contexts and answers each request \
        with the recorded responses of the matching recorded request (SOP class + identifier keys, --match to choose \
        them; for C-MOVE also the Move Destination); an unmatched request gets --unmatched-status and a finding. \
        A C-GET's recorded C-STORE sub-operations are sent to the SCU (0xA702 when it accepted no context for them). \
        A C-MOVE is never answered with the recorded success, since nothing reaches the move destination: it gets \
        0xA801 (Move Destination unknown), or 0xA702 (unable to perform sub-operations) when --move-destination \
        gives the AE's address, with 0 sub-operations completed and a finding. Runs until SIGINT/SIGTERM.

        EXAMPLES:
          dicomtap replay captures/rpi_general_one_match.pcapng --to 127.0.0.1:11112
          dicomtap replay captures/rpi_general_one_match.pcapng --serve 11112
          dicomtap replay rec/20260101-101500-0001-MODALITY-ARCHIVE.pcap \\
              --to newpacs:104 --ignore StudyTime
          dicomtap replay rec/move.pcap --to pacs:104 --allow-move
          dicomtap replay captures/dcmtk_find_store.pcapng --to newpacs:104 --format html > replay.html
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @Argument(help: "The capture file.")
    var capture: String

    @Option(help: ArgumentHelp("Replay the SCU side against this SCP.", valueName: "host:port"))
    var to: String?

    @Option(help: ArgumentHelp("Replay the SCP side, listening here.", valueName: "[host:]port"))
    var serve: String?

    @Option(help: "Replay only association N (as analyze numbers them).")
    var association: Int?

    @Option(help: "recorded: sleep the recorded gaps; asap: don't.")
    var pace: ReplayPace = .asap

    @Option(name: .customLong("calling-ae"), help: "Calling AE title to use instead of the recorded one (--to).")
    var callingAE: String?

    @Option(name: .customLong("called-ae"), help: "Called AE title to use instead of the recorded one (--to); our AE title (--serve).")
    var calledAE: String?

    @Option(name: .customLong("ignore"), help: ArgumentHelp("A tag or keyword not compared, at any depth (repeatable).",
                                                            valueName: "tag"))
    var ignored: [String] = []

    @Flag(help: "Pair pending identifiers by content, not by position (a PACS that returns matches in another order).")
    var unorderedMatches = false

    @Option(help: "Report format (--to): text, json, or html (one self-contained page: each request recorded beside replayed, differences highlighted).")
    var format: Format = .text

    @Option(name: .customLong("match"), help: ArgumentHelp("Identifier keys a request must share with a recorded one (--serve; keywords or tags, comma separated).",
                                                           valueName: "keys"))
    var matchKeys: [String] = []

    @Option(help: ArgumentHelp("Status answered to a request that matches no recording (--serve; default 0xC000, N- services 0x0110).",
                               valueName: "status"))
    var unmatchedStatus: String?

    @Option(name: .customLong("port"), help: "A TCP port that carries DICOM in the capture (repeatable; 104 and 11112 are always included).")
    var ports: [UInt16] = []

    @Option(help: ArgumentHelp("Write one annotated text file and one HTML page per association, index.html and events.jsonl here.", valueName: "dir"))
    var logDir: String?

    @Option(help: ArgumentHelp("At --pace recorded, the longest recorded gap slept (longer ones are shortened, with a warning).",
                               valueName: "seconds"))
    var maxGap: Double = 60

    @Option(help: ArgumentHelp("Seconds to wait for each response (--to).", valueName: "seconds"))
    var timeout: Double = 60

    @Flag(help: "Send recorded C-MOVE requests (--to): the SCP then sends real images to the recorded Move Destination. Without it they are skipped.")
    var allowMove = false

    @Option(name: .customLong("move-destination"),
            help: ArgumentHelp("A Move Destination AE title and its address (--serve; repeatable). A C-MOVE to it gets 0xA702 "
                               + "(replay does not perform C-MOVE sub-operations yet), to any other AE 0xA801.",
                               valueName: "AE=host:port"))
    var moveDestinations: [String] = []

    @OptionGroup(title: "DICOM over TLS (--to: as query's; --serve: --tls with --tls-cert and --tls-key, --tls-ca checks client certificates)")
    var tlsOptions: TLSConnectOptions

    @Flag(name: [.short, .long], help: "Log each association and request.")
    var verbose = false

    func validate() throws {
        guard (to == nil) != (serve == nil) else { throw ValidationError("give exactly one of --to HOST:PORT and --serve [HOST:]PORT") }
        if let to, Self.endpoint(to, defaultHost: nil) == nil { throw ValidationError("--to must be host:port, not '\(to)'") }
        if let serve, Self.endpoint(serve, defaultHost: "0.0.0.0") == nil {
            throw ValidationError("--serve must be [host:]port, not '\(serve)'")
        }
        for tag in ignored where Tag(parsing: tag) == nil {
            throw ValidationError("--ignore: '\(tag)' is neither a data dictionary keyword nor a tag")
        }
        if let unmatchedStatus, Self.status(unmatchedStatus) == nil {
            throw ValidationError("--unmatched-status must be a 16-bit status such as 0xC000, not '\(unmatchedStatus)'")
        }
        for destination in moveDestinations {
            do throws(ReplayError) {
                _ = try MoveDestination(parsing: destination)
            } catch {
                throw ValidationError(error.message)
            }
        }
        if to != nil, !moveDestinations.isEmpty { throw ValidationError("--move-destination is an option of --serve") }
        if serve != nil, allowMove { throw ValidationError("--allow-move is an option of --to") }
        try checkSeconds(timeout, "--timeout", zero: false)
        try checkSeconds(maxGap, "--max-gap")
    }

    static func endpoint(_ text: String, defaultHost: String?) -> (host: String, port: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1, let host = defaultHost, let port = Int(parts[0]), (0...65535).contains(port) { return (host, port) }
        guard parts.count >= 2, let port = Int(parts.last!), (0...65535).contains(port) else { return nil }
        let host = parts.dropLast().joined(separator: ":").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    static func status(_ text: String) -> UInt16? {
        let t = text.lowercased()
        return t.hasPrefix("0x") ? UInt16(t.dropFirst(2), radix: 16) : UInt16(t, radix: 16)
    }

    func run() async throws {
        var logger = Logger(label: "dicomtap.replay") { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
        }
        logger.logLevel = verbose ? .info : .warning
        // Before the capture is loaded: the paths, then (--serve) the port.
        try PathCheck.readableFile(capture, "", exitCode: 2)
        if let logDir {
            try PathCheck.writableFolder(logDir, "--log-dir", contents: "events.jsonl, index.html, and one text log and HTML page per association",
                                         exitCode: 2)
        }
        if let serve, let listen = Self.endpoint(serve, defaultHost: "0.0.0.0") {
            do {
                try SocketFailure.checkListening(host: listen.host, port: listen.port)
            } catch {
                throw CLIError("\(error)", exitCode: 2)
            }
        }
        let conversation: RecordedConversation
        do {
            conversation = try RecordedConversation.load(path: capture, dicomPorts: Set(ports))
        } catch {
            FileHandle.standardError.write(Data("dicomtap replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        for warning in conversation.warnings { FileHandle.standardError.write(Data("dicomtap replay: warning: \(warning)\n".utf8)) }
        if let to, let target = Self.endpoint(to, defaultHost: nil) {
            try await replayClient(conversation, host: target.host, port: target.port, logger: logger)
        } else if let serve, let listen = Self.endpoint(serve, defaultHost: "0.0.0.0") {
            logger.logLevel = verbose ? .info : .notice
            try await replayServer(conversation, host: listen.host, port: listen.port, logger: logger)
        }
    }

    private func replayClient(_ conversation: RecordedConversation, host: String, port: Int, logger: Logger) async throws {
        var options = SCUReplayOptions(host: host, port: port)
        options.pace = pace
        options.callingAETitle = callingAE
        options.calledAETitle = calledAE
        options.comparison = ComparisonOptions(ignoredTags: Set(ignored.compactMap { Tag(parsing: $0) }), unorderedMatches: unorderedMatches)
        options.responseTimeout = .fromSeconds(timeout)
        options.maximumGap = .seconds(maxGap)
        options.logDirectory = logDir
        options.allowMove = allowMove
        options.tls = try tlsOptions.context(command: "replay")
        let report: ReplayReport
        do {
            report = try await SCUReplayer(options: options, logger: logger).replay(conversation, association: association)
        } catch {
            FileHandle.standardError.write(Data("dicomtap replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let output: String
        switch format {
        case .text: output = report.text()
        case .json: output = report.json().serialized(indent: 2) + "\n"
        case .html: output = report.html()
        }
        FileHandle.standardOutput.write(Data(output.utf8))
        throw ExitCode(report.outcome.exitCode)
    }

    private func replayServer(_ conversation: RecordedConversation, host: String, port: Int, logger: Logger) async throws {
        var options = SCPReplayOptions(port: port)
        options.host = host
        if tlsOptions.tls {
            guard let certificate = tlsOptions.tlsCert, let key = tlsOptions.tlsKey else {
                throw CLIError("replay --serve --tls needs --tls-cert FILE and --tls-key FILE (our certificate and its key, PEM)", exitCode: 2)
            }
            do {
                options.tls = try TLSContext.server(TLSServerSettings(certificatePath: certificate, keyPath: key, caPath: tlsOptions.tlsCa))
            } catch {
                throw CLIError("\(error)", exitCode: 2)
            }
            warn(options.tls?.warnings ?? [], command: "replay")
        }
        options.pace = pace
        options.maximumGap = .seconds(maxGap)
        options.aeTitle = calledAE
        options.logDirectory = logDir
        do {
            options.keys = try MatchKeys(parsing: matchKeys)
        } catch {
            FileHandle.standardError.write(Data("dicomtap replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        options.unmatched = UnmatchedPolicy(status: unmatchedStatus.flatMap(Self.status))
        options.moveDestinations = moveDestinations.compactMap { try? MoveDestination(parsing: $0) }
        let associations: [RecordedAssociation]
        do {
            associations = association == nil ? conversation.associations : try conversation.selected(association)
        } catch {
            FileHandle.standardError.write(Data("dicomtap replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        for skipped in conversation.skipped where association == nil {
            FileHandle.standardError.write(Data("dicomtap replay: not served: \(skipped)\n".utf8))
        }
        var selected = conversation
        selected.associations = associations

        let signals = TerminationSignals()

        let server: SCPReplayer
        do {
            server = try await SCPReplayer.start(selected, options: options, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("dicomtap replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let requests = associations.reduce(0) { $0 + $1.requestorRequests.count }
        FileHandle.standardOutput.write(Data(("replaying the SCP side of \(capture) on \(SocketFailure.address(host: host, port: server.port)): \(associations.count) association"
            + (associations.count == 1 ? "" : "s") + ", \(requests) recorded request" + (requests == 1 ? "" : "s")
            + "; match keys \(options.keys)\n").utf8))
        _ = await signals.next()
        await server.shutdown()
        let findings = server.findings
        let unmatched = findings.filter { $0.code == .unmatchedRequest }.count
        let refused = findings.count - unmatched
        FileHandle.standardOutput.write(Data(("stopped: \(server.answered) request(s) answered from the recording, \(unmatched) unmatched"
            + (refused == 0 ? "" : ", \(refused) refused (sub-operations not replayed)") + "\n").utf8))
        for f in findings { FileHandle.standardOutput.write(Data("  \(f)\n".utf8)) }
        for w in server.pacingWarnings { FileHandle.standardOutput.write(Data("  \(w)\n".utf8)) }
    }
}

extension ReplayPace: ExpressibleByArgument {}
