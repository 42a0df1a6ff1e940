import DICOMUL
import Foundation
import NIOPosix
import Testing
@testable import DICOMProxy

/// `--allow`: who may use the proxy. A raw peer sees the exact A-ASSOCIATE-RJ and the finding in
/// events.jsonl; `dicomtap proxy` as a user runs it, with DCMTK echoscu and storescp, refuses an
/// unknown calling AE title and a known one from another address, and goes on serving.
@Suite(.peers) struct AllowListProxyTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func callingAETitleNotAllowedIsRejectedWithAFinding() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("allow")
        defer { logDir.remove() }
        let allowList = try CallingAEAllowList(parsing: ["RAWSCU@127.0.0.1", "FAR@10.0.0.0/8"])
        try await withProxy(upstream: upstream.port, configure: {
            $0.allowList = allowList
            $0.logDirectory = logDir.path
        }) { proxy in
            for calling in ["INTRUDER", "FAR", "  RAWSCU-2"] {
                let client = try await RawClient.connect(port: proxy.port, group: group)
                try await client.send(TestPDUs.associateRequest(calling: calling))
                #expect(try await client.receive(atLeast: 10) == TestPDUs.reject(result: 1, source: 1, reason: 3), "\(calling)")
                try await client.waitUntilClosed()
            }
            // Nothing reached the upstream.
            #expect(upstream.received.current.readableBytes == 0)
            // Then an allowed one goes through (spaces around the title are not significant).
            let allowed = try await RawClient.connect(port: proxy.port, group: group)
            try await allowed.send(TestPDUs.associateRequest(calling: " RAWSCU "))
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await allowed.receive(atLeast: ac.count) == ac)
            await allowed.close()
            try await eventually("four ends") { proxy.logs.lines.current.filter { $0.contains("END  ") }.count == 4 }
            let log = proxy.logs.text
            #expect(log.contains("calling AE title \"INTRUDER\" from 127.0.0.1 is not on the allow-list"), "\(log)")
            #expect(log.contains("calling AE title \"FAR\" is allowed only from 10.0.0.0/8, not from 127.0.0.1"))
            #expect(log.contains("\"INTRUDER\" -> \"SCRIPTED\"  (not allowed)"))
            #expect(log.contains("-> SCU  A-ASSOCIATE-RJ: rejected-permanent, source: DICOM UL service-user, reason: calling-AE-title-not-recognized"))
            #expect(log.contains("END  rejected by the proxy (calling-ae-not-allowed)"))
        }
        let events = try jsonLines(logDir.file("events.jsonl"))
        let findings = events.filter { $0["type"] as? String == "finding" && $0["code"] as? String == "calling-ae-not-allowed" }
        #expect(findings.count == 3)
        #expect(findings.first?["message"] as? String == "calling AE title \"INTRUDER\" from 127.0.0.1 is not on the allow-list")
        let texts = try FileManager.default.contentsOfDirectory(atPath: logDir.path).filter { $0.hasSuffix("-INTRUDER-SCRIPTED.txt") }
        #expect(texts.count == 1)
    }
}

/// `dicomtap proxy --allow` with DCMTK echoscu in front and storescp upstream.
@Suite(.peers, .requires(.dcmtk, .dicomtap))
struct AllowListCommandTests {
    @Test func echoscuAllowedRejectedAndAllowedAgain() async throws {
        let dir = try TemporaryDirectory("allow-cli")
        defer { dir.remove() }
        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", dir.path, String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen", timeout: .seconds(60)) { try canConnect(port: scpPort) }

        let proxyPort = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:\(proxyPort)", "--upstream", "127.0.0.1:\(scpPort)",
                                                    "--allow", "ECHOSCU@127.0.0.0/8", "--allow", "FAR@10.0.0.0/8",
                                                    "--log-dir", dir.file("logs")], name: "dicomtap", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen", timeout: .seconds(60)) { proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort)") }
        #expect(proxy.stdout.contains("allowed: ECHOSCU@127.0.0.0/8, FAR@10.0.0.0/8"))

        func echo(_ calling: String, _ name: String) async throws -> (status: Int32, output: String) {
            let run = try Subprocess(Peers.echoscu, ["-v", "-aet", calling, "127.0.0.1", String(proxyPort)], name: name, directory: dir)
            let status = try await run.wait(timeout: .seconds(90))
            return (status, run.stdout + run.stderr)
        }
        let first = try await echo("ECHOSCU", "echo-allowed")
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("Received Echo Response (Success)"), "\(first.output)")

        for (calling, name) in [("INTRUDER", "echo-intruder"), ("FAR", "echo-far")] {
            let refused = try await echo(calling, name)
            #expect(refused.status != 0)
            #expect(refused.output.contains("Association Rejected"), "\(refused.output)")
            #expect(refused.output.contains("Result: Rejected Permanent"), "\(refused.output)")
            #expect(refused.output.contains("Source: Service User"), "\(refused.output)")
            #expect(refused.output.contains("Reason: Calling AE Title Not Recognized"), "\(refused.output)")
        }

        let again = try await echo("ECHOSCU", "echo-again")
        #expect(again.status == 0, "\(again.output)")
        try await eventually("four ends") { proxy.stdout.components(separatedBy: "END  ").count - 1 == 4 }
        let out = proxy.stdout
        #expect(out.components(separatedBy: "C-ECHO msg 1  0x0000 Success").count - 1 == 2, "\(out)")
        #expect(out.contains("calling-ae-not-allowed: calling AE title \"INTRUDER\" from 127.0.0.1 is not on the allow-list"), "\(out)")
        #expect(out.contains("calling-ae-not-allowed: calling AE title \"FAR\" is allowed only from 10.0.0.0/8, not from 127.0.0.1"))
        #expect(out.components(separatedBy: "END  rejected by the proxy (calling-ae-not-allowed)").count - 1 == 2)
        // With no rewriting, no warning about mapping back.
        #expect(!proxy.stderr.contains("WARNING"))
        let events = try jsonLines(dir.file("logs/events.jsonl"))
        #expect(events.filter { $0["type"] as? String == "finding" && $0["code"] as? String == "calling-ae-not-allowed" }.count == 2)
    }

    /// A bad --allow stops the proxy before it listens, saying what is wrong with which entry.
    @Test func badAllowEntryStopsTheProxy() async throws {
        let dir = try TemporaryDirectory("allow-bad")
        defer { dir.remove() }
        let run = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                                  "--allow", "MODALITY@10.1.2.0/33"], name: "dicomtap", directory: dir)
        #expect(try await run.wait(timeout: .seconds(60)) != 0)
        #expect(run.stderr.contains("--allow \"MODALITY@10.1.2.0/33\": \"/33\" is not a prefix length for an IPv4 address: write /0 to /32"),
                "\(run.stderr)")
        #expect(!run.stdout.contains("listening"))
    }
}
