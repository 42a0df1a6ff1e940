import DICOMInspect
import DICOMMetrics
import enum DICOMNetwork.FileLimit
import DICOMRewrite
import DICOMUL
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

/// `--max-associations`, ARTIM and `--min-max-pdu` (issue 19), with raw peers on loopback: what a flood of idle
/// connections, a full proxy and a tiny maximum PDU length get, byte for byte, and what the proxy says.
@Suite(.ownExecutor) struct ConnectionLimitTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// An A-ASSOCIATE-RQ (Verification) whose Maximum Length sub-item is `maximumLength`.
    static func associateRequest(maximumLength: UInt32) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "SCRIPTED", callingAETitle: "RAWSCU", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: TestPDUs.verification,
                                                                       transferSyntaxes: [TestPDUs.implicitLittleEndian])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: maximumLength))])),
        ])
        return PDU.associateRequest(AssociateRequest(fields: fields)).encoded()
    }

    static func associateAccept(maximumLength: UInt32) -> [UInt8] {
        let fields = AssociationPDUFields(calledAETitle: "SCRIPTED", callingAETitle: "RAWSCU", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance,
                                                                     transferSyntax: TestPDUs.implicitLittleEndian)),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: maximumLength))])),
        ])
        return Array(PDU.associateAccept(AssociateAccept(fields: fields)).encoded().readableBytesView)
    }

    static var acceptBytes: [UInt8] { Array(TestPDUs.associateAccept().readableBytesView) }

    /// Rewriting on (AE titles only: no key needed).
    static func rewriter() throws -> Rewriter {
        var rules = RewriteRules()
        rules.aeTitles = AETitleRules(called: ["SCRIPTED": "ARCHIVE"], calling: [:])
        return try Rewriter.open(rules: rules)
    }

    /// Polls until the proxy tracks `count` connections.
    static func waitUntil(open count: Int, _ proxy: ProxyHarness) async throws {
        for _ in 0..<500 {
            if await proxy.server.openAssociationCount() == count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the proxy never had \(count) connections open (\(await proxy.server.openAssociationCount()))")
    }

    /// More idle connections than the limit, then a real association: it is served, and the idle connections that
    /// made room were closed, the oldest first, each with its line.
    @Test func idleFloodDoesNotLockOutAnAssociation() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port, configure: { $0.maxAssociations = 20 }) { proxy in
            // One at a time, so that the order of arrival is the order of connecting.
            var idle: [RawClient] = []
            var firstPort: Int?
            for n in 0..<20 {
                idle.append(try await RawClient.connect(port: proxy.port, group: group))
                if n == 0 { firstPort = idle[0].channel.localAddress?.port }
                try await Self.waitUntil(open: n + 1, proxy)
            }
            // Each of ten more makes room by closing the oldest idle one.
            for n in 0..<10 {
                idle.append(try await RawClient.connect(port: proxy.port, group: group))
                try await idle[n].waitUntilClosed()
                try await Self.waitUntil(open: 20, proxy)
            }
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            #expect(try await client.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            // It took the place of the oldest idle connection left; the newer ones stay.
            try await eventually("the eleventh closed") { idle[10].collector.closed.current }
            #expect(idle.suffix(19).allSatisfy { !$0.collector.closed.current })
            let first = try #require(firstPort)
            let line = try #require(proxy.logs.lines.current.first { $0.contains("closed: from 127.0.0.1:\(first) ") }, "\(proxy.logs.text)")
            #expect(line.contains("sent no A-ASSOCIATE-RQ in "), "\(line)")
            #expect(line.contains(" s; closed to make room for a new connection (--max-associations 20 reached)"), "\(line)")
            #expect(proxy.logs.lines.current.filter { $0.contains("closed to make room") }.count == 11)
            await client.close()
            for connection in idle { await connection.close() }
        }
    }

    /// ARTIM: a connection that sends nothing, and one that sends half an A-ASSOCIATE-RQ, are closed after the
    /// timeout, each with its line; a connection that associates in time is not.
    @Test func connectionsWithoutAnAssociateRequestAreClosedByARTIM() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("artim")
        defer { logDir.remove() }
        let metrics = DICOMMetrics()
        try await withProxy(upstream: upstream.port, configure: {
            $0.artimTimeout = .seconds(3)
            $0.logDirectory = logDir.path
            $0.metrics = metrics
        }) { proxy in
            // Each port read at once: on a loaded machine ARTIM's seconds may pass before the next line, and a
            // closed channel has no local address.
            let silent = try await RawClient.connect(port: proxy.port, group: group)
            let silentPort = silent.channel.localAddress?.port
            let rq = TestPDUs.associateRequest()
            let partial = try await RawClient.connect(port: proxy.port, group: group, sending: rq.getSlice(at: 0, length: 20)!)
            let partialPort = partial.channel.localAddress?.port
            let ports = [silentPort, partialPort].compactMap { $0 }
            #expect(ports.count == 2)
            let associated = try await RawClient.connect(port: proxy.port, group: group, sending: rq)
            #expect(try await associated.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            try await silent.waitUntilClosed()
            try await partial.waitUntilClosed()
            for port in ports {
                try await eventually("the line for \(port)") {
                    proxy.logs.contains("closed: from 127.0.0.1:\(port) sent no A-ASSOCIATE-RQ within 3 s")
                }
            }
            // Well past ARTIM, the association is still open.
            try await Task.sleep(for: .milliseconds(4000))
            #expect(!associated.collector.closed.current)
            try await eventually("two ends") { proxy.logs.lines.current.filter { $0.contains("END  closed by the proxy (no-associate-request)") }.count == 2 }
            await associated.close()
        }
        let findings = try jsonLines(logDir.file("events.jsonl")).filter { $0["code"] as? String == "no-associate-request" }
        #expect(findings.count == 2)
        // The two connections that never associated leave no text log or page, only their events.
        let files = try FileManager.default.contentsOfDirectory(atPath: logDir.path)
        #expect(files.filter { $0.hasSuffix(".txt") }.count == 1, "\(files)")
        #expect(files.filter { $0.hasSuffix(".html") && $0 != "index.html" }.count == 1, "\(files)")
        #expect((findings.first?["message"] as? String)?.contains("sent no A-ASSOCIATE-RQ within 3 s") == true)
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("dicomtap_associations_refused_total{reason=\"idle\"} 2"), "\(exposition)")
    }

    /// Every place holds an association: a new one's A-ASSOCIATE-RQ gets A-ASSOCIATE-RJ 2/3/2, with its line, finding
    /// and metric; once an association ends, the next is served.
    @Test func aFullProxyRefusesWithLocalLimitExceeded() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("limit")
        defer { logDir.remove() }
        let metrics = DICOMMetrics()
        try await withProxy(upstream: upstream.port, configure: {
            $0.maxAssociations = 2
            $0.logDirectory = logDir.path
            $0.metrics = metrics
        }) { proxy in
            var open: [RawClient] = []
            for _ in 0..<2 {
                let client = try await RawClient.connect(port: proxy.port, group: group)
                try await client.send(TestPDUs.associateRequest())
                #expect(try await client.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
                open.append(client)
            }
            let refused = try await RawClient.connect(port: proxy.port, group: group)
            try await refused.send(TestPDUs.associateRequest())
            #expect(try await refused.receive(atLeast: 10) == TestPDUs.reject(result: 2, source: 3, reason: 2))
            try await refused.waitUntilClosed()
            #expect(!open[0].collector.closed.current && !open[1].collector.closed.current)
            try await eventually("the end") { proxy.logs.contains("END  rejected by the proxy (association-limit)") }
            let log = proxy.logs.text
            #expect(log.contains("\"RAWSCU\" -> \"SCRIPTED\"  (over the association limit)"), "\(log)")
            #expect(log.contains("-> SCU  A-ASSOCIATE-RJ: rejected-transient, source: DICOM UL service-provider (Presentation related function), reason: local-limit-exceeded"), "\(log)")
            #expect(log.contains("2 associations open, the limit (--max-associations 2)"))
            // One ends: the next association is served.
            await open[0].close()
            try await Self.waitUntil(open: 1, proxy)
            let next = try await RawClient.connect(port: proxy.port, group: group)
            try await next.send(TestPDUs.associateRequest())
            #expect(try await next.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            await next.close()
            await open[1].close()
        }
        let findings = try jsonLines(logDir.file("events.jsonl")).filter { $0["code"] as? String == "association-limit" }
        #expect(findings.count == 1)
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("dicomtap_associations_refused_total{reason=\"limit\"} 1"), "\(exposition)")
    }

    /// Rewriting on: an SCU advertising a maximum PDU length of 8 gets A-ASSOCIATE-RJ 1/1/1 and a finding saying
    /// what to do; nothing reaches the SCP. Without rewriting the same A-ASSOCIATE-RQ goes through as it is.
    @Test func aTinyMaximumPDULengthIsRefusedOnlyWhenRewriting() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("tiny-pdu")
        defer { logDir.remove() }
        let rewriter = try Self.rewriter()
        let rq = Self.associateRequest(maximumLength: 8)
        try await withProxy(upstream: upstream.port, configure: {
            $0.rewriter = rewriter
            $0.logDirectory = logDir.path
        }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(rq)
            #expect(try await client.receive(atLeast: 10) == TestPDUs.reject(result: 1, source: 1, reason: 1))
            try await client.waitUntilClosed()
            try await eventually("the end") { proxy.logs.contains("END  rejected by the proxy (max-pdu-too-small)") }
            // The console shows the SCP's side: the called AE title as rewritten.
            #expect(proxy.logs.contains("\"RAWSCU\" -> \"ARCHIVE\"  (maximum PDU length too small)"), "\(proxy.logs.text)")
            // 4096 itself is enough.
            let enough = try await RawClient.connect(port: proxy.port, group: group)
            try await enough.send(Self.associateRequest(maximumLength: 4096))
            #expect(try await enough.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            await enough.close()
        }
        let finding = try #require(try jsonLines(logDir.file("events.jsonl")).first { $0["code"] as? String == "max-pdu-too-small" })
        let message = try #require(finding["message"] as? String)
        #expect(message.hasPrefix("the SCU's A-ASSOCIATE-RQ gives a maximum PDU length of 8 bytes, below the minimum of 4096 with rewriting on"), "\(message)")
        #expect(message.contains("or lower --min-max-pdu (0: no minimum)"))
        // Only the second association reached the SCP.
        #expect(upstream.received.current.readableBytes == Self.associateRequest(maximumLength: 4096).readableBytes)

        // Without rewriting: relayed as it came.
        let plain = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await plain.stop() } }
        try await withProxy(upstream: plain.port) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(rq)
            #expect(try await client.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            #expect(Array(plain.received.current.readableBytesView) == Array(rq.readableBytesView))
            await client.close()
        }
        // --min-max-pdu 0 with rewriting: 8 is the least a rewriting proxy can honour, so it is taken.
        try await withProxy(upstream: plain.port, configure: {
            $0.rewriter = rewriter
            $0.minimumMaximumPDULength = 0
        }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(rq)
            #expect(try await client.receive(atLeast: Self.acceptBytes.count) == Self.acceptBytes)
            await client.close()
        }
    }

    /// Rewriting on: an SCP whose A-ASSOCIATE-AC gives a maximum PDU length below the minimum. The SCU gets
    /// A-ASSOCIATE-RJ 1/1/1 instead of the AC, the SCP an A-ABORT.
    @Test func aTinyMaximumPDULengthFromTheSCPEndsTheAssociation() async throws {
        let upstream = try await ScriptedUpstream.start(.answer(Self.associateAccept(maximumLength: 100)), group: group)
        defer { Task { await upstream.stop() } }
        let rewriter = try Self.rewriter()
        try await withProxy(upstream: upstream.port, configure: { $0.rewriter = rewriter }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            #expect(try await client.receive(atLeast: 10) == TestPDUs.reject(result: 1, source: 1, reason: 1))
            try await client.waitUntilClosed()
            try await eventually("the SCP's connection closed") { upstream.closedConnections.current == 1 }
            let received = Array(upstream.received.current.readableBytesView)
            #expect(received.suffix(10) == TestPDUs.abort(reason: 0), "\(received.suffix(10).hexString)")
            try await eventually("the end") { proxy.logs.contains("END  rejected by the proxy (max-pdu-too-small)") }
            #expect(proxy.logs.contains("the upstream SCP's A-ASSOCIATE-AC gives a maximum PDU length of 100 bytes"), "\(proxy.logs.text)")
        }
    }
}

/// `dicomtap proxy` as a user runs it under an open file limit of 1,024 (the issue's case), sizing its association
/// limit from that: 1,100 idle TCP connections, then DCMTK echoscu through it to storescp succeeds.
@Suite(.peers, .requires(.dcmtk, .dicomtap))
struct ConnectionLimitCommandTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func idleFloodUnderAFileLimitOf1024ThenEchoscu() async throws {
        // This process holds 1,100 connections too.
        FileLimit.raiseToHardLimit()
        let dir = try TemporaryDirectory("limit-cli")
        defer { dir.remove() }
        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", dir.path, String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen", timeout: .seconds(60)) { try canConnect(port: scpPort) }

        let proxyPort = try freePort()
        // `exec`: the shell becomes the proxy, whose pid `stop()` signals.
        let proxy = try Subprocess("/bin/sh", ["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", Peers.dicomtap, "proxy",
                                               "--listen", "127.0.0.1:\(proxyPort)", "--upstream", "127.0.0.1:\(scpPort)"],
                                   name: "dicomtap", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen", timeout: .seconds(60)) { proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort)") }
        let sizing = "at most 480 associations at once: open file limit 1024, 2 open files each (2 connections), 64 spare"
        try await eventually("the limit said") { proxy.stdout.contains(sizing) }

        var idle: [RawClient] = []
        for _ in 0..<1100 { idle.append(try await RawClient.connect(port: proxyPort, group: group)) }
        // 620 of them were closed to make room.
        try await eventually("620 closed", timeout: .seconds(60)) { idle.count { $0.collector.closed.current } >= 620 }

        let echo = try Subprocess(Peers.echoscu, ["-v", "127.0.0.1", String(proxyPort)], name: "echoscu", directory: dir)
        let status = try await echo.wait(timeout: .seconds(90))
        #expect(status == 0, "\(echo.stdout)\(echo.stderr)")
        #expect((echo.stdout + echo.stderr).contains("Received Echo Response (Success)"), "\(echo.stdout)\(echo.stderr)")
        #expect(proxy.stdout.contains("closed to make room for a new connection (--max-associations 480 reached)"))
        #expect(!proxy.stderr.contains("Too many open files"), "\(proxy.stderr)")
        for connection in idle { await connection.close() }
    }
}

/// The relay's state machine at the limits, event in, action out.
@Suite struct ConnectionLimitStateMachineTests {
    static let routing = RelayStateMachineTests.routing
    static let localLimit = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation, reason: 2)
    static let noReason = AssociateReject(result: .rejectedPermanent, source: .serviceUser, reason: 1)

    static func pdu(_ bytes: ByteBuffer) throws -> PDU { try PDU(frame: RelayStateMachineTests.frame(bytes)) }

    @Test func pastTheLimitTheRequestIsRefusedWithLocalLimitExceeded() throws {
        var machine = RelayStateMachine(routing: Self.routing, overLimit: 20)
        #expect(machine.requestorSent(try Self.pdu(TestPDUs.associateRequest())) == .reject(Self.localLimit, abortAcceptor: false,
                                                                                            .associationLimit(20)))
        #expect(machine.state == .closing)
    }

    @Test func withoutARequestTheConnectionIsClosedOrRefused() throws {
        let why = RelayCloseReason.noAssociateRequest(.init(client: "127.0.0.1:40962", waited: "30 s", makingRoomAt: nil))
        #expect(why.description == "from 127.0.0.1:40962 sent no A-ASSOCIATE-RQ within 30 s")
        var within = RelayStateMachine(routing: Self.routing)
        #expect(within.noAssociateRequest(why) == .closeRequestor(why))
        #expect(within.noAssociateRequest(why) == .none)
        var past = RelayStateMachine(routing: Self.routing, overLimit: 20)
        #expect(past.noAssociateRequest(why) == .reject(Self.localLimit, abortAcceptor: false, why))
        // Once the A-ASSOCIATE-RQ is in, the connection goes on.
        var requested = RelayStateMachine(routing: Self.routing)
        _ = requested.requestorSent(try Self.pdu(TestPDUs.associateRequest()))
        #expect(requested.noAssociateRequest(why) == .none)
    }

    @Test func aMaximumLengthBelowTheMinimumIsRefusedBothWays() throws {
        let small = try Self.pdu(ConnectionLimitTests.associateRequest(maximumLength: 4095))
        var refusing = RelayStateMachine(routing: Self.routing, minimumMaximumLength: 4096)
        #expect(refusing.requestorSent(small) == .reject(Self.noReason, abortAcceptor: false,
                                                         .maximumLengthTooSmall(4095, minimum: 4096, from: .requestor)))
        // 0 (unlimited) and the minimum itself are fine; without a minimum anything goes.
        for length: UInt32 in [0, 4096] {
            var machine = RelayStateMachine(routing: Self.routing, minimumMaximumLength: 4096)
            #expect(machine.requestorSent(try Self.pdu(ConnectionLimitTests.associateRequest(maximumLength: length))) != .none)
            #expect(machine.state != .closing)
        }
        var unchecked = RelayStateMachine(routing: Self.routing)
        #expect(unchecked.requestorSent(small) == .connect(RelayStateMachineTests.upstream))
        // The SCP's A-ASSOCIATE-AC.
        var machine = RelayStateMachine(routing: Self.routing, minimumMaximumLength: 4096)
        _ = machine.requestorSent(try Self.pdu(TestPDUs.associateRequest()))
        _ = machine.upstreamConnected()
        let ac = try PDU(frame: RelayStateMachineTests.frame(ByteBuffer(bytes: ConnectionLimitTests.associateAccept(maximumLength: 100))))
        #expect(machine.acceptorSent(ac) == .reject(Self.noReason, abortAcceptor: true,
                                                    .maximumLengthTooSmall(100, minimum: 4096, from: .acceptor)))
    }
}

/// With rewriting on, the proxy fragments messages again for the receiving peer: what it sends the SCU never passes
/// the SCU's maximum PDU length, and fills it (pynetdicom on both sides, a 20,000-byte match).
@Suite(.peers, .requires(.pynetdicom))
struct RewritingFragmentsForTheReceiverTests {
    @Test func repliesToTheSCUStayWithinItsMaximumPDULength() async throws {
        let dir = try TemporaryDirectory("refragment")
        defer { dir.remove() }
        // The SCP takes PDUs of 16384 bytes; its match carries a 20,000-character comment.
        let scp = try Subprocess.python(["scp", "--max-pdu", "16384", "--match-comments", "20000"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpTap = try await Tap.start(to: try await scp.port(), prefix: "scp", directory: dir)
        let rewriter = try ConnectionLimitTests.rewriter()
        try await withProxy(upstream: scpTap.port, configure: { $0.rewriter = rewriter }) { proxy in
            let scuTap = try await Tap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--called", "SCRIPTED", "--max-pdu", "4096"],
                                             name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["established"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect((answer["responses"] as? [[String: Any]])?.compactMap { $0["status"] as? Int } == [0xFF00, 0x0000], "\(find.stdout)")
            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            // P-DATA-TF (type 04) towards the SCU: re-made by the proxy, all within 4096.
            #expect(scpLeg.received.contains { $0.bytes[0] == 0x04 })
            let toSCU = scuLeg.received.filter { $0.bytes[0] == 0x04 }
            #expect(!toSCU.isEmpty && toSCU.allSatisfy { $0.length <= 4096 }, "\(toSCU.map(\.length))")
            #expect(toSCU.contains { $0.length == 4096 }, "\(toSCU.map(\.length))")
        }
    }
}
