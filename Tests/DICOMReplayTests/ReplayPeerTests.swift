import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@_exported import DICOMTestSupport
@testable import DICOMProxy
@testable import DICOMReplay

// MARK: - Support

extension Peers {
    static let replayScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Peers").appendingPathComponent("replay_peer.py").path
}

extension Subprocess {
    /// Runs `Peers/replay_peer.py` with the python that has pynetdicom.
    static func replayPeer(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 90) throws -> Subprocess {
        try python(script: Peers.replayScript, ["--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }
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
    options.responseTimeout = .seconds(20)
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
            #expect(try await scu.wait() == 0)
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
        let scpPort = try await scp.port()
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
        let events = try String(contentsOfFile: logs + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(events.first?.contains("\"type\":\"association-start\"") == true)
        #expect(events.last?.contains("\"type\":\"association-end\"") == true)
        #expect(events.last?.contains("\"outcome\":\"released\"") == true)
        #expect(events.filter { $0.contains("\"type\":\"exchange\"") }.count == 3)

        // An SCP whose answers changed: another name in the RPI match, one Patient Root match fewer.
        let changed = try Subprocess.replayPeer(["scp", "--variant", "changed"], name: "scp-changed", directory: dir)
        defer { changed.stop() }
        let report = try await replayAgainst(try await changed.port(), conversation, pace: .recorded)
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
        let ignoring = try await replayAgainst(try await changed.port(), conversation, ignoring: [DICOMCore.Tag(0x0010_0010)])
        #expect(ignoring.associations.first?.exchanges.map(\.matched) == [true, true, false])
    }

    @Test func seedSCUAgainstTheReplayedSCP() async throws {
        let dir = try TemporaryDirectory("replay-scp")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, recordedOutput) = try await record(dir, scpPort: try await scp.port())
        scp.stop()  // no real SCP in the room any more

        let conversation = try RecordedConversation.load(path: capture)
        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        options.logDirectory = dir.file("serve-logs")
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let scu = try Subprocess.replayPeer(["session", String(server.port)], name: "session-replayed", directory: dir)
            #expect(try await scu.wait() == 0)
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

    /// A C-CANCEL recorded after the first pending response is replayed after the first
    /// pending response: the slow SCP stops and answers Cancel (0xFE00).
    @Test func cancelAtItsRecordedMoment() async throws {
        let dir = try TemporaryDirectory("replay-cancel")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--delay", "0.1"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["cancel", String(proxyPort)], name: "cancel", directory: dir)
            #expect(try await scu.wait() == 0)
            #expect(scu.stdout.contains("65024"))  // 0xFE00
        }
        let conversation = try RecordedConversation.load(path: capture)
        let request = try #require(conversation.associations.first?.requests.first)
        #expect(request.cancel?.afterResponses == 1)

        let report = try await replayAgainst(scpPort, conversation)
        let exchange = try #require(report.associations.first?.exchanges.first)
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(exchange.cancelled)
        #expect(exchange.replayedFinalStatus == 0xFE00)
        #expect(exchange.replayedPending >= 1 && exchange.replayedPending < 25)
    }

    @Test func scpThatRejectsTheAssociation() async throws {
        let dir = try TemporaryDirectory("replay-reject")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, _) = try await record(dir, scpPort: try await scp.port())
        let rejecting = try Subprocess.replayPeer(["scp", "--reject"], name: "scp-reject", directory: dir)
        defer { rejecting.stop() }

        let report = try await replayAgainst(try await rejecting.port(), try RecordedConversation.load(path: capture))
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
        let (capture, _) = try await record(dir, scpPort: try await scp.port())
        let aborting = try Subprocess.replayPeer(["scp", "--abort-on-find"], name: "scp-abort", directory: dir)
        defer { aborting.stop() }

        let report = try await replayAgainst(try await aborting.port(), try RecordedConversation.load(path: capture))
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
    /// The replayed SCP at recorded pace (a slow PACS, 0.1 s per match): an SCU that cancels
    /// after the first match gets Cancel (0xFE00) and not the 24 other recorded matches.
    @Test func replayedSCPHonoursCancelAtRecordedPace() async throws {
        let dir = try TemporaryDirectory("replay-scp-cancel")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp", "--delay", "0.1"], name: "scp", directory: dir)
        defer { scp.stop() }
        let (capture, _) = try await record(dir, scpPort: try await scp.port())
        scp.stop()
        let conversation = try RecordedConversation.load(path: capture)
        let root = try #require(conversation.associations.first?.requests.last)
        #expect(root.pendingResponses.count == 25)
        #expect(root.responseDelays.prefix(25).allSatisfy { $0 >= .milliseconds(50) })  // each match; the final follows at once

        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        options.pace = .recorded
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let scu = try Subprocess.replayPeer(["cancel", String(server.port)], name: "cancel", directory: dir)
            #expect(try await scu.wait() == 0)
            let output = try #require(try JSONSerialization.jsonObject(with: Data(scu.stdout.utf8)) as? [String: Any])
            let statuses = try #require(output["statuses"] as? [Int])
            #expect(statuses.last == 0xFE00, "\(statuses)")
            #expect(statuses.count < 26)
            #expect(statuses.dropLast().allSatisfy { $0 == 0xFF00 })
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }
}

extension PynetdicomReplayTests {
    /// The committed capture of four concurrent associations, at recorded pace: they overlap
    /// again (every association starts before the first one ends), and each matches
    /// (the content items of the SCP used for the capture are ignored).
    @Test func concurrentAssociationsAtRecordedPace() async throws {
        let dir = try TemporaryDirectory("replay-concurrent")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let conversation = try Captures.load("concurrent.pcapng")
        let ignored = ["ContentSequence", "ConceptNameCodeSequence", "ValueType", "ObservationDateTime", "ContinuityOfContent"]
            .compactMap { DICOMCore.Tag(parsing: $0) }
        let logs = dir.file("logs")
        let report = try await replayAgainst(try await scp.port(), conversation, pace: .recorded, ignoring: Set(ignored),
                                             logDirectory: logs)
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(report.associations.map(\.recordedIndex) == [1, 2, 3, 4])
        let events = try String(contentsOfFile: logs + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        let types = events.compactMap { line in ["association-start", "association-end"].first { line.contains("\"type\":\"\($0)\"") } }
        #expect(types.count == 8)
        #expect(types.prefix(4).allSatisfy { $0 == "association-start" }, "\(types)")
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
        let scpPort = try await scp.port()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["get", String(proxyPort)], name: "get", directory: dir)
            #expect(try await scu.wait() == 0)
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
        let report = try await replayAgainst(try await fewer.port(), conversation)
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
            #expect(try await scu.wait() == 0)
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
        _ = try await p.wait()
        return p
    }

    @Test func exitStatuses() async throws {
        let dir = try TemporaryDirectory("replay-cli")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["session", String(proxyPort)], name: "session", directory: dir)
            #expect(try await scu.wait() == 0)
        }

        let matched = try await dicomtap([capture, "--to", "127.0.0.1:\(scpPort)"], name: "matched", directory: dir)
        #expect(matched.process.terminationStatus == 0, "\(matched.stdout)\(matched.stderr)")
        #expect(matched.stdout.contains("result: matched (3 requests in 1 association)"))

        let changed = try Subprocess.replayPeer(["scp", "--variant", "changed"], name: "scp-changed", directory: dir)
        defer { changed.stop() }
        let differing = try await dicomtap([capture, "--to", "127.0.0.1:\(try await changed.port())", "--format", "json"],
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
        _ = try await p.wait()
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
        let scpPort = try await scp.port()
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
