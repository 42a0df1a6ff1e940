import DICOMUL
import Foundation
import Testing
@testable import DICOMProxy

/// What the upstream does wrong, with real peers on both sides and a recording relay on each leg
/// (SCU -> tap -> proxy -> tap -> SCP): the proxy passes the upstream's own A-ASSOCIATE-RJ and
/// A-ABORT to the SCU byte for byte, and when the upstream goes away mid-association the SCU's
/// association ends in an A-P-ABORT and the proxy goes on serving.
@Suite(.peers, .requires(.pynetdicom))
struct UpstreamFaultTests {
    /// pynetdicom SCP with `require_calling_aet`: the SCU gets exactly the A-ASSOCIATE-RJ the SCP
    /// sent (1/1/3), the SCP got exactly the A-ASSOCIATE-RQ the SCU sent, the proxy logs and
    /// events say the upstream rejected, and a next association (an accepted calling AE) works.
    @Test func upstreamRejectionIsRelayedByteForByte() async throws {
        let dir = try TemporaryDirectory("up-rj")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--require-calling-aet", "ALLOWED"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await Tap.start(to: scpPort, prefix: "scp", directory: dir)
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpTap.port, routes: ["DIRECT": scpPort], configure: { $0.logDirectory = logDir }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--calling", "MODALITY"], name: "find-rj", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["established"] as? Bool == false, "\(find.stdout) \(find.stderr)")
            #expect(answer["rejected"] as? Bool == true)
            #expect(answer["rejection"] as? [Int] == [1, 1, 3])

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
            // The SCP's A-ASSOCIATE-RJ, and nothing else, reached the SCU.
            #expect(scpLeg.received == [rejectPDU(result: 1, source: 1, reason: 3)])
            #expect(scuLeg.received == scpLeg.received)
            // The SCU's A-ASSOCIATE-RQ reached the SCP as sent.
            #expect(scuLeg.sent.count == 1 && scuLeg.sent.first?.type == 0x01)
            #expect(scpLeg.sent == scuLeg.sent)

            try await eventually("the association's end") { proxy.logs.contains("END  rejected") }
            #expect(proxy.logs.contains("END  rejected (rejected-permanent, source: DICOM UL service-user, reason: calling-AE-title-not-recognized)"),
                    "\(proxy.logs.text)")
            #expect(!proxy.logs.contains("A-ABORT"))

            // The proxy goes on: an accepted calling AE title, straight to the SCP.
            let next = try Subprocess.python(["find", String(proxy.port), "--calling", "ALLOWED", "--called", "DIRECT"],
                                             name: "find-next", directory: dir)
            #expect(try await next.wait() == 0)
            let nextAnswer = try jsonObject(next.stdout)
            #expect(nextAnswer["established"] as? Bool == true, "\(next.stdout) \(next.stderr)")
            #expect((nextAnswer["responses"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000])
            try await eventually("the second association's end") { proxy.logs.contains("END  released") }
        }

        let events = try jsonLines(logDir + "/events.jsonl").filter { $0["association"] as? String == "0001" }
        let rj = try #require(events.first { $0["type"] as? String == "pdu" && $0["pduType"] as? String == "A-ASSOCIATE-RJ" })
        #expect(rj["sender"] as? String == "acceptor")
        let reject = rj["reject"] as? [String: Any]
        #expect(reject?["result"] as? Int == 1 && reject?["source"] as? Int == 1 && reject?["reason"] as? Int == 3)
        let end = try #require(events.last { $0["type"] as? String == "association-end" })
        #expect(end["outcome"] as? String == "rejected")
        // The upstream rejected, not the proxy.
        #expect(end["proxyAction"] is NSNull)
    }

    /// DCMTK storescp --refuse behind the proxy, DCMTK echoscu in front: echoscu reports the
    /// rejection storescp sent (1/1/1), and the bytes it got are exactly storescp's.
    @Test(.requires(.dcmtk))
    func storescpRefusalReachesEchoscuByteForByte() async throws {
        let dir = try TemporaryDirectory("up-refuse")
        defer { dir.remove() }
        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--refuse", String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen") { try canConnect(port: scpPort) }
        let scpTap = try await Tap.start(to: scpPort, prefix: "scp", directory: dir)
        try await withProxy(upstream: scpTap.port) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let echo = try Subprocess(Peers.echoscu, ["-v", "127.0.0.1", String(scuTap.port)], name: "echoscu", directory: dir)
            #expect(try await echo.wait() != 0)
            let output = echo.stdout + echo.stderr
            #expect(output.contains("Association Rejected"), "\(output)")
            #expect(output.contains("Result: Rejected Permanent, Source: Service User"), "\(output)")
            #expect(output.contains("Reason: No Reason"), "\(output)")

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
            #expect(scpLeg.received == [rejectPDU(result: 1, source: 1, reason: 1)])
            #expect(scuLeg.received == scpLeg.received)
            #expect(scpLeg.sent == scuLeg.sent)
            try await eventually("the association's end") { proxy.logs.contains("END  rejected") }
            #expect(proxy.logs.contains("END  rejected (rejected-permanent, source: DICOM UL service-user, reason: no-reason-given)"),
                    "\(proxy.logs.text)")
        }
    }

    /// A pynetdicom SCP that aborts from its C-FIND handler, as a user abort (source 0) and as a
    /// provider abort with reason 4: the SCU gets that A-ABORT, byte for byte, and nothing of the
    /// proxy's own; the logs say the acceptor aborted.
    @Test(arguments: [("user", [0, 0]), ("provider-4", [2, 4])])
    func upstreamAbortIsRelayedAsReceived(mode: String, sourceAndReason: [Int]) async throws {
        let dir = try TemporaryDirectory("up-abort")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--abort-on-find", mode], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await Tap.start(to: scpPort, prefix: "scp", directory: dir)
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpTap.port, configure: { $0.logDirectory = logDir }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port)], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["established"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect(answer["aborted"] as? Bool == true)
            #expect(answer["abort"] as? [Int] == sourceAndReason)

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            let abort = abortPDU(source: UInt8(sourceAndReason[0]), reason: UInt8(sourceAndReason[1]))
            #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
            #expect(scpLeg.received.map(\.type) == [0x02, 0x07])
            #expect(scpLeg.received.last == abort)
            // Everything the SCP sent reached the SCU unchanged, and nothing more.
            #expect(scuLeg.received == scpLeg.received)
            #expect(scpLeg.sent == scuLeg.sent)

            let description = Abort(source: .init(rawValue: UInt8(sourceAndReason[0])),
                                    reason: .init(rawValue: UInt8(sourceAndReason[1]))).description
            try await eventually("the association's end") { proxy.logs.contains("END  ") }
            #expect(proxy.logs.contains("END  aborted by the acceptor (\(description))"), "\(proxy.logs.text)")
            #expect(!proxy.logs.contains("-> SCU"))
        }
        let events = try jsonLines(logDir + "/events.jsonl")
        let abortEvent = try #require(events.first { $0["type"] as? String == "pdu" && $0["pduType"] as? String == "A-ABORT" })
        #expect(abortEvent["sender"] as? String == "acceptor")
        let fields = abortEvent["abort"] as? [String: Any]
        #expect([fields?["source"] as? Int, fields?["reason"] as? Int] == sourceAndReason.map { Optional($0) })
        let end = try #require(events.last)
        #expect(end["type"] as? String == "association-end")
        #expect(end["outcome"] as? String == "aborted")
        #expect(end["proxyAction"] is NSNull)
    }

    /// The SCP process is killed (SIGKILL, by PID) while the SCU waits for its C-FIND response: the
    /// SCU's association ends in an abort (PS3.8 AA-4 / AA-3: an A-P-ABORT indication), with
    /// nothing after the SCP's A-ASSOCIATE-AC but, at most, an A-ABORT from the service provider
    /// (source 2), never one claiming to come from the SCP's user; the logs say the C-FIND went
    /// unanswered and the association ended without release, naming the upstream as the side that
    /// closed; a next association through the same proxy works.
    @Test func upstreamKilledMidAssociation() async throws {
        let dir = try TemporaryDirectory("up-killed")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--hang-on-find", "--until-killed"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let other = try Subprocess.python(["scp"], name: "other-scp", directory: dir)
        defer { other.stop() }
        let otherPort = try await other.port()
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpPort, routes: ["OTHER": otherPort], configure: { $0.logDirectory = logDir }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port)], name: "find", directory: dir)
            try await eventually("the SCP's handler to get the C-FIND", timeout: .seconds(20)) { scp.stdout.contains("FIND-RECEIVED") }
            #expect(kill(scp.pid, SIGKILL) == 0)

            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["established"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect(answer["aborted"] as? Bool == true, "\(find.stdout)")
            let scuLeg = try await scuTap.finish()
            #expect(scuLeg.receivedTrailing == 0)
            #expect(scuLeg.received.first?.type == 0x02)
            let afterAccept = Array(scuLeg.received.dropFirst())
            // Nothing but, at most, one A-ABORT from the UL service provider (an A-P-ABORT).
            #expect(afterAccept.isEmpty || (afterAccept.count == 1 && afterAccept[0].type == 0x07 && afterAccept[0].bytes[8] == 2),
                    "the SCU received after the A-ASSOCIATE-AC: \(afterAccept)")
            if let abort = answer["abort"] as? [Int] { #expect(abort.first == 2) }

            try await eventually("the association's end") { proxy.logs.contains("END  ") }
            let log = proxy.logs.text
            #expect(log.contains("!! warning unanswered-request: C-FIND-RQ message 1 got no final response"), "\(log)")
            // What happened: the upstream (the SCP) closed its connection mid-association.
            let namesTheUpstream = proxy.logs.lines.current.contains { line in
                let l = line.lowercased()
                return l.contains("closed") && (l.contains("upstream") || l.contains("acceptor") || l.contains("scp"))
            }
            #expect(namesTheUpstream, "no log line says the upstream closed the connection:\n\(log)")

            // The proxy goes on serving.
            let next = try Subprocess.python(["find", String(proxy.port), "--called", "OTHER"], name: "find-next", directory: dir)
            #expect(try await next.wait() == 0)
            let nextAnswer = try jsonObject(next.stdout)
            #expect((nextAnswer["responses"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000],
                    "\(next.stdout) \(next.stderr)")
            try await eventually("the second association's end") { proxy.logs.contains("END  released") }
        }
        let events = try jsonLines(logDir + "/events.jsonl").filter { $0["association"] as? String == "0001" }
        #expect(events.contains { $0["type"] as? String == "finding" && $0["code"] as? String == "unanswered-request" })
        let end = try #require(events.last { $0["type"] as? String == "association-end" })
        #expect(end["outcomeDescription"] as? String == "connection closed without release")
    }
}
