import DICOMCore
import DICOMInspect
import Foundation
import Testing
@testable import DICOMReplay

/// A copy of a committed pcapng capture whose packets from the first P-DATA-TF that `sender` sent onward carry a
/// timestamp near 2^64 ns (the reader clamps such times to `Int64.max`): a capture with bogus times.
func captureWithBogusTimes(_ name: String, from sender: PeerRole, into directory: TemporaryDirectory) throws -> String {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Captures.path(name))))
    func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
    func u16be(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
    func put32(_ at: Int, _ v: UInt32) { for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) } }
    var acceptorPort: Int?
    var shifting = false
    var base: UInt64 = 0
    var offset = 0
    var shifted = 0
    while offset + 12 <= bytes.count {
        let type = u32(offset), length = Int(u32(offset + 4))
        guard length >= 12, offset + length <= bytes.count else { break }
        if type == 1 {
            #expect(bytes[offset + 8] == 1, "Ethernet link type expected")  // LINKTYPE_ETHERNET
        }
        if type == 6 {  // Enhanced Packet Block: interface, timestamp high/low, captured length, length, data
            let captured = Int(u32(offset + 20))
            let frame = offset + 28
            var payloadFirst: UInt8?
            var source = 0, destination = 0
            if captured > 14 + 20, bytes[frame + 12] == 0x08, bytes[frame + 13] == 0x00 {  // IPv4
                let ip = frame + 14
                let ipHeader = Int(bytes[ip] & 0x0F) * 4
                let tcp = ip + ipHeader
                source = u16be(tcp)
                destination = u16be(tcp + 2)
                let payload = tcp + Int(bytes[tcp + 12] >> 4) * 4
                let totalLength = u16be(ip + 2)
                if bytes[ip + 9] == 6, payload < ip + totalLength { payloadFirst = bytes[payload] }
            }
            if payloadFirst == 0x01, acceptorPort == nil { acceptorPort = destination }
            if !shifting, payloadFirst == 0x04, let acceptorPort,
               (sender == .requestor ? destination : source) == acceptorPort {
                shifting = true
                base = UInt64(u32(offset + 12)) << 32 | UInt64(u32(offset + 16))
            }
            if shifting {
                let time = UInt64(u32(offset + 12)) << 32 | UInt64(u32(offset + 16))
                let bogus = 0xFFFF_FFFF_0000_0000 &+ (time &- base)
                put32(offset + 12, UInt32(bogus >> 32))
                put32(offset + 16, UInt32(truncatingIfNeeded: bogus))
                shifted += 1
            }
        }
        offset += length
    }
    guard shifted > 0 else { throw ReplayError(.unreadableCapture, "\(name): no P-DATA-TF from the \(sender)") }
    let path = directory.file("bogus-\(sender)-\(name)")
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite(.ownExecutor) struct PacingTests {
    @Test func gapSaturates() {
        let max = Timestamp(nanoseconds: .max), min = Timestamp(nanoseconds: .min)
        #expect(gap(max, min) == .nanoseconds(Int64.max))
        #expect(gap(min, max) == .nanoseconds(Int64.min))
        #expect(gap(max, Timestamp(nanoseconds: -1)) == .nanoseconds(Int64.max))
        #expect(gap(min, Timestamp(nanoseconds: 1)) == .nanoseconds(Int64.min))
        #expect(gap(Timestamp(nanoseconds: 5_000), Timestamp(nanoseconds: 2_000)) == .nanoseconds(3_000))
        #expect(gap(Timestamp(nanoseconds: -5), Timestamp(nanoseconds: 5)) == .nanoseconds(-10))
    }

    @Test func gapsAreCapped() {
        let long = PacedGap(.seconds(3600), cap: .seconds(60))
        #expect(long.sleep == .seconds(60))
        #expect(long.cappedFrom == .seconds(3600))
        #expect(long.warning("the think time before request 1", association: 2)
            == "association 2: the think time before request 1 is 3600.000 s in the recording; waited 60.000 s instead "
            + "(the most --pace recorded waits)")
        let short = PacedGap(.milliseconds(250), cap: .seconds(60))
        #expect(short.sleep == .milliseconds(250))
        #expect(short.warning("x", association: 1) == nil)
        #expect(PacedGap(.nanoseconds(Int64.min), cap: .seconds(60)).sleep == .zero)
        #expect(PacedGap(.nanoseconds(Int64.max), cap: .seconds(60)).warning("x", association: 1)?.contains("292 years") == true)
        #expect(ReplayPace.defaultMaximumGap == .seconds(60))
    }

    /// A capture whose times jump by centuries loads (no trap) and keeps the recorded (huge) gap.
    @Test func bogusTimesLoad() throws {
        let dir = try TemporaryDirectory("pacing-load")
        defer { dir.remove() }
        let conversation = try RecordedConversation.load(path: try captureWithBogusTimes("rpi_general_one_match.pcapng",
                                                                                          from: .requestor, into: dir))
        let request = try #require(conversation.associations.first?.requestorRequests.first)
        #expect(request.thinkTime > .seconds(86_400 * 365 * 100))
        #expect(request.responseDelays.allSatisfy { $0 < .seconds(1) })
    }

    /// SCU side at recorded pace, with a recorded think time of centuries, against the replayed SCP of the same
    /// capture: it waits the maximum gap, says so in the report, and matches.
    @Test func scuReplayCapsTheThinkTime() async throws {
        let dir = try TemporaryDirectory("pacing-scu")
        defer { dir.remove() }
        let bogus = try RecordedConversation.load(path: try captureWithBogusTimes("rpi_general_one_match.pcapng",
                                                                                   from: .requestor, into: dir))
        var serveOptions = SCPReplayOptions(port: 0)
        serveOptions.host = "127.0.0.1"
        let server = try await SCPReplayer.start(try Captures.load("rpi_general_one_match.pcapng"), options: serveOptions,
                                                 logger: quietLogger())
        var options = SCUReplayOptions(host: "127.0.0.1", port: server.port)
        options.pace = .recorded
        options.maximumGap = .milliseconds(300)
        options.responseTimeout = .seconds(90)  // a margin for a loaded machine; no test measures it
        let clock = ContinuousClock()
        let started = clock.now
        let report: ReplayReport
        do {
            report = try await SCUReplayer(options: options, logger: quietLogger()).replay(bogus)
        } catch {
            await server.shutdown()
            throw error
        }
        let elapsed = clock.now - started
        await server.shutdown()
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(elapsed >= .milliseconds(300))
        // The recorded gap is centuries: finishing at all shows the cap (no tighter bound: the machine may be loaded).
        #expect(elapsed < .seconds(600))
        let notes = report.associations.first?.notes ?? []
        #expect(notes.contains { $0.hasPrefix("association 1: the think time before request 1 (") && $0.contains("years in the recording; waited 0.300 s instead") },
                "\(notes)")
        #expect(report.text().contains("note: association 1: the think time before request 1"))
    }

    /// SCP side at recorded pace, with a recorded response delay of centuries: it answers after the maximum gap,
    /// with a warning (in `pacingWarnings` and the `--log-dir` dump), and the SCU replay of the capture matches.
    @Test func replayedSCPCapsTheResponseDelay() async throws {
        let dir = try TemporaryDirectory("pacing-scp")
        defer { dir.remove() }
        let bogus = try RecordedConversation.load(path: try captureWithBogusTimes("rpi_general_one_match.pcapng",
                                                                                   from: .acceptor, into: dir))
        let request = try #require(bogus.associations.first?.requestorRequests.first)
        #expect(request.responseDelays.first.map { $0 > .seconds(86_400 * 365 * 100) } == true)
        var serveOptions = SCPReplayOptions(port: 0)
        serveOptions.host = "127.0.0.1"
        serveOptions.pace = .recorded
        serveOptions.maximumGap = .milliseconds(300)
        serveOptions.logDirectory = dir.file("serve-logs")
        let server = try await SCPReplayer.start(bogus, options: serveOptions, logger: quietLogger())
        let clock = ContinuousClock()
        let started = clock.now
        let report: ReplayReport
        do {
            report = try await replayAgainst(server.port, try Captures.load("rpi_general_one_match.pcapng"))
        } catch {
            await server.shutdown()
            throw error
        }
        let elapsed = clock.now - started
        #expect(report.outcome == .matched, "\(report.text())")
        #expect(elapsed >= .milliseconds(300))
        // The recorded gap is centuries: finishing at all shows the cap (no tighter bound: the machine may be loaded).
        #expect(elapsed < .seconds(600))
        #expect(server.findings.isEmpty)
        let warnings = server.pacingWarnings
        #expect(warnings.count == 1)
        #expect(warnings.first?.code == .recordedGapCapped)
        #expect(warnings.first?.message.contains("the delay before response 1 to request 1") == true, "\(warnings)")
        // The association's log was written and dropped once released.
        try await eventually("the replayed SCP's log session is closed", timeout: peerMargin) { server.openLogSessions == 0 }
        await server.shutdown()
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.file("serve-logs")).filter { $0.hasSuffix(".txt") }
        #expect(logs.count == 1)
        let dump = try String(contentsOfFile: dir.file("serve-logs") + "/" + (logs.first ?? ""), encoding: .utf8)
        #expect(dump.contains("recorded-gap-capped"), "\(dump)")
    }
}

@Suite struct ReplayLogTests {
    /// A replayed SCP's session is kept while its association is open and dropped once its log is written.
    @Test func closedSessionsAreDropped() throws {
        let dir = try TemporaryDirectory("replay-log")
        defer { dir.remove() }
        let log = try ReplayLog(directory: dir.path)
        let first = log.session(client: "connection 1", server: "here", connection: 1)
        _ = log.session(client: "connection 2", server: "here", connection: 2)
        #expect(log.openSessionCount == 2)
        #expect(log.session(connection: 1) === first)
        first.finish(reason: "test")
        #expect(log.session(connection: 1) == nil)
        #expect(log.openSessionCount == 1)
        log.finishAll(reason: "stopping")
        #expect(log.openSessionCount == 0)
        let texts = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".txt") }
        #expect(texts.count == 2)
        // A session for a connection number used again is not dropped by the old one finishing again.
        let again = log.session(client: "connection 1", server: "here", connection: 1)
        first.finish()
        #expect(log.session(connection: 1) === again)
    }
}
