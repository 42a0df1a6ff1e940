import DICOMTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import DICOMMetrics

/// `/metrics` and `/healthz` over loopback HTTP, and the upstream check behind `/healthz`.
@Suite(.ownExecutor) struct MetricsEndpointTests {
    @Test func servesMetricsAndHealth() async throws {
        let metrics = DICOMMetrics()
        metrics.associationStarted()
        metrics.refused(.notAllowed)
        let healthy = NIOLockedValueBox(true)
        let endpoint = try await MetricsEndpoint.start(host: "127.0.0.1", port: 0, metrics: metrics, health: {
            healthy.withLockedValue { $0 } ? HealthStatus(healthy: true, reason: "listening")
                : HealthStatus(healthy: false, reason: "upstream 127.0.0.1:1 not checked yet")
        }, group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await endpoint.close() } }

        let scrape = try await MetricsHTTP.get("/metrics", port: endpoint.port)
        #expect(scrape.hasPrefix("HTTP/1.1 200 OK"))
        #expect(scrape.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(scrape.contains("\ndicomtap_associations_active 1.0\n"))
        #expect(scrape.contains(#"dicomtap_associations_refused_total{reason="not-allowed"} 1"#))

        let ok = try await MetricsHTTP.get("/healthz", port: endpoint.port)
        #expect(ok.hasPrefix("HTTP/1.1 200 OK"))
        #expect(ok.hasSuffix("\r\n\r\nok: listening\n"))
        healthy.withLockedValue { $0 = false }
        let down = try await MetricsHTTP.get("/healthz", port: endpoint.port)
        #expect(down.hasPrefix("HTTP/1.1 503 Service Unavailable"))
        #expect(down.hasSuffix("unhealthy: upstream 127.0.0.1:1 not checked yet\n"))

        let head = try await MetricsHTTP.get("/metrics", port: endpoint.port, method: "HEAD")
        #expect(head.hasPrefix("HTTP/1.1 200 OK") && head.hasSuffix("\r\n\r\n"))
        #expect(try await MetricsHTTP.get("/other", port: endpoint.port).hasPrefix("HTTP/1.1 404 Not Found"))
        #expect(try await MetricsHTTP.get("/metrics", port: endpoint.port, method: "POST").hasPrefix("HTTP/1.1 405 Method Not Allowed"))
        await endpoint.close()
    }

    @Test func upstreamProbeSaysWhichUpstreamIsDownAndWhy() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        // One upstream that accepts connections, one port that nothing listens on (bound, then closed).
        let listening = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let closedChannel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let closedPort = try #require(closedChannel.localAddress?.port)
        try await closedChannel.close()
        defer { listening.close(promise: nil) }
        let up = UpstreamProbe.Target(host: "127.0.0.1", port: try #require(listening.localAddress?.port))
        let down = UpstreamProbe.Target(host: "127.0.0.1", port: closedPort)
        let failures = NIOLockedValueBox<[String]>([])

        // A long window: on a loaded machine the round itself may take a while (the expiry is checked below).
        let probe = UpstreamProbe(targets: [up, down], window: .seconds(600)) { target, reason in
            failures.withLockedValue { $0.append("\(target): \(reason)") }
        }
        #expect(probe.status() == HealthStatus(healthy: false,
            reason: "upstream \(up) not checked yet; upstream \(down) not checked yet"))
        try await probe.checkAll(on: group.next()).get()
        let status = probe.status()
        #expect(!status.healthy)
        #expect(status.reason == "upstream \(down) did not accept a TCP connection in the last 600 s (connection refused)")
        #expect(failures.withLockedValue { $0 } == ["\(down): connection refused"])

        let healthyProbe = UpstreamProbe(targets: [up], window: .seconds(600))
        try await healthyProbe.checkAll(on: group.next()).get()
        #expect(healthyProbe.status().healthy)
        // A success older than the window no longer counts.
        #expect(healthyProbe.status(now: .now() + .seconds(601))
                == HealthStatus(healthy: false, reason: "upstream \(up) was not checked in the last 600 s"))
    }
}
