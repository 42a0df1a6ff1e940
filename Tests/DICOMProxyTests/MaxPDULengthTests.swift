import DICOMUL
import Foundation
import NIOPosix
import Testing
@testable import DICOMProxy

/// `--max-pdu-length` (`ProxyConfiguration.maximumPDULength`): the largest PDU the proxy relays.
/// Documented: a longer one is a malformed PDU, both peers get an A-ABORT (service provider,
/// invalid-PDU-parameter-value) and the header's bytes are logged in hex; shorter ones pass byte
/// for byte. pynetdicom fills every P-DATA-TF to the receiver's maximum length exactly, so a peer
/// maximum of 16384 gives PDUs of exactly 16384 bytes (PDU-length field) to hit the bound with.
@Suite(.peers, .requires(.pynetdicom))
struct MaxPDULengthTests {
    static let limit = 16384
    static let invalidParameterAbort = abortPDU(source: 2, reason: 6)

    /// A PDU of exactly the limit, both ways (a C-STORE's data set from the SCU, a large C-FIND
    /// match from the SCP), passes; both legs carry the same bytes.
    @Test func pdusAtTheLimitPassByteForByte() async throws {
        let dir = try TemporaryDirectory("pdu-at")
        defer { dir.remove() }
        let dataset = dir.file("image.dcm")
        let make = try Subprocess.python(["dataset", dataset, "--rows", "256", "--columns", "512"], name: "dataset", directory: dir)
        #expect(try await make.wait() == 0)
        let scp = try Subprocess.python(["scp", "--max-pdu", String(Self.limit), "--match-comments", "20000"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpTap = try await Tap.start(to: try await scp.port(), prefix: "scp", directory: dir)
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpTap.port, configure: {
            $0.maximumPDULength = Self.limit
            $0.logDirectory = logDir
        }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let session = try Subprocess.python(["session", String(scuTap.port), "--file", dataset, "--max-pdu", String(Self.limit)],
                                                name: "session", directory: dir)
            #expect(try await session.wait() == 0)
            let answer = try jsonObject(session.stdout)
            #expect(answer["store"] as? Int == 0, "\(session.stdout) \(session.stderr)")
            #expect((answer["find"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000])
            #expect(answer["aborted"] as? Bool == false)

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.sentTrailing == 0 && scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0 && scpLeg.receivedTrailing == 0)
            #expect(scuLeg.sent == scpLeg.sent, "SCU -> SCP: \(scuLeg.sent.count) PDUs sent, \(scpLeg.sent.count) relayed")
            #expect(scpLeg.received == scuLeg.received, "SCP -> SCU: \(scpLeg.received.count) PDUs sent, \(scuLeg.received.count) relayed")
            // The bound was reached both ways, never passed.
            #expect(scuLeg.sent.contains { $0.length == Self.limit })
            #expect(scpLeg.received.contains { $0.length == Self.limit })
            #expect((scuLeg.sent + scpLeg.received).allSatisfy { $0.length <= Self.limit })
            try await eventually("the association's end") { proxy.logs.contains("END  released") }
            #expect(!proxy.logs.contains("malformed-pdu"))
        }
    }

    /// The SCP's C-FIND match in a PDU one byte over the limit: the SCU gets what the SCP sent
    /// before it and then the proxy's A-ABORT (2/6), the SCP gets everything the SCU sent and the
    /// same A-ABORT; nothing of the long PDU reaches the SCU; the log shows the header in hex and the
    /// proxy goes on (the same query with PDUs under the limit works).
    @Test func overTheLimitFromTheSCPAbortsBoth() async throws {
        let dir = try TemporaryDirectory("pdu-scp")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--match-comments", "20000"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await Tap.start(to: scpPort, prefix: "scp", directory: dir)
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpTap.port, routes: ["DIRECT": scpPort], configure: {
            $0.maximumPDULength = Self.limit - 1
            $0.logDirectory = logDir
        }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--max-pdu", String(Self.limit)], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["aborted"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect(answer["abort"] as? [Int] == [2, 6])

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            let scpSent = scpLeg.received
            let over = try #require(scpSent.firstIndex { $0.length > Self.limit - 1 })
            #expect(scpSent[over].length == Self.limit)
            #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
            #expect(scuLeg.received == Array(scpSent[..<over]) + [Self.invalidParameterAbort],
                    "the SCU received \(scuLeg.received)")
            #expect(scpLeg.sent == scuLeg.sent + [Self.invalidParameterAbort], "the SCP received \(scpLeg.sent)")
            try await eventually("the SCP to see the A-ABORT") { scp.stdout.contains("ABORT-RECEIVED 2 6") }

            try await eventually("the association's end") { proxy.logs.contains("END  aborted by the proxy (malformed-pdu)") }
            let log = proxy.logs.text
            #expect(log.contains("PDU length \(Self.limit) exceeds the limit of \(Self.limit - 1) bytes"), "\(log)")
            #expect(log.contains("0000  04 00 00 00 40 00"), "\(log)")
            #expect(log.contains("-> SCU and upstream  A-ABORT: DICOM UL service-provider (initiated abort), reason: invalid-PDU-parameter-value"))

            // Under the limit the same query passes.
            let small = try Subprocess.python(["find", String(proxy.port), "--called", "DIRECT", "--max-pdu", "8192"],
                                              name: "find-small", directory: dir)
            #expect(try await small.wait() == 0)
            let smallAnswer = try jsonObject(small.stdout)
            #expect((smallAnswer["responses"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000],
                    "\(small.stdout) \(small.stderr)")
            try await eventually("the second association's end") { proxy.logs.contains("END  released") }
        }
        let events = try jsonLines(logDir + "/events.jsonl").filter { $0["association"] as? String == "0001" }
        let finding = try #require(events.first { $0["type"] as? String == "finding" && $0["code"] as? String == "malformed-pdu" })
        #expect(finding["sender"] as? String == "acceptor")
        #expect((finding["rawBytes"] as? String)?.hasPrefix("040000004000") == true, "\(finding)")
        let end = try #require(events.last { $0["type"] as? String == "association-end" })
        #expect((end["proxyAction"] as? String)?.hasPrefix("malformed PDU from the acceptor") == true, "\(end)")
    }

    /// `dicomtap proxy --max-pdu-length 16383` as a user runs it, with a C-STORE whose data set
    /// comes in PDUs of 16384 bytes: the SCP gets the SCU's PDUs up to the long one and then the
    /// A-ABORT (2/6), the SCU everything the SCP sent and the same A-ABORT; the console and
    /// events.jsonl report it; a next association works.
    @Test(.requires(.dicomtap))
    func overTheLimitFromTheSCUThroughTheCommand() async throws {
        let dir = try TemporaryDirectory("pdu-scu")
        defer { dir.remove() }
        let dataset = dir.file("image.dcm")
        let make = try Subprocess.python(["dataset", dataset, "--rows", "256", "--columns", "512"], name: "dataset", directory: dir)
        #expect(try await make.wait() == 0)
        let scp = try Subprocess.python(["scp", "--max-pdu", String(Self.limit)], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await Tap.start(to: scpPort, prefix: "scp", directory: dir)

        let proxyPort = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:\(proxyPort)", "--upstream", "127.0.0.1:\(scpTap.port)",
                                                    "--route", "DIRECT=127.0.0.1:\(scpPort)", "--max-pdu-length", String(Self.limit - 1),
                                                    "--log-dir", dir.file("logs")], name: "dicomtap", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") { proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort)") }

        let scuTap = try await Tap.start(to: proxyPort, prefix: "scu", directory: dir)
        let session = try Subprocess.python(["session", String(scuTap.port), "--file", dataset, "--max-pdu", String(Self.limit)],
                                            name: "session", directory: dir)
        #expect(try await session.wait() == 0)
        let answer = try jsonObject(session.stdout)
        #expect(answer["echo"] as? Int == 0, "\(session.stdout) \(session.stderr)")
        #expect((answer["find"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000])
        #expect(answer["store"] is NSNull)
        #expect(answer["aborted"] as? Bool == true)
        #expect(answer["abort"] as? [Int] == [2, 6])

        let scuLeg = try await scuTap.finish()
        let scpLeg = try await scpTap.finish()
        let scuSent = scuLeg.sent
        let over = try #require(scuSent.firstIndex { $0.length > Self.limit - 1 })
        #expect(scuSent[over].length == Self.limit)
        #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
        #expect(scpLeg.sent == Array(scuSent[..<over]) + [Self.invalidParameterAbort], "the SCP received \(scpLeg.sent)")
        #expect(scuLeg.received == scpLeg.received + [Self.invalidParameterAbort], "the SCU received \(scuLeg.received)")
        try await eventually("the SCP to see the A-ABORT") { scp.stdout.contains("ABORT-RECEIVED 2 6") }
        try await eventually("the association's end") { proxy.stdout.contains("END  aborted by the proxy (malformed-pdu)") }
        #expect(proxy.stdout.contains("PDU length \(Self.limit) exceeds the limit of \(Self.limit - 1) bytes"), "\(proxy.stdout)")

        // A next association, under the limit.
        let next = try Subprocess.python(["find", String(proxyPort), "--called", "DIRECT"], name: "find-next", directory: dir)
        #expect(try await next.wait() == 0)
        #expect((try jsonObject(next.stdout)["responses"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000],
                "\(next.stdout) \(next.stderr)")
        try await eventually("the second association's end") { proxy.stdout.contains("END  released") }

        kill(proxy.pid, SIGTERM)
        #expect(try await proxy.wait(timeout: .seconds(10)) == 0)
        let events = try jsonLines(dir.file("logs/events.jsonl")).filter { $0["association"] as? String == "0001" }
        let finding = try #require(events.first { $0["type"] as? String == "finding" && $0["code"] as? String == "malformed-pdu" })
        #expect(finding["sender"] as? String == "requestor")
        #expect((finding["rawBytes"] as? String)?.hasPrefix("040000004000") == true, "\(finding)")
        let end = try #require(events.last { $0["type"] as? String == "association-end" })
        #expect((end["proxyAction"] as? String)?.hasPrefix("malformed PDU from the requestor") == true, "\(end)")
    }
}
