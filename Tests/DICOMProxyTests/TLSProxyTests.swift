import Foundation
import Testing

/// `dicomtap proxy` as a TLS bridge (PS3.15 B.12) between DCMTK 3.6.7 peers (`+tls`, their default BCP 195
/// profile): a TLS SCU to a plain SCP, a plain SCU to a TLS SCP, TLS on both legs, a client certificate of another
/// CA refused, the decrypted recording read by `analyze`, the key log. Certificates made by openssl per test.
@Suite(.peers, .requires(.dcmtk, .dicomtap, .pynetdicom))
struct TLSProxyTests {
    struct Site {
        let dir: TemporaryDirectory
        let certificates: TestCertificates
        let stored: String
        let dataset: String
    }

    static func site(_ name: String) async throws -> Site {
        let dir = try TemporaryDirectory(name)
        let certificates = try await TestCertificates.make(in: dir.path)
        let stored = dir.file("stored")
        try FileManager.default.createDirectory(atPath: stored, withIntermediateDirectories: true)
        let dataset = dir.file("image.dcm")
        let make = try Subprocess.python(["dataset", dataset, "--rows", "512", "--columns", "512", "--patient-id", "TLS-1"],
                                         name: "dataset", directory: dir)
        #expect(try await make.wait() == 0)
        return Site(dir: dir, certificates: certificates, stored: stored, dataset: dataset)
    }

    /// storescp on a free port, `+B` (the data set as received), with TLS when asked.
    static func storescp(_ site: Site, tls: Bool) async throws -> (Subprocess, Int) {
        let c = site.certificates
        let port = try freePort()
        let tlsArguments = tls ? ["+tls", c.key("server"), c.certificate("server"), "+cf", c.ca] : []
        let scp = try Subprocess(Peers.storescp, tlsArguments + ["--output-directory", site.stored, "+B", String(port)],
                                 name: "storescp", directory: site.dir)
        try await eventually("storescp to listen", timeout: .seconds(90)) { try canConnect(port: port, scp) }
        return (scp, port)
    }

    /// The proxy with `arguments` after its certificates; waits for its listening line and returns it and the port
    /// of the listener named (`--listen` or `--tls-listen`).
    static func proxy(_ site: Site, _ arguments: [String], tlsListen: Bool) async throws -> (Subprocess, Int) {
        let port = try freePort()
        let c = site.certificates
        let listen = tlsListen
            ? ["--tls-listen", "127.0.0.1:\(port)", "--tls-cert", c.certificate("server"), "--tls-key", c.key("server"),
               "--tls-ca", c.ca, "--tls-require-client-cert"]
            : ["--listen", "127.0.0.1:\(port)"]
        let proxy = try Subprocess(Peers.dicomtap, ["proxy"] + listen + arguments + ["--log-dir", site.dir.file("logs"),
                                                                                     "--record", site.dir.file("rec")],
                                   name: "proxy", directory: site.dir)
        try await eventually("the proxy to listen", timeout: .seconds(90)) {
            if !proxy.process.isRunning { throw TimeoutError(what: "proxy exited: \(proxy.stderr)") }
            return proxy.stdout.contains("listening on 127.0.0.1:\(port)")
        }
        return (proxy, port)
    }

    func store(_ site: Site, port: Int, tls: Bool, name: String = "storescu", certificate: String = "client") async throws -> Int32 {
        let c = site.certificates
        let tlsArguments = tls ? ["+tls", c.key(certificate), c.certificate(certificate), "+cf", c.ca] : []
        let store = try Subprocess(Peers.storescu, ["-v"] + tlsArguments + ["127.0.0.1", String(port), site.dataset],
                                   name: name, directory: site.dir)
        return try await store.wait(timeout: .seconds(90))
    }

    /// The data set storescp wrote equals the one sent.
    func storedIsSent(_ site: Site) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: site.stored)
        #expect(files.count == 1, "\(files)")
        let received = try Data(contentsOf: URL(fileURLWithPath: site.stored + "/" + (files.first ?? "")))
        let sent = try Data(contentsOf: URL(fileURLWithPath: site.dataset))
        #expect(try #require(datasetBytes(ofPart10: received)) == (try #require(datasetBytes(ofPart10: sent))))
    }

    @Test func tlsSCUToPlainSCP() async throws {
        let site = try await Self.site("tls-to-plain")
        defer { site.dir.remove() }
        let (scp, scpPort) = try await Self.storescp(site, tls: false)
        defer { scp.stop() }
        let (proxy, port) = try await Self.proxy(site, ["--upstream", "127.0.0.1:\(scpPort)"], tlsListen: true)
        defer { proxy.stop() }
        #expect(proxy.stdout.contains("listening on 127.0.0.1:\(port) (TLS)"), "\(proxy.stdout)")
        let echo = try Subprocess(Peers.echoscu, ["+tls", site.certificates.key("client"), site.certificates.certificate("client"),
                                                  "+cf", site.certificates.ca, "127.0.0.1", String(port)],
                                  name: "echoscu", directory: site.dir)
        #expect(try await echo.wait(timeout: .seconds(90)) == 0, "\(echo.stderr)")
        #expect(try await store(site, port: port, tls: true) == 0)
        try await eventually("both associations to end", timeout: .seconds(90)) {
            proxy.stdout.components(separatedBy: "END  released").count == 3
        }
        try storedIsSent(site)
        let out = proxy.stdout
        #expect(out.contains("TLS  SCU 127.0.0.1:") && out.contains("client certificate CN=modality,O=DICOMTap tests issued by "
            + "CN=DICOMTap Test CA,O=DICOMTap tests"), "\(out)")
        let events = try jsonLines(site.dir.file("logs/events.jsonl"))
        let sessions = events.filter { $0["type"] as? String == "tls" }
        #expect(sessions.count == 2 && sessions.allSatisfy { $0["leg"] as? String == "requestor" }, "\(sessions)")
        #expect((sessions.first?["version"] as? String)?.hasPrefix("TLS 1.") == true, "\(sessions)")

        // The decrypted recording, marked so in its name, read by analyze as plain DICOM.
        let recordings = try FileManager.default.contentsOfDirectory(atPath: site.dir.file("rec")).sorted()
        #expect(recordings.count == 2 && recordings.allSatisfy { $0.hasSuffix("-decrypted.pcap") }, "\(recordings)")
        let storeRecording = try #require(recordings.first { $0.contains("STORESCU") }, "\(recordings)")
        let analyze = try Subprocess(Peers.dicomtap, ["analyze", site.dir.file("rec/" + storeRecording)], name: "analyze",
                                     directory: site.dir)
        #expect(try await analyze.wait(timeout: .seconds(90)) == 0, "\(analyze.stderr)")
        #expect(analyze.stdout.contains("C-STORE") && analyze.stdout.contains("0x0000"), "\(analyze.stdout)")

        // A certificate of another CA: refused with the reason, on stdout and in the events; the proxy goes on.
        #expect(try await store(site, port: port, tls: true, name: "stranger", certificate: "stranger") != 0)
        try await eventually("the refusal", timeout: .seconds(90)) {
            proxy.stdout.contains("handshake failed: client certificate not signed by the CA in --tls-ca (issued by CN=Other Test CA")
        }
        let failures = try jsonLines(site.dir.file("logs/events.jsonl")).filter { $0["type"] as? String == "tls-handshake-failed" }
        #expect((failures.first?["reason"] as? String)?.contains("not signed by the CA in --tls-ca") == true, "\(failures)")
        #expect(proxy.process.isRunning)
    }

    @Test func plainSCUToTLSSCPWithKeyLog() async throws {
        let site = try await Self.site("plain-to-tls")
        defer { site.dir.remove() }
        let (scp, scpPort) = try await Self.storescp(site, tls: true)
        defer { scp.stop() }
        let c = site.certificates
        let keyLog = site.dir.file("keys.log")
        let (proxy, port) = try await Self.proxy(site, [
            "--route", "STORESCP=tls://127.0.0.1:\(scpPort)", "--upstream-tls-ca", c.ca,
            "--upstream-tls-cert", c.certificate("client"), "--upstream-tls-key", c.key("client"), "--tls-keylog", keyLog,
        ], tlsListen: false)
        defer { proxy.stop() }
        let store = try Subprocess(Peers.storescu, ["-aec", "STORESCP", "127.0.0.1", String(port), site.dataset],
                                   name: "storescu", directory: site.dir)
        #expect(try await store.wait(timeout: .seconds(90)) == 0, "\(store.stderr)")
        try await eventually("the association to end", timeout: .seconds(90)) { proxy.stdout.contains("END  released") }
        try storedIsSent(site)
        #expect(proxy.stdout.contains("TLS  SCP tls://127.0.0.1:\(scpPort): TLS 1.") && proxy.stdout.contains("server certificate CN=localhost"),
                "\(proxy.stdout)")
        let keys = try String(contentsOfFile: keyLog, encoding: .utf8)
        #expect(keys.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET ") || keys.contains("CLIENT_RANDOM "), "\(keys.prefix(200))")
        let mode = (try FileManager.default.attributesOfItem(atPath: keyLog)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600, "\(String(mode, radix: 8))")
    }

    /// SIGHUP: the certificate files read again; new connections get the new certificate, a connection open across
    /// the reload stays, and a file that cannot be used leaves the one in use.
    @Test func sighupReloadsTheCertificate() async throws {
        let site = try await Self.site("tls-reload")
        defer { site.dir.remove() }
        let c = site.certificates
        let (live, liveKey) = (site.dir.file("live.crt"), site.dir.file("live.key"))
        func install(_ name: String) throws {
            for (from, to) in [(c.certificate(name), live), (c.key(name), liveKey)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
        try install("server")
        let port = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--tls-listen", "127.0.0.1:\(port)", "--tls-cert", live, "--tls-key", liveKey,
                                                    "--upstream", "127.0.0.1:9"], name: "proxy", directory: site.dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen", timeout: .seconds(90)) { proxy.stdout.contains("listening on 127.0.0.1:\(port)") }
        func subject(_ name: String) async throws -> String {
            let client = try Subprocess("/bin/sh", ["-c", "/usr/bin/openssl s_client -connect 127.0.0.1:\(port) < /dev/null"],
                                        name: name, directory: site.dir)
            _ = try await client.wait(timeout: .seconds(90))
            return client.stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? client.stdout + client.stderr
        }
        #expect(try await subject("before").contains("CN = localhost"))
        // A TLS connection open across the reloads (s_client waits on its stdin).
        let held = try Subprocess("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)"], name: "held", directory: site.dir)
        defer { held.stop() }
        try await eventually("the held connection's handshake", timeout: .seconds(90)) { held.stdout.contains("subject=") }

        try install("expired-server")
        kill(proxy.pid, SIGHUP)
        try await eventually("the reload", timeout: .seconds(90)) { proxy.stdout.contains("SIGHUP: TLS certificates read again") }
        #expect(proxy.stdout.contains("expired on 2020-01-02"), "\(proxy.stdout)")
        #expect(try await subject("after").contains("CN = expired"))

        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: liveKey))
        kill(proxy.pid, SIGHUP)
        try await eventually("the refused reload", timeout: .seconds(90)) {
            proxy.stdout.contains("SIGHUP: TLS certificates not reloaded, the ones in use stay: --tls-key \(liveKey): holds no PEM private key")
        }
        #expect(try await subject("kept").contains("CN = expired"))
        #expect(held.process.isRunning && proxy.process.isRunning)
        // The held connection is the second one: [0002]; the probes before and after it end.
        #expect(proxy.stdout.contains("[0001] END") && !proxy.stdout.contains("[0002] END"), "\(proxy.stdout)")
    }

    @Test func tlsOnBothLegs() async throws {
        let site = try await Self.site("tls-both")
        defer { site.dir.remove() }
        let (scp, scpPort) = try await Self.storescp(site, tls: true)
        defer { scp.stop() }
        let c = site.certificates
        let (proxy, port) = try await Self.proxy(site, [
            "--upstream", "127.0.0.1:\(scpPort)", "--upstream-tls", "--upstream-tls-ca", c.ca,
            "--upstream-tls-cert", c.certificate("client"), "--upstream-tls-key", c.key("client"),
        ], tlsListen: true)
        defer { proxy.stop() }
        #expect(try await store(site, port: port, tls: true) == 0)
        try await eventually("the association to end", timeout: .seconds(90)) { proxy.stdout.contains("END  released") }
        try storedIsSent(site)
        let legs = try jsonLines(site.dir.file("logs/events.jsonl")).filter { $0["type"] as? String == "tls" }.compactMap { $0["leg"] as? String }
        #expect(Set(legs) == ["requestor", "acceptor"], "\(legs)")
    }
}
