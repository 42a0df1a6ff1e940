import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@_exported import DICOMPeerSupport
@testable import DICOMProxy
@testable import DICOMReplay

// MARK: - Support

extension Peers {
    static let replayScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Peers").appendingPathComponent("replay_peer.py").path
}

/// How long a test waits for a real peer to start, answer or exit: a margin for a loaded 2-core machine (CI runs
/// other builds beside the tests), not a bound any test checks. A peer that works answers in milliseconds.
let peerMargin: Duration = .seconds(90)

extension Subprocess {
    /// Runs `Peers/replay_peer.py` with the python that has pynetdicom. `lifetime` only ends a forgotten process.
    static func replayPeer(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 600) throws -> Subprocess {
        try python(script: Peers.replayScript, ["--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }

    /// The port a replay peer SCP printed on its first line, however long python takes to start.
    func listeningPort() async throws -> Int {
        let line = try await firstLine(timeout: peerMargin)
        guard let port = Int(line.trimmingCharacters(in: .whitespaces)) else {
            throw TimeoutError(what: "\(name) printed '\(line)' instead of a port; stderr: \(stderr)")
        }
        return port
    }

    /// The events a replay peer SCP printed after its port (JSON lines: see Peers/replay_peer.py), in order.
    var peerEvents: [[String: Any]] {
        stdout.split(separator: "\n").dropFirst().compactMap { line in
            try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
    }

    /// `afterPending` of every `cancel` event: how many pending responses the SCP had sent when each C-CANCEL ended a C-FIND.
    var cancelsAfterPending: [Int] {
        peerEvents.filter { $0["event"] as? String == "cancel" }.compactMap { $0["afterPending"] as? Int }
    }
}

/// The statuses the replay peer's `cancel` SCU printed.
func cancelSCUStatuses(_ scu: Subprocess) throws -> [Int] {
    let output = try #require(try JSONSerialization.jsonObject(with: Data(scu.stdout.utf8)) as? [String: Any],
                              "\(scu.stdout) \(scu.stderr)")
    return try #require(output["statuses"] as? [Int], "\(scu.stdout)")
}

/// The lines of a `--log-dir` `events.jsonl`, parsed.
func replayLogEvents(_ directory: String) throws -> [[String: Any]] {
    try String(contentsOfFile: directory + "/events.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
    }
}

/// Microseconds since 1970 of an `iso8601(_:)` time ("2024-05-06T07:08:09.123456Z"), the precision `events.jsonl` has.
func microseconds(_ iso: String) throws -> Int64 {
    let parts = iso.dropLast().split(whereSeparator: { "-T:.".contains($0) }).map { Int64($0) }
    guard iso.hasSuffix("Z"), parts.count == 7, parts.allSatisfy({ $0 != nil }) else { throw TimeoutError(what: "a time: \(iso)") }
    let v = parts.map { $0 ?? 0 }
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = v[1] <= 2 ? v[0] - 1 : v[0]
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (v[1] > 2 ? v[1] - 3 : v[1] + 9) + 2) / 5 + v[2] - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    return ((days * 86_400 + v[3] * 3600 + v[4] * 60 + v[5]) * 1_000_000) + v[6]
}

/// Runs `body` with an in-process `dicomtap proxy` recording to a pcap, and returns the recording.
func recordThroughProxy(upstream: Int, directory: TemporaryDirectory, _ body: (Int) async throws -> Void) async throws -> String {
    let recordings = directory.file("recordings-\(UUID().uuidString.prefix(4))")
    try FileManager.default.createDirectory(atPath: recordings, withIntermediateDirectories: true)
    var configuration = ProxyConfiguration(listen: ProxyEndpoint(host: "127.0.0.1", port: 0),
                                           routing: RoutingTable(routes: [:], defaultUpstream: ProxyEndpoint(host: "127.0.0.1", port: upstream)))
    configuration.recordDirectory = recordings
    var logger = Logger(label: "test.proxy")
    logger.logLevel = .warning
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let server = try DICOMProxyServer(configuration: configuration, group: group, logger: logger)
    do {
        let address = try await server.start()
        try await body(address.port ?? 0)
        await server.shutdown(gracePeriod: .seconds(2))
        try? await group.shutdownGracefully()
    } catch {
        await server.shutdown(gracePeriod: .seconds(1))
        try? await group.shutdownGracefully()
        throw error
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: recordings).filter { $0.hasSuffix(".pcap") }
    guard files.count == 1, let file = files.first else { throw TimeoutError(what: "one recording, found \(files)") }
    return recordings + "/" + file
}

func quietLogger() -> Logger {
    var logger = Logger(label: "test.replay")
    logger.logLevel = .critical
    return logger
}

func replayAgainst(_ port: Int, _ conversation: RecordedConversation, pace: ReplayPace = .asap,
                   ignoring: Set<DICOMCore.Tag> = [], logDirectory: String? = nil) async throws -> ReplayReport {
    var options = SCUReplayOptions(host: "127.0.0.1", port: port)
    options.pace = pace
    options.comparison.ignoredTags = ignoring
    options.responseTimeout = .seconds(90)  // a margin for a loaded machine; no test measures it
    options.logDirectory = logDirectory
    return try await SCUReplayer(options: options, logger: quietLogger()).replay(conversation)
}

// MARK: - pynetdicom

/// pynetdicom's SCU recorded through the proxy against pynetdicom's SCP, then replayed both ways.
@Suite(.peers, .requires(.pynetdicom), .serialized)
struct PynetdicomReplayTests {
    /// Records C-ECHO + RPI General C-FIND + Patient Root C-FIND (25 matches) through the proxy.
    func record(_ dir: TemporaryDirectory, scpPort: Int) async throws -> (capture: String, scuOutput: String) {
        var output = ""
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["session", String(proxyPort)], name: "session-recorded", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
            output = scu.stdout
        }
        #expect(output.contains("\"established\": true"))
        return (capture, output)
    }

    @Test func scuSideAgainstTheSameAndAChangedSCP() async throws {
        let dir = try TemporaryDirectory("replay-scu")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        let (capture, _) = try await record(dir, scpPort: scpPort)
        let conversation = try RecordedConversation.load(path: capture)
        let recorded = try #require(conversation.associations.first)
        #expect(recorded.callingAETitle == "MODALITY")
        #expect(recorded.requests.map(\.commandField) == [.cEchoRequest, .cFindRequest, .cFindRequest])

        // Same SCP: no differences; message IDs renumbered 1, 2, 3 (pynetdicom used 1 for each).
        let logs = dir.file("logs")
        let same = try await replayAgainst(scpPort, conversation, logDirectory: logs)
        #expect(same.outcome == .matched, "\(same.text())")
        let exchanges = try #require(same.associations.first?.exchanges)
        #expect(exchanges.map(\.replayedMessageID) == [1, 2, 3])
        #expect(exchanges.map(\.recordedMessageID) == [1, 1, 1])
        #expect(exchanges.map(\.replayedPending) == [0, 1, 25])
        #expect(exchanges.map(\.replayedFinalStatus) == [0x0000, 0x0000, 0x0000])
        #expect(same.text().contains("result: matched (3 requests in 1 association)"))

        // --log-dir: the replayed association's annotated dump and JSON lines.
        let files = try FileManager.default.contentsOfDirectory(atPath: logs)
        let dump = try #require(files.first { $0.hasSuffix("-replay-1-MODALITY-ARCHIVE.txt") })
        let text = try String(contentsOfFile: logs + "/" + dump, encoding: .utf8)
        #expect(text.contains("C-FIND-RSP"))
        #expect(text.contains("Patient^025"))
        // Its HTML page beside it, linked from index.html (written before replay returns).
        let page = try String(contentsOfFile: logs + "/" + dump.replacingOccurrences(of: ".txt", with: ".html"), encoding: .utf8)
        #expect(page.contains("<svg class=\"ladder\"") && page.contains("C-ECHO-RQ msg 1") && page.contains("C-FIND-RQ msg 3"))
        let index = try String(contentsOfFile: logs + "/index.html", encoding: .utf8)
        #expect(index.contains("href=\"\(dump.replacingOccurrences(of: ".txt", with: ".html"))\""))
        let events = try String(contentsOfFile: logs + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(events.first?.contains("\"type\":\"association-start\"") == true)
        #expect(events.last?.contains("\"type\":\"association-end\"") == true)
        #expect(events.last?.contains("\"outcome\":\"released\"") == true)
        #expect(events.filter { $0.contains("\"type\":\"exchange\"") }.count == 3)

        // An SCP whose answers changed: another name in the RPI match, one Patient Root match fewer.
        let changed = try Subprocess.replayPeer(["scp", "--variant", "changed"], name: "scp-changed", directory: dir)
        defer { changed.stop() }
        let report = try await replayAgainst(try await changed.listeningPort(), conversation, pace: .recorded)
        #expect(report.outcome == .differences)
        #expect(report.outcome.exitCode == 1)
        let result = try #require(report.associations.first)
        #expect(result.exchanges[0].matched)
        let rpi = result.exchanges[1].differences
        #expect(rpi.map(\.kind) == [.value, .value])
        #expect(rpi.map(\.response) == ["pending 1", "final"])
        #expect(rpi.allSatisfy { $0.path?.steps.map(\.tag) == [DICOMCore.Tag(0x0010_0010)] })
        #expect(rpi.allSatisfy { $0.recorded == "PN [Doe^John]" && $0.replayed == "PN [Doe^Jane]" })
        let root = result.exchanges[2].differences
        #expect(root.map(\.kind) == [.pendingCount, .missingResponse])
        #expect(root[0].recorded == "25" && root[0].replayed == "24")
        #expect(root[1].response == "pending 25")
        #expect(report.differenceCount == 4)
        let json = report.json().serialized()
        #expect(json.contains("\"pathText\":\"(0010,0010) PatientName\""))

        // --ignore PatientName: only the count is left.
        let ignoring = try await replayAgainst(try await changed.listeningPort(), conversation, ignoring: [DICOMCore.Tag(0x0010_0010)])
        #expect(ignoring.associations.first?.exchanges.map(\.matched) == [true, true, false])
    }

    @Test func seedSCUAgainstTheReplayedSCP() async throws {
        let dir = try TemporaryDirectory("replay-scp")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, recordedOutput) = try await record(dir, scpPort: try await scp.listeningPort())
        scp.stop()  // no real SCP in the room any more

        let conversation = try RecordedConversation.load(path: capture)
        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        options.logDirectory = dir.file("serve-logs")
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let scu = try Subprocess.replayPeer(["session", String(server.port)], name: "session-replayed", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
            // The SCU receives what it received from the real SCP: statuses and identifiers.
            #expect(scu.stdout == recordedOutput)
            #expect(server.answered == 2)  // the two C-FINDs (C-ECHO is answered by the server)
            #expect(server.findings.isEmpty)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.file("serve-logs"))
        #expect(logs.contains("events.jsonl"))
        #expect(logs.contains { $0.hasSuffix("-MODALITY-ARCHIVE.txt") })
    }

    /// A C-CANCEL recorded after the first pending response is replayed after the first pending response, and the
    /// SCP stops and answers Cancel (0xFE00). The SCP sends nothing after its first match until a C-CANCEL comes
    /// (`--hold-for-cancel`), so "after the first response and before the second" is an order of events, not a
    /// race against a delay: the pynetdicom SCU cancels once it has the first match, the SCP says after how many
    /// matches each C-CANCEL reached it, the capture and the replay report say the same.
    @Test func cancelAtItsRecordedMoment() async throws {
        let dir = try TemporaryDirectory("replay-cancel")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--hold-for-cancel"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["cancel", String(proxyPort)], name: "cancel", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
            #expect(try cancelSCUStatuses(scu) == [0xFF00, 0xFE00])
        }
        // The SCP's account of the recorded session: the C-CANCEL came after its first match.
        #expect(scp.cancelsAfterPending == [1], "\(scp.stdout)")
        let conversation = try RecordedConversation.load(path: capture)
        let request = try #require(conversation.associations.first?.requests.first)
        #expect(request.cancel?.afterResponses == 1)
        #expect(request.responses.map(\.status) == [0xFF00, 0xFE00])

        let report = try await replayAgainst(scpPort, conversation)
        let exchange = try #require(report.associations.first?.exchanges.first)
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(exchange.cancelled)
        #expect(exchange.replayedFinalStatus == 0xFE00)
        // The replay sent its C-CANCEL after the first pending response: the SCP, which waits for it there, got it
        // there. Sent too early, it would stop before any match (0 pending); never sent or sent later, the SCP
        // would send nothing more and the replay would time out.
        #expect(exchange.replayedPending == 1)
        #expect(scp.cancelsAfterPending == [1, 1], "\(scp.stdout)")
        #expect(!scp.stdout.contains("hold-timed-out"), "\(scp.stdout)")
    }

    @Test func scpThatRejectsTheAssociation() async throws {
        let dir = try TemporaryDirectory("replay-reject")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, _) = try await record(dir, scpPort: try await scp.listeningPort())
        let rejecting = try Subprocess.replayPeer(["scp", "--reject"], name: "scp-reject", directory: dir)
        defer { rejecting.stop() }

        let report = try await replayAgainst(try await rejecting.listeningPort(), try RecordedConversation.load(path: capture))
        #expect(report.outcome == .error)
        #expect(report.outcome.exitCode == 2)
        let result = try #require(report.associations.first)
        #expect(result.error?.code == .associationRejected)
        #expect(result.error?.message.contains("rejected the association") == true)
        // Nothing partial is presented as a match: every request is reported not sent.
        #expect(result.exchanges.count == 3)
        #expect(result.exchanges.allSatisfy { !$0.matched && $0.differences.map(\.kind) == [.requestNotSent] })
        #expect(report.text().contains("result: error"))
    }
}

extension PynetdicomReplayTests {
    /// An SCP that aborts in the middle: an error, the unanswered request is not a match and
    /// the requests after it are reported not sent.
    @Test func scpThatAbortsMidSession() async throws {
        let dir = try TemporaryDirectory("replay-abort")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, _) = try await record(dir, scpPort: try await scp.listeningPort())
        let aborting = try Subprocess.replayPeer(["scp", "--abort-on-find"], name: "scp-abort", directory: dir)
        defer { aborting.stop() }

        let report = try await replayAgainst(try await aborting.listeningPort(), try RecordedConversation.load(path: capture))
        #expect(report.outcome == .error)
        let result = try #require(report.associations.first)
        #expect(result.error?.code == .associationAborted)
        #expect(result.error?.message.contains("1 request(s) unanswered") == true)
        #expect(result.exchanges.map(\.matched) == [true, false, false])
        #expect(result.exchanges[1].differences.map(\.kind).contains(.noFinalResponse))
        #expect(result.exchanges[2].differences.map(\.kind) == [.requestNotSent])
    }
}

extension PynetdicomReplayTests {
    /// The replayed SCP at recorded pace (a slow PACS, 0.1 s per match): an SCU that cancels after the first match
    /// gets Cancel (0xFE00) and not the other recorded matches.
    ///
    /// Whether the C-CANCEL lands between two matches must not depend on how fast a loaded machine delivers it, so
    /// the recorded gaps after the first match are stretched into a growing series (0.2 s, 0.4 s, ... at most 5 s:
    /// 100 s in all): the replayed SCP, sleeping them at recorded pace, is still sending matches whenever the
    /// C-CANCEL comes, and a test that passes still waits only about one gap. What is checked is the order of
    /// events: the SCU's statuses, and the replayed SCP's `--log-dir` events (C-CANCEL after the first match, the
    /// Cancel response after the C-CANCEL, nothing after it). A replayed SCP that ignored the C-CANCEL would send
    /// all 25 matches and Success. That it keeps the recorded pace is a lower bound: its first match comes at least
    /// the recorded delay after the request (at `--pace asap` it comes at once).
    @Test func replayedSCPHonoursCancelAtRecordedPace() async throws {
        let dir = try TemporaryDirectory("replay-scp-cancel")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--delay", "0.1"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, _) = try await record(dir, scpPort: try await scp.listeningPort())
        scp.stop()
        var conversation = try RecordedConversation.load(path: capture)
        let last = try #require(conversation.associations.first?.requests.indices.last)
        let root = conversation.associations[0].requests[last]
        #expect(root.pendingResponses.count == 25)
        // The recording has the slow SCP's pace: it slept 0.1 s before each match, so the 25th reached the proxy at
        // least 2.5 s after the request (a lower bound: a loaded machine only adds to it).
        let lastMatch = try #require(root.pendingResponses.last)
        #expect(gap(lastMatch.firstFragmentTime, root.message.time) >= .milliseconds(2500))
        #expect(root.responseDelays.count == 26)
        #expect(root.responseDelays[0] >= .milliseconds(100))  // the SCP slept 0.1 s after the request
        var delays = root.responseDelays
        for k in 1..<25 { delays[k] = min(.milliseconds(100 << k), .seconds(5)) }
        conversation.associations[0].requests[last].responseDelays = delays

        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        options.pace = .recorded
        options.logDirectory = dir.file("serve-logs")
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        let statuses: [Int]
        do {
            let scu = try Subprocess.replayPeer(["cancel", String(server.port)], name: "cancel", directory: dir)
            #expect(try await scu.wait(timeout: .seconds(300)) == 0)
            statuses = try cancelSCUStatuses(scu)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        // Some matches (at least the one the SCU cancelled after), then Cancel, never all 25 nor Success.
        #expect(statuses.last == 0xFE00, "\(statuses)")
        let matches = statuses.dropLast()
        #expect(matches.allSatisfy { $0 == 0xFF00 }, "\(statuses)")
        #expect(matches.count >= 1 && matches.count < 25, "\(statuses)")

        // The replayed SCP's own record of the association, in the order its PDUs went out and came in.
        let messages = try replayLogEvents(dir.file("serve-logs")).filter { $0["type"] as? String == "message" }
        let sequence = messages.map { ($0["command"] as? String ?? "?") + " " + ($0["status"] as? String ?? "") }
        #expect(sequence.first == "\(CommandField.cFindRequest) ", "\(sequence)")
        let cancel = try #require(sequence.firstIndex { $0.hasPrefix(CommandField.cCancelRequest.description) }, "\(sequence)")
        let sentMatches = sequence.indices.filter { sequence[$0] == "\(CommandField.cFindResponse) 0xFF00" }
        #expect(sentMatches.count == matches.count, "what the SCU got is what the SCP sent: \(sequence)")
        #expect(sentMatches.first.map { $0 < cancel } == true, "the C-CANCEL came after the first match: \(sequence)")
        #expect(sequence.last == "\(CommandField.cFindResponse) 0xFE00", "\(sequence)")
        #expect(sequence.filter { $0.hasPrefix("\(CommandField.cFindResponse)") && !$0.hasSuffix("0xFF00") }.count == 1, "\(sequence)")
        // At recorded pace: the first match went out at least its recorded delay after the request came in
        // (events.jsonl has microseconds; + 1 for the truncated one).
        let requestTime = try #require(messages.first?["time"] as? String)
        let firstMatchTime = try #require(sentMatches.first.flatMap { messages[$0]["time"] as? String })
        let waited = Duration.microseconds(try microseconds(firstMatchTime) - microseconds(requestTime) + 1)
        #expect(waited >= root.responseDelays[0], "\(waited) before the first match, \(root.responseDelays[0]) recorded")
    }
}

extension PynetdicomReplayTests {
    /// The committed capture of four concurrent associations, at recorded pace: they overlap again (every
    /// association starts before any one ends), each waits its recorded gaps, and each matches (the content items
    /// of the SCP used for the capture are ignored).
    ///
    /// Overlap is shown by events, not by the four starting within some window: the SCP answers a C-FIND only once
    /// four associations are established (`--barrier 4`), so no association can end before the last one started, if
    /// and only if the replay runs them at once. Replayed one after the other, the first C-FIND would go unanswered
    /// until the SCP gives up (60 s) or the replay times out, and the start/end order in `events.jsonl` would differ.
    @Test func concurrentAssociationsAtRecordedPace() async throws {
        let dir = try TemporaryDirectory("replay-concurrent")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--barrier", "4"], name: "scp", directory: dir)
        defer { scp.stop() }
        let conversation = try Captures.load("concurrent.pcapng")
        let ignored = ["ContentSequence", "ConceptNameCodeSequence", "ValueType", "ObservationDateTime", "ContinuityOfContent"]
            .compactMap { DICOMCore.Tag(parsing: $0) }
        let logs = dir.file("logs")
        let report = try await replayAgainst(try await scp.listeningPort(), conversation, pace: .recorded, ignoring: Set(ignored),
                                             logDirectory: logs)
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(report.associations.map(\.recordedIndex) == [1, 2, 3, 4])
        // The SCP's account: each C-FIND waited until all four associations were established.
        let finds = scp.peerEvents.filter { $0["event"] as? String == "find" }
        #expect(finds.count == 4, "\(scp.stdout)")
        #expect(finds.allSatisfy { $0["barrier"] as? String == "met" }, "\(scp.stdout)")

        // Our side's log, in the order things happened: all four starts come before the first end.
        let events = try replayLogEvents(logs)
        let marks = events.compactMap { e -> (type: String, association: String)? in
            guard let type = e["type"] as? String, type == "association-start" || type == "association-end",
                  let association = e["association"] as? String else { return nil }
            return (type, association)
        }
        #expect(marks.count == 8, "\(marks)")
        let starts = marks.filter { $0.type == "association-start" }.map(\.association)
        let ends = marks.filter { $0.type == "association-end" }.map(\.association)
        #expect(Set(starts).count == 4 && Set(ends) == Set(starts), "\(marks)")
        #expect(marks.prefix(4).allSatisfy { $0.type == "association-start" }, "\(marks)")

        // Recorded pace: each association waited at least its recorded closing delay (about 0.2 s) between its last
        // response and the A-RELEASE (a lower bound; --pace asap would release at once). events.jsonl has microseconds.
        let byCalling = Dictionary(conversation.associations.map { ($0.callingAETitle, $0.closingDelay) }, uniquingKeysWith: { a, _ in a })
        for id in Set(starts) {
            let own = events.filter { $0["association"] as? String == id }
            let calling = try #require(own.first { $0["type"] as? String == "association-start" }?["callingAETitle"] as? String)
            let recorded = try #require(byCalling[calling], "\(calling)")
            #expect(recorded >= .milliseconds(100), "\(calling): \(recorded)")
            let lastResponse = try #require(own.last { $0["type"] as? String == "message" && $0["sender"] as? String == "acceptor" }?["time"] as? String)
            let end = try #require(own.first { $0["type"] as? String == "association-end" }?["time"] as? String)
            let waited = Duration.microseconds(try microseconds(end) - microseconds(lastResponse) + 1)  // + the truncated microsecond
            #expect(waited >= recorded, "\(calling): \(waited) after the last response, \(recorded) recorded")
        }
    }
}

extension PynetdicomReplayTests {
    /// C-GET with its C-STORE sub-operations on the same association (the SCU replay answers the
    /// SCP's C-STORE-RQs from the recording): matched against the same SCP; against an SCP that
    /// sends one instance fewer, the pending count and the sub-operation counts differ.
    @Test func cGetWithStoreSubOperations() async throws {
        let dir = try TemporaryDirectory("replay-get")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--get-count", "3"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["get", String(proxyPort)], name: "get", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
            #expect(scu.stdout.contains("\"statuses\": [65280, 65280, 65280, 0]"))
        }
        let conversation = try RecordedConversation.load(path: capture)
        let recorded = try #require(conversation.associations.first)
        #expect(recorded.requests.filter { $0.sender == .acceptor }.map(\.commandField) == [.cStoreRequest, .cStoreRequest, .cStoreRequest])
        #expect(recorded.requestorRequests.map(\.commandField) == [.cGetRequest])
        #expect(recorded.requestorRequests.first?.subOperations.count == 3)

        let same = try await replayAgainst(scpPort, conversation)
        #expect(same.outcome == .matched, "\(same.text())")
        #expect(same.associations.first?.exchanges.first?.replayedPending == 3)

        let fewer = try Subprocess.replayPeer(["scp", "--get-count", "2"], name: "scp-fewer", directory: dir)
        defer { fewer.stop() }
        let report = try await replayAgainst(try await fewer.listeningPort(), conversation)
        let differences = try #require(report.associations.first?.exchanges.first?.differences)
        #expect(differences.map(\.kind) == [.pendingCount, .commandElement, .commandElement, .missingResponse, .commandElement])
        let completed = try #require(differences.last)
        #expect(completed.path?.steps.map(\.tag) == [DICOMCore.Tag(0x0000_1021)])
        #expect(completed.recorded == "US 3" && completed.replayed == "US 2")

        // The replayed SCP sends the recorded C-STORE sub-operations on the SCU's storage context (SCP role
        // accepted as proposed), each before the C-GET response it preceded, and the recorded responses.
        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let scu = try Subprocess.replayPeer(["get", String(server.port)], name: "get-replayed", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
            #expect(scu.stdout.contains("\"statuses\": [65280, 65280, 65280, 0]"), "\(scu.stdout)")
            let stored = recorded.requests.filter { $0.sender == .acceptor }.compactMap { r -> String? in if case .cStoreRequest(let s) = r.message.command { return s.affectedSOPInstanceUID } else { return nil } }
            #expect(stored.count == 3)
            #expect(scu.stdout.contains(stored.map { "\"\($0)\"" }.joined(separator: ", ")), "\(scu.stdout)")
            #expect(server.findings.isEmpty)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }
}

// MARK: - The command


/// `dicomtap replay` as a user runs it: exit status 0 / 1 / 2, the report on stdout, errors on stderr.
@Suite(.peers, .requires(.pynetdicom, .dicomtap))
struct ReplayCommandTests {
    func dicomtap(_ arguments: [String], name: String, directory: TemporaryDirectory) async throws -> Subprocess {
        let p = try Subprocess(Peers.dicomtap, ["replay"] + arguments, name: name, directory: directory)
        _ = try await p.wait(timeout: peerMargin)
        return p
    }

    @Test func exitStatuses() async throws {
        let dir = try TemporaryDirectory("replay-cli")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["session", String(proxyPort)], name: "session", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
        }

        let matched = try await dicomtap([capture, "--to", "127.0.0.1:\(scpPort)"], name: "matched", directory: dir)
        #expect(matched.process.terminationStatus == 0, "\(matched.stdout)\(matched.stderr)")
        #expect(matched.stdout.contains("result: matched (3 requests in 1 association)"))

        let changed = try Subprocess.replayPeer(["scp", "--variant", "changed"], name: "scp-changed", directory: dir)
        defer { changed.stop() }
        let differing = try await dicomtap([capture, "--to", "127.0.0.1:\(try await changed.listeningPort())", "--format", "json"],
                                           name: "differing", directory: dir)
        #expect(differing.process.terminationStatus == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(differing.stdout.utf8)) as? [String: Any])
        #expect(json["outcome"] as? String == "differences")
        #expect(json["differences"] as? Int == 4)

        // A capture that starts mid-association: a clear error, exit status 2.
        let midStream = try await dicomtap([Captures.path("mid_stream.pcapng"), "--to", "127.0.0.1:\(scpPort)"],
                                           name: "mid-stream", directory: dir)
        #expect(midStream.process.terminationStatus == 2)
        #expect(midStream.stderr.contains("no complete association to replay"))
        #expect(midStream.stderr.contains("A-ASSOCIATE-RQ"))
        #expect(midStream.stdout.isEmpty)

        // Nobody listening: exit status 2, the report says why.
        let closedPort = try freePort()
        let refused = try await dicomtap([capture, "--to", "127.0.0.1:\(closedPort)"], name: "refused", directory: dir)
        #expect(refused.process.terminationStatus == 2)
        #expect(refused.stdout.contains("error: network-failure"))
    }
}

// MARK: - DCMTK findscu

@Suite(.peers, .requires(.pynetdicom, .dcmtk))
struct FindscuReplayTests {
    static func findscu(_ port: Int, patientID: String, name: String, directory: TemporaryDirectory) async throws -> Subprocess {
        let p = try Subprocess(Peers.findscu, ["-P", "-aec", "ARCHIVE", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=\(patientID)",
                                               "-k", "PatientName", "-k", "PatientBirthDate", "127.0.0.1", String(port)],
                               name: name, directory: directory)
        _ = try await p.wait(timeout: peerMargin)
        return p
    }

    /// What findscu printed about the matches: each response's identifier lines.
    static func matchLines(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("I: (00") || $0.contains("Find Response") }
    }

    @Test func patientRootWithManyMatchesBothWays() async throws {
        let dir = try TemporaryDirectory("replay-findscu")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--matches", "40"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        var recordedOutput = ""
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let f = try await Self.findscu(proxyPort, patientID: "*", name: "findscu-recorded", directory: dir)
            #expect(f.process.terminationStatus == 0)
            recordedOutput = f.stdout + f.stderr
        }
        #expect(Self.matchLines(recordedOutput).filter { $0.contains("Find Response") }.count == 40)
        let conversation = try RecordedConversation.load(path: capture)
        #expect(conversation.associations.first?.callingAETitle == "FINDSCU")

        // SCU side: findscu's session against the same SCP.
        let report = try await replayAgainst(scpPort, conversation)
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(report.associations.first?.exchanges.first?.replayedPending == 40)

        // SCP side: findscu against the replay gets the same 40 matches; another patient is unmatched.
        scp.stop()
        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let again = try await Self.findscu(server.port, patientID: "*", name: "findscu-replayed", directory: dir)
            #expect(again.process.terminationStatus == 0)
            #expect(Self.matchLines(again.stdout + again.stderr) == Self.matchLines(recordedOutput))
            #expect(server.findings.isEmpty)

            let other = try await Self.findscu(server.port, patientID: "NOBODY", name: "findscu-unmatched", directory: dir)
            #expect(!(other.stdout + other.stderr).contains("Find Response: 1 (Pending)"))
            let finding = try #require(server.findings.first)
            #expect(server.findings.count == 1)
            #expect(finding.code == .unmatchedRequest)
            #expect(finding.message.contains("PatientID=NOBODY"))
            #expect(finding.message.contains("answered 0xC000"))
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }
}
