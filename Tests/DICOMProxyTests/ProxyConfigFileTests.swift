import Foundation
import NIOCore
import NIOPosix
import Testing

/// `dicomtap proxy --config FILE` as a user runs it: errors naming the file, line and key; the command line winning
/// over the file; the shipped example file; SIGHUP reloading the file on a running proxy.
@Suite(.peers, .requires(.dicomtap))
struct ProxyConfigFileTests {
    /// The repository's root (for examples/).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs `dicomtap` to its end (for commands that stop at once).
    static func run(_ arguments: [String], in dir: TemporaryDirectory, name: String = "dicomtap") async throws
        -> (status: Int32, stdout: String, stderr: String) {
        let process = try Subprocess(Peers.dicomtap, arguments, name: name, directory: dir)
        let status = try await process.wait(timeout: .seconds(30))
        return (status, process.stdout, process.stderr)
    }

    @Test(arguments: [
        // (file, what stderr says)
        ("listen: 11112\nupstreams: 127.0.0.1:104\n",
         "proxy.yaml:2: unknown key 'upstreams'; the keys are the proxy's options without their dashes: listen, upstream, route"),
        ("listen: 11112\n--upstream: 127.0.0.1:104\n", "proxy.yaml:2: unknown key '--upstream' (write option names without their dashes)"),
        ("listen: 11112\nupstream: 127.0.0.1:104\nidle-timeout: five minutes\n",
         "proxy.yaml:3: idle-timeout must be a number of seconds, not 'five minutes'"),
        ("listen: 11112\nmax-findings: 10.5\n", "proxy.yaml:2: max-findings must be a whole number, not '10.5'"),
        ("listen: 11112\nallow:\n  CT1: x\n", "proxy.yaml:3: allow must be a list of values (- VALUE)"),
        ("listen: 11112\nroute:\n  - PACS=127.0.0.1:104\n", "proxy.yaml:3: route must be a mapping (NAME: VALUE on indented lines)"),
        ("listen: 11112\nredact-identifiers: yes please\n", "proxy.yaml:2: redact-identifiers must be true or false, not 'yes please'"),
        ("listen: 11112\nupstream:\n  - a:1\n  - b:2\n", "proxy.yaml:3: upstream must be a single value"),
        ("listen: 11112\nupstream: [127.0.0.1:104\n", "proxy.yaml:3: not valid YAML"),
        ("- listen\n- 11112\n", "proxy.yaml:1: the file must be a mapping of option names to values"),
        // Values are then checked as the options are.
        ("listen: 11112\nroute:\n  PACS: nowhere\n", "--route must be AE=host:port or AE=tls://host:port, not 'PACS=nowhere'"),
    ])
    func errorsNameTheFileLineAndKey(_ file: String, _ message: String) async throws {
        let dir = try TemporaryDirectory("config-error")
        defer { dir.remove() }
        try file.write(toFile: dir.file("proxy.yaml"), atomically: true, encoding: .utf8)
        let result = try await Self.run(["proxy", "--config", dir.file("proxy.yaml")], in: dir)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("dicomtap proxy: "), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")
    }

    @Test func missingFileIsSaid() async throws {
        let dir = try TemporaryDirectory("config-missing")
        defer { dir.remove() }
        let result = try await Self.run(["proxy", "--config", dir.file("nowhere.yaml")], in: dir)
        #expect(result.status == 2)
        #expect(result.stderr == "dicomtap proxy: --config \(dir.file("nowhere.yaml")): no such file\n")
    }

    /// The file's listen and routes, the command line's --listen and --upstream: the command line wins, the rest of
    /// the file applies.
    @Test func commandLineWinsOverTheFile() async throws {
        let dir = try TemporaryDirectory("config-cli")
        defer { dir.remove() }
        let port = try freePort()
        try """
        listen: 127.0.0.1:1
        upstream: 127.0.0.1:2
        route:
          ARCHIVE: 127.0.0.1:3
        allow:
          - CT1
        log-dir: logs
        """.write(toFile: dir.file("proxy.yaml"), atomically: true, encoding: .utf8)
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--config", dir.file("proxy.yaml"), "--listen", "127.0.0.1:\(port)",
                                                    "--upstream", "127.0.0.1:4"], name: "proxy", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") {
            if !proxy.process.isRunning { throw TimeoutError(what: "the proxy exited: \(proxy.stderr)") }
            return proxy.stdout.contains("listening on")
        }
        #expect(proxy.stdout.contains("listening on 127.0.0.1:\(port); ARCHIVE -> 127.0.0.1:3, default -> 127.0.0.1:4; allowed: CT1"),
                "\(proxy.stdout)")
        // log-dir relative to the file's folder.
        #expect(FileManager.default.fileExists(atPath: dir.file("logs/events.jsonl")))
        kill(proxy.pid, SIGTERM)
        #expect(try await proxy.wait() == 0)
    }

    /// examples/dicomtap-proxy.yaml as shipped, in a folder with the files it names (certificates, key), with the
    /// absolute paths and ports moved by the command line: the proxy starts with its routes, allow-list, TLS and rewriting.
    @Test func theExampleFileLoads() async throws {
        let dir = try TemporaryDirectory("config-example")
        defer { dir.remove() }
        let certificates = try await TestCertificates.make(in: dir.path)
        let etc = dir.file("etc")
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/examples/dicomtap-proxy.yaml", toPath: etc + "/proxy.yaml")
        for (from, to) in [(certificates.certificate("server"), "proxy.crt"), (certificates.key("server"), "proxy.key"),
                           (certificates.ca, "modalities-ca.crt"), (certificates.ca, "archive-ca.crt")] {
            try FileManager.default.copyItem(atPath: from, toPath: etc + "/" + to)
        }
        let key = etc + "/pseudonym.key"
        try Data((0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        let scpPort = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, [
            "proxy", "--config", etc + "/proxy.yaml", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0",
            "--upstream", "127.0.0.1:\(scpPort)", "--log-dir", dir.file("logs"), "--record", dir.file("rec"),
            "--mapping-store", dir.file("pseudonyms.sqlite"), "--metrics-listen", "127.0.0.1:0",
        ], name: "proxy", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") {
            if !proxy.process.isRunning { throw TimeoutError(what: "the proxy exited: \(proxy.stderr)") }
            return proxy.stdout.contains("rewriting:")
        }
        let out = proxy.stdout
        #expect(out.contains("(TLS); ARCHIVE -> tls://archive.example.org:2762, REPORTS -> 10.1.2.40:104, default -> 127.0.0.1:\(scpPort)"),
                "\(out)")
        #expect(out.contains("allowed: CT1@10.1.2.0/24, MR1@10.1.2.0/24, WORKSTATION@10.1.3.17"), "\(out)")
        #expect(out.contains("rewriting: PatientName pseudonymize, PatientID pseudonymize; responses mapped back"), "\(out)")
        kill(proxy.pid, SIGTERM)
        #expect(try await proxy.wait() == 0, "\(proxy.stderr)")
    }

    /// SIGHUP on a running proxy: the file now names another upstream; an association open across the reload goes on
    /// (released normally), a new one goes to the new upstream; a broken file then changes nothing and stderr says why.
    @Test(.requires(.dcmtk)) func sighupReloadsTheFile() async throws {
        let dir = try TemporaryDirectory("config-sighup")
        defer { dir.remove() }
        var scps: [(Subprocess, Int)] = []
        for name in ["first", "second"] {
            let port = try freePort()
            let scp = try Subprocess(Peers.storescp, ["--ignore", "-aet", name.uppercased(), String(port)], name: name, directory: dir)
            scps.append((scp, port))
        }
        defer { scps.forEach { $0.0.stop() } }
        for (scp, port) in scps { try await eventually("storescp to listen") { try canConnect(port: port, scp) } }
        let (first, second) = (scps[0].1, scps[1].1)

        let config = dir.file("proxy.yaml")
        let proxyPort = try freePort()
        try "listen: 127.0.0.1:\(proxyPort)\nupstream: 127.0.0.1:\(first)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--config", config], name: "proxy", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") {
            if !proxy.process.isRunning { throw TimeoutError(what: "the proxy exited: \(proxy.stderr)") }
            return proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort); default -> 127.0.0.1:\(first)")
        }

        // An association open across the reload, to the first upstream.
        let holder = try await RawClient.connect(port: proxyPort, group: MultiThreadedEventLoopGroup.singleton)
        try await holder.send(TestPDUs.associateRequest(called: "FIRST", calling: "HOLDER"))
        let accepted = try await holder.receive(atLeast: 6)
        #expect(accepted.first == 0x02, "A-ASSOCIATE-AC expected, got \(accepted.prefix(10))")

        try "listen: 127.0.0.1:\(proxyPort)\nupstream: 127.0.0.1:\(second)\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(proxy.pid, SIGHUP)
        try await eventually("the reload") { proxy.stdout.contains("SIGHUP: --config \(config) read again") }

        // A new association goes to the second upstream.
        let echo = try Subprocess(Peers.echoscu, ["-aec", "SECOND", "127.0.0.1", String(proxyPort)], name: "echoscu", directory: dir)
        #expect(try await echo.wait() == 0, "\(echo.stderr)")
        try await eventually("the echo's association to end") { proxy.stdout.components(separatedBy: "END  released").count == 2 }
        #expect(proxy.stdout.contains("127.0.0.1:\(second)"), "\(proxy.stdout)")

        // The one opened before the reload is still there: released, not aborted.
        let before = holder.collector.received.current.readableBytes
        try await holder.send([0x05, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00])
        let released = try await holder.receive(atLeast: before + 10)
        #expect(Array(released.suffix(10)) == [0x06, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00])
        await holder.close()
        try await eventually("both associations to end") { proxy.stdout.components(separatedBy: "END  released").count == 3 }
        #expect(proxy.stdout.contains("\"HOLDER\" -> \"FIRST\"  via 127.0.0.1:\(first)"), "\(proxy.stdout)")
        #expect(!proxy.stdout.contains("aborted"), "\(proxy.stdout)")

        // A broken file: nothing changes, stderr says why.
        try "listen: 127.0.0.1:\(proxyPort)\nupstream: 127.0.0.1:\(first)\nidle-timeout: soon\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        kill(proxy.pid, SIGHUP)
        try await eventually("the refused reload") { proxy.stderr.contains("not reloaded") }
        #expect(proxy.stderr.contains("dicomtap proxy: SIGHUP: --config \(config) not reloaded, the settings in use stay: "
                                      + "\(config):3: idle-timeout must be a number of seconds, not 'soon'"), "\(proxy.stderr)")
        let again = try Subprocess(Peers.echoscu, ["127.0.0.1", String(proxyPort)], name: "echoscu-2", directory: dir)
        #expect(try await again.wait() == 0, "\(again.stderr)")
        try await eventually("the third association to end") { proxy.stdout.components(separatedBy: "END  released").count == 4 }
        let lastStart = proxy.stdout.components(separatedBy: "\n").last { $0.contains("127.0.0.1:\(first)") || $0.contains("127.0.0.1:\(second)") }
        #expect(lastStart?.contains("127.0.0.1:\(second)") == true, "\(proxy.stdout)")

        kill(proxy.pid, SIGTERM)
        #expect(try await proxy.wait() == 0)
    }
}
