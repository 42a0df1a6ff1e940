import DICOMPeerSupport
import DICOMTestSupport
import Foundation
import Testing

/// `dicomtap serve --metrics-listen` scraped after known traffic from DCMTK's echoscu and our own query SCU.
@Suite(.peers, .requires(.dcmtk, .dicomtap)) struct ServeMetricsTests {
    static let demo = Peers.repository.appendingPathComponent("demo").path

    @Test func scrapeAfterKnownTraffic() async throws {
        let dir = try TemporaryDirectory("serve-metrics")
        defer { dir.remove() }
        let serve = try Subprocess(Peers.dicomtap, ["serve", "--host", "127.0.0.1", "--port", "0", "--ae-title", "RPI-SCP",
                                                    "--db", dir.file("rpi.sqlite"), "--import", Self.demo,
                                                    "--metrics-listen", "127.0.0.1:0"], name: "serve", directory: dir)
        defer { serve.stop() }
        try await eventually("serve to start its metrics endpoint", timeout: .seconds(60)) {
            if !serve.process.isRunning { throw TimeoutError(what: "serve exited: \(serve.stderr)") }
            return serve.stdout.contains("/metrics and /healthz")
        }
        let port = try #require(printedPort(after: "listening on 127.0.0.1:", in: serve.stdout))
        let metricsPort = try #require(printedPort(after: "metrics on http://127.0.0.1:", in: serve.stdout))

        for _ in 0..<2 {
            let echo = try Subprocess(Peers.echoscu, ["-aec", "RPI-SCP", "127.0.0.1", "\(port)"], name: "echo", directory: dir)
            #expect(try await echo.wait() == 0, "\(echo.stderr)")
        }
        let wrong = try Subprocess(Peers.echoscu, ["-aec", "NOT-US", "127.0.0.1", "\(port)"], name: "wrong", directory: dir)
        #expect(try await wrong.wait() != 0)
        let query = try Subprocess(Peers.dicomtap, ["query", "127.0.0.1", "\(port)", "--called-ae", "RPI-SCP",
                                                    "--patient-id", "PAT-0001"], name: "query", directory: dir)
        #expect(try await query.wait() == 0, "\(query.stderr)")

        // The last association's close reaches the server just after the SCU exits.
        var text = ""
        for _ in 0..<250 {
            text = try await Self.scrape(metricsPort)
            if DICOMMetricsTests.value(text, "dicomtap_associations_active") == 0,
               DICOMMetricsTests.value(text, #"dicomtap_dimse_exchanges_total{service="C-FIND",status="success"}"#) == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(DICOMMetricsTests.value(text, "dicomtap_associations_active") == 0, "\(text)")
        #expect(DICOMMetricsTests.value(text, "dicomtap_associations_accepted_total") == 3, "\(text)")
        #expect(DICOMMetricsTests.value(text, #"dicomtap_associations_rejected_total{result="1",source="1",reason="7"}"#) == 1)
        #expect(DICOMMetricsTests.value(text, #"dicomtap_dimse_exchanges_total{service="C-ECHO",status="success"}"#) == 2)
        #expect(DICOMMetricsTests.value(text, #"dicomtap_dimse_latency_seconds_count{service="C-FIND"}"#) == 1)
        #expect(!text.contains("PAT-0001") && !text.contains("RPI-SCP") && !text.contains("ECHOSCU"))

        let health = try await MetricsHTTP.get("/healthz", port: metricsPort)
        #expect(health.hasPrefix("HTTP/1.1 200 OK"))
        #expect(health.hasSuffix("ok: listening on 127.0.0.1:\(port)\n"), "\(health)")
    }

    static func scrape(_ port: Int) async throws -> String {
        let response = try await MetricsHTTP.get("/metrics", port: port)
        guard let body = response.range(of: "\r\n\r\n") else { return "" }
        return String(response[body.upperBound...])
    }
}

/// The open file limit is raised to the hard one at start, and said.
@Suite(.peers, .requires(.dicomtap)) struct FileLimitTests {
    @Test func serveRaisesItsSoftLimitAndSaysSo() async throws {
        let dir = try TemporaryDirectory("file-limit")
        defer { dir.remove() }
        // A shell lowers the soft limit, then runs serve in its place (the hard limit stays).
        let serve = try Subprocess("/bin/sh", ["-c", "ulimit -Sn 256 && exec \"$0\" \"$@\"", Peers.dicomtap,
                                               "serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.file("rpi.sqlite")],
                                   name: "serve", directory: dir)
        defer { serve.stop() }
        // Its limit lines follow the "listening on" line, in writes of their own: wait for the last of them.
        try await eventually("serve to listen and say its limits", timeout: .seconds(60)) {
            if !serve.process.isRunning { throw TimeoutError(what: "serve exited: \(serve.stderr)") }
            return serve.stdout.contains("listening on") && serve.stdout.contains("associations at once")
        }
        let hard = try #require(String(contentsOfFile: "/proc/self/limits", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("Max open files") }?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first)
        #expect(serve.stdout.contains("open file limit raised from 256 to \(hard)\n"), "\(serve.stdout)")
        // And the association limit sized from it (--max-associations).
        let sized = "at most \((Int(hard) ?? 0) - 64) associations at once: open file limit \(hard), 1 open file each (its connection)"
        #expect(serve.stdout.contains(sized), "\(serve.stdout)")
        let limits = try String(contentsOfFile: "/proc/\(serve.pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" \(hard) ") && !$0.contains(" 256 ") })
    }
}

/// `dicomtap proxy --metrics-listen`: counts of what went through, refusals, and /healthz with the upstream up and down.
@Suite(.peers, .requires(.dcmtk, .dicomtap)) struct ProxyMetricsTests {
    static func start(_ arguments: [String], name: String, in dir: TemporaryDirectory) async throws -> (Subprocess, Int, Int) {
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"] + arguments,
                                   name: name, directory: dir)
        try await eventually("the proxy to start its metrics endpoint", timeout: .seconds(60)) {
            if !proxy.process.isRunning { throw TimeoutError(what: "proxy exited: \(proxy.stderr)") }
            return proxy.stdout.contains("/metrics and /healthz")
        }
        let port = try #require(printedPort(after: "listening on 127.0.0.1:", in: proxy.stdout), "\(proxy.stdout)")
        let metricsPort = try #require(printedPort(after: "metrics on http://127.0.0.1:", in: proxy.stdout))
        return (proxy, port, metricsPort)
    }

    @Test func countsWhatWentThroughAndSaysTheUpstreamIsUp() async throws {
        let dir = try TemporaryDirectory("proxy-metrics")
        defer { dir.remove() }
        let serve = try Subprocess(Peers.dicomtap, ["serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.file("rpi.sqlite")],
                                   name: "serve", directory: dir)
        defer { serve.stop() }
        try await eventually("serve to listen", timeout: .seconds(60)) { serve.stdout.contains("listening on") }
        let servePort = try #require(printedPort(after: "listening on 127.0.0.1:", in: serve.stdout))
        let (proxy, port, metricsPort) = try await Self.start(["--upstream", "127.0.0.1:\(servePort)", "--allow", "ECHOSCU"],
                                                              name: "proxy", in: dir)
        defer { proxy.stop() }

        for _ in 0..<2 {
            let echo = try Subprocess(Peers.echoscu, ["127.0.0.1", "\(port)"], name: "echo", directory: dir)
            #expect(try await echo.wait() == 0, "\(echo.stderr)")
        }
        let stranger = try Subprocess(Peers.echoscu, ["-aet", "STRANGER", "127.0.0.1", "\(port)"], name: "stranger", directory: dir)
        #expect(try await stranger.wait() != 0)

        var text = ""
        for _ in 0..<250 {
            text = try await ServeMetricsTests.scrape(metricsPort)
            if DICOMMetricsTests.value(text, "dicomtap_associations_active") == 0,
               DICOMMetricsTests.value(text, #"dicomtap_associations_refused_total{reason="not-allowed"}"#) == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(DICOMMetricsTests.value(text, "dicomtap_associations_active") == 0, "\(text)")
        #expect(DICOMMetricsTests.value(text, #"dicomtap_associations_refused_total{reason="not-allowed"}"#) == 1, "\(text)")
        // The proxy's own A-ASSOCIATE-RJ (1 rejected-permanent, 1 service-user, 3 calling AE title not recognized) is
        // counted as an SCP's would be.
        #expect(DICOMMetricsTests.value(text, #"dicomtap_associations_rejected_total{result="1",source="1",reason="3"}"#) == 1, "\(text)")
        #expect(DICOMMetricsTests.value(text, "dicomtap_associations_accepted_total") == 2)
        #expect(DICOMMetricsTests.value(text, #"dicomtap_dimse_exchanges_total{service="C-ECHO",status="success"}"#) == 2)
        #expect((DICOMMetricsTests.value(text, #"dicomtap_pdu_bytes_total{from="requestor"}"#) ?? 0) > 0)
        #expect(!text.contains("STRANGER") && !text.contains("ECHOSCU"))

        let health = try await MetricsHTTP.get("/healthz", port: metricsPort)
        #expect(health.hasPrefix("HTTP/1.1 200 OK"), "\(health)")
        #expect(health.contains("every upstream (127.0.0.1:\(servePort)) accepted a connection"), "\(health)")
    }

    @Test func healthIsUnavailableWhileTheUpstreamRefuses() async throws {
        let dir = try TemporaryDirectory("proxy-health")
        defer { dir.remove() }
        let closed = try freePort()  // nothing listens there
        let (proxy, _, metricsPort) = try await Self.start(["--upstream", "127.0.0.1:\(closed)"], name: "proxy", in: dir)
        defer { proxy.stop() }
        // The first check runs as the proxy starts.
        var health = ""
        for _ in 0..<250 where !health.contains("connection refused") {
            health = (try? await MetricsHTTP.get("/healthz", port: metricsPort)) ?? ""
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(health.hasPrefix("HTTP/1.1 503 Service Unavailable"), "\(health)")
        #expect(health.hasSuffix("unhealthy: upstream 127.0.0.1:\(closed) did not accept a TCP connection in the last 30 s "
                                 + "(connection refused)\n"), "\(health)")
        let text = try await ServeMetricsTests.scrape(metricsPort)
        #expect((DICOMMetricsTests.value(text, #"dicomtap_upstream_connect_failures_total{reason="refused"}"#) ?? 0) >= 1, "\(text)")
    }

    /// A pseudonymizing proxy says how many mappings its store holds (counted at start, then every 30 s).
    @Test func mappingStoreRecordsAreCounted() async throws {
        let dir = try TemporaryDirectory("proxy-store-size")
        defer { dir.remove() }
        let store = dir.file("pseudonyms.sqlite")
        try "pseudonym,original,vr,tag,issuer\nPS-1,PAT-1,LO,00100020,\nPS-2,PAT-2,LO,00100020,\nPS-3,PAT-3,LO,00100020,\n"
            .write(toFile: dir.file("map.csv"), atomically: true, encoding: .utf8)
        let load = try Subprocess(Peers.dicomtap, ["mapping", "import", "--mapping-store", store, dir.file("map.csv")],
                                  name: "import", directory: dir)
        #expect(try await load.wait() == 0, "\(load.stderr)")
        let key = dir.file("key")
        _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
        chmod(key, 0o600)
        let (proxy, _, metricsPort) = try await Self.start(
            ["--upstream", "127.0.0.1:\(try freePort())", "--pseudonymize", "PatientID", "--key-file", key, "--mapping-store", store,
             "--allow", "NOBODY"], name: "proxy", in: dir)
        defer { proxy.stop() }
        var text = ""
        for _ in 0..<250 {
            text = try await ServeMetricsTests.scrape(metricsPort)
            if DICOMMetricsTests.value(text, "dicomtap_mapping_store_records") == 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(DICOMMetricsTests.value(text, "dicomtap_mapping_store_records") == 3, "\(text)")
    }
}
