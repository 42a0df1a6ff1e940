import DICOMUL
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

/// What the proxy does when an upstream is missing or silent, a peer sends garbage, an
/// association idles or the proxy shuts down. Raw peers send exactly the bytes wanted and see
/// exactly the bytes the proxy sends; real peers check that it keeps serving.
@Suite(.peers) struct ProxyFaultTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test func unreachableUpstreamIsRejectedTransiently() async throws {
        let deadPort = try freePort()  // nothing listens there
        try await withProxy(upstream: deadPort) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            #expect(try await client.receive(atLeast: 10) == TestPDUs.reject(result: 2, source: 3, reason: 1))
            try await client.waitUntilClosed()
            try await eventually("the reason in the log") { proxy.logs.contains("cannot connect to 127.0.0.1:\(deadPort): connection refused") }
            #expect(!proxy.logs.contains("NIOConnectionError") && !proxy.logs.contains("errno"), "\(proxy.logs)")
            #expect(proxy.logs.contains("-> SCU  A-ASSOCIATE-RJ: rejected-transient"))
            try await eventually("the end") { proxy.logs.contains("END  rejected by the proxy (upstream-unreachable)") }
        }
    }

    @Test(.requires(.dcmtk))
    func echoscuSeesTheRejection() async throws {
        let dir = try TemporaryDirectory("rj")
        defer { dir.remove() }
        let deadPort = try freePort()
        try await withProxy(upstream: deadPort) { proxy in
            let echo = try Subprocess(Peers.echoscu, ["-v", "127.0.0.1", String(proxy.port)], name: "echoscu", directory: dir)
            #expect(try await echo.wait() != 0)
            let output = echo.stdout + echo.stderr
            #expect(output.contains("Association Rejected"), "\(output)")
            #expect(output.contains("Rejected Transient"), "\(output)")
            #expect(output.contains("Temporary Congestion") || output.contains("temporary-congestion"), "\(output)")
        }
    }

    @Test func silentUpstreamTimesOut() async throws {
        let upstream = try await ScriptedUpstream.start(.silent, group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port, configure: { $0.connectTimeout = .milliseconds(700) }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            let start = ContinuousClock.now
            try await client.send(TestPDUs.associateRequest())
            #expect(try await client.receive(atLeast: 10) == TestPDUs.reject(result: 2, source: 3, reason: 1))
            #expect(ContinuousClock.now - start >= .milliseconds(600))
            try await client.waitUntilClosed()
            // The upstream got the A-ASSOCIATE-RQ, then an A-ABORT, then the close.
            try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
            let rq = Array(TestPDUs.associateRequest().readableBytesView)
            #expect(Array(upstream.received.current.readableBytesView) == rq + TestPDUs.abort(reason: 0))
            #expect(proxy.logs.contains("upstream did not answer the A-ASSOCIATE-RQ in time"))
        }
    }

    @Test func noRouteIsRejectedPermanently() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: nil, routes: ["SCRIPTED": upstream.port]) { proxy in
            let other = try await RawClient.connect(port: proxy.port, group: group)
            try await other.send(TestPDUs.associateRequest(called: "NOBODY"))
            #expect(try await other.receive(atLeast: 10) == TestPDUs.reject(result: 1, source: 1, reason: 7))
            try await other.waitUntilClosed()
            #expect(proxy.logs.contains("no route for called AE title \"NOBODY\""))

            let routed = try await RawClient.connect(port: proxy.port, group: group)
            try await routed.send(TestPDUs.associateRequest(called: "SCRIPTED"))
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await routed.receive(atLeast: ac.count) == ac)
            await routed.close()
        }
    }

    /// Garbage from the SCU (an unknown PDU type): both peers get A-ABORT reason 1, the raw
    /// bytes are logged, and the next association through the same proxy works.
    @Test func garbageFromTheSCUAbortsBothAndTheProxyGoesOn() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await client.receive(atLeast: ac.count) == ac)
            let garbage: [UInt8] = [0xFF, 0x00, 0x00, 0x00, 0x00, 0x02, 0xDE, 0xAD]
            try await client.send(garbage)
            #expect(try await client.receive(atLeast: ac.count + 10) == ac + TestPDUs.abort(reason: 1))
            try await client.waitUntilClosed()
            try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
            let rq = Array(TestPDUs.associateRequest().readableBytesView)
            #expect(Array(upstream.received.current.readableBytesView) == rq + TestPDUs.abort(reason: 1))
            #expect(proxy.logs.contains("unknown PDU type"))
            #expect(proxy.logs.contains("0000  ff 00 00 00 00 02 de ad"))
            #expect(proxy.logs.contains("-> SCU and upstream  A-ABORT"))
            try await eventually("the end") { proxy.logs.contains("END  aborted by the proxy (malformed-pdu)") }

            // The proxy keeps serving.
            let second = try await RawClient.connect(port: proxy.port, group: group)
            try await second.send(TestPDUs.associateRequest())
            #expect(try await second.receive(atLeast: ac.count) == ac)
            await second.close()
        }
    }

    /// A PDU of a known type that does not decode, from the SCP: both peers get A-ABORT reason 6.
    @Test func malformedPDUFromTheSCPAbortsBoth() async throws {
        // A-RELEASE-RP must be 4 bytes long; this one is 2.
        let malformed: [UInt8] = [0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00]
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: malformed), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("malformed")
        defer { logDir.remove() }
        try await withProxy(upstream: upstream.port, configure: { $0.logDirectory = logDir.path }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await client.receive(atLeast: ac.count + 10) == ac + TestPDUs.abort(reason: 6))
            try await client.waitUntilClosed()
            try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
            let rq = Array(TestPDUs.associateRequest().readableBytesView)
            #expect(Array(upstream.received.current.readableBytesView) == rq + TestPDUs.abort(reason: 6))
            try await eventually("the end") { proxy.logs.contains("END") }
        }
        let events = try jsonLines(logDir.file("events.jsonl"))
        #expect(events.contains { $0["type"] as? String == "raw-bytes" && $0["bytes"] as? String == "0600000000020000" })
        #expect(events.contains { $0["type"] as? String == "finding" && $0["code"] as? String == "malformed-pdu" })
    }

    @Test func idleAssociationIsAborted() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port, configure: { $0.idleTimeout = .milliseconds(500) }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await client.receive(atLeast: ac.count + 10) == ac + TestPDUs.abort(reason: 0))
            try await client.waitUntilClosed()
            try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
            #expect(proxy.logs.contains("idle timeout"))
        }
    }

    /// Shutdown: no new associations; an open one gets the grace period, then both peers get A-ABORT.
    @Test func shutdownAbortsAfterTheGracePeriod() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let logDir = try TemporaryDirectory("shutdown")
        defer { logDir.remove() }
        let proxy = try await ProxyHarness.start(upstream: upstream.port, configure: { $0.logDirectory = logDir.path })
        let client = try await RawClient.connect(port: proxy.port, group: group)
        try await client.send(TestPDUs.associateRequest())
        let ac = Array(TestPDUs.associateAccept().readableBytesView)
        #expect(try await client.receive(atLeast: ac.count) == ac)
        #expect(await proxy.server.openAssociationCount() == 1)

        let start = ContinuousClock.now
        await proxy.stop(grace: .milliseconds(400))
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(350) && took < .seconds(10))
        #expect(try await client.receive(atLeast: ac.count + 10) == ac + TestPDUs.abort(reason: 0))
        try await client.waitUntilClosed()
        try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
        #expect(Array(upstream.received.current.readableBytesView).suffix(10) == TestPDUs.abort(reason: 0))
        // Not accepting any more.
        await #expect(throws: (any Error).self) { _ = try await RawClient.connect(port: proxy.port, group: group) }
        // Every file is complete: the association's end is in events.jsonl.
        let events = try jsonLines(logDir.file("events.jsonl"))
        #expect(events.last?["type"] as? String == "association-end")
        #expect(events.last?["proxyAction"] as? String == "proxy shutting down")
    }

    /// A peer that goes away: the proxy closes the other side.
    @Test func peerThatDisappearsClosesTheOtherSide() async throws {
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            let ac = Array(TestPDUs.associateAccept().readableBytesView)
            #expect(try await client.receive(atLeast: ac.count) == ac)
            await client.close()
            try await eventually("the upstream connection to close") { upstream.closedConnections.current == 1 }
            try await eventually("the end") { proxy.logs.contains("END  connection closed without release") }
        }
    }
}
