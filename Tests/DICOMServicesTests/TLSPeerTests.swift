import DICOMNetwork
import DICOMTestSupport
import DIMSE
import Foundation
import Testing

/// `dicomtap serve --tls-port` and `query --tls` with real TLS peers: DCMTK 3.6.7's `echoscu +tls` (its default
/// Non-Downgrading BCP 195 profile), pynetdicom 3.0.4 with an `ssl.SSLContext`, DCMTK's `storescp +tls` as the SCP
/// of our SCU, and `openssl s_client` for the profile's edges. Certificates made by openssl for each test.
@Suite(.serialized, .peers) struct TLSPeerTests {
    static let tlsScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/tls_scu.py").path

    /// `dicomtap serve` with only a TLS port (mutual TLS), on the demo data; its port from the listening line.
    static func serve(_ c: TestCertificates, in dir: TemporaryDirectory) async throws -> (Subprocess, Int) {
        let serve = try Subprocess(Peers.dicomtap, [
            "serve", "--host", "127.0.0.1", "--tls-port", "0", "--tls-cert", c.certificate("server"), "--tls-key", c.key("server"),
            "--tls-ca", c.ca, "--tls-require-client-cert", "--db", dir.file("rpi.sqlite"), "--import", Repository.demo, "-v",
        ], name: "serve", directory: dir)
        var port = 0
        try await eventually("serve to listen", timeout: peerMargin) {
            if !serve.process.isRunning { throw TimeoutError(what: "serve exited: \(serve.stderr)") }
            guard let line = serve.stdout.split(separator: "\n").first(where: { $0.hasPrefix("listening on 127.0.0.1:") }) else {
                return false
            }
            port = Int(line.dropFirst("listening on 127.0.0.1:".count).prefix { $0.isNumber }) ?? 0
            #expect(line.contains("(TLS, BCP 195 (PS3.15 B.12) profile, client certificates required"), "\(line)")
            return true
        }
        return (serve, port)
    }

    @Test(.requires(.dicomtap, .dcmtk, .pynetdicom)) func serveOverTLSWithDCMTKPynetdicomAndOurQuery() async throws {
        let dir = try TemporaryDirectory("tls")
        defer { dir.remove() }
        let c = try await TestCertificates.make(in: dir.path)
        let (serve, port) = try await Self.serve(c, in: dir)
        defer { serve.stop() }

        // DCMTK echoscu with its default profile (+py, Non-Downgrading BCP 195).
        let echo = try Subprocess(Peers.echoscu, ["-v", "+tls", c.key("client"), c.certificate("client"), "+cf", c.ca,
                                                  "-aet", "ECHOSCU", "127.0.0.1", String(port)], name: "echoscu", directory: dir)
        #expect(try await echo.wait(timeout: peerMargin) == 0, "\(echo.stdout)\(echo.stderr)")
        #expect((echo.stdout + echo.stderr).contains("Received Echo Response (Success)"), "\(echo.stdout)\(echo.stderr)")
        try await eventually("serve to log the TLS session", timeout: peerMargin) {
            serve.stdout.contains("\"ECHOSCU\"") && serve.stdout.contains("client certificate CN=modality,O=DICOMTap tests")
        }

        // pynetdicom with an ssl.SSLContext: C-ECHO and a Relevant Patient Information Query.
        let py = try Subprocess.python(script: Self.tlsScript, [
            "127.0.0.1", String(port), "--ca", c.ca, "--cert", c.certificate("client"), "--key", c.key("client"),
            "--patient-id", "PAT-0004",
        ], name: "tls_scu", directory: dir)
        #expect(try await py.wait(timeout: peerMargin) == 0, "\(py.stdout)\(py.stderr)")
        #expect(py.stdout.contains("tls TLSv1.3 TLS_"), "\(py.stdout)")
        #expect(py.stdout.contains("echo 0x0000"), "\(py.stdout)")
        #expect(py.stdout.contains("status 0xFF00") && py.stdout.contains("name Garcia^Maria^Luisa"), "\(py.stdout)\(py.stderr)")

        // Our query --tls.
        let query = try Subprocess(Peers.dicomtap, [
            "query", "127.0.0.1", String(port), "--patient-id", "PAT-0004", "--tls", "--tls-ca", c.ca,
            "--tls-cert", c.certificate("client"), "--tls-key", c.key("client"),
        ], name: "query", directory: dir)
        #expect(try await query.wait(timeout: peerMargin) == 0, "\(query.stdout)\(query.stderr)")
        #expect(query.stdout.contains("1 match") && query.stdout.contains("TLS 1.3 TLS_")
                    && query.stdout.contains("server certificate CN=localhost"), "\(query.stdout)")

        // A certificate of another CA, and plain DICOM, on the TLS port: each refused with its reason; serve goes on.
        let stranger = try Subprocess(Peers.echoscu, ["+tls", c.key("stranger"), c.certificate("stranger"), "+cf", c.ca,
                                                      "127.0.0.1", String(port)], name: "stranger", directory: dir)
        #expect(try await stranger.wait(timeout: peerMargin) != 0)
        try await eventually("serve to refuse the stranger", timeout: peerMargin) {
            serve.stdout.contains("client certificate not signed by the CA in --tls-ca (issued by CN=Other Test CA")
        }
        let plain = try Subprocess(Peers.echoscu, ["127.0.0.1", String(port)], name: "plain", directory: dir)
        #expect(try await plain.wait(timeout: peerMargin) != 0)
        try await eventually("serve to refuse plain DICOM", timeout: peerMargin) {
            serve.stdout.contains("peer speaks plain DICOM on a TLS port")
        }
        let again = try Subprocess(Peers.echoscu, ["+tls", c.key("client"), c.certificate("client"), "+cf", c.ca,
                                                   "127.0.0.1", String(port)], name: "again", directory: dir)
        #expect(try await again.wait(timeout: peerMargin) == 0, "\(again.stderr)")
        #expect(serve.process.isRunning)
    }

    /// PS3.15 B.12 at the edges, with openssl's client: TLS 1.2 with a BCP 195 suite is served, TLS 1.1 and a TLS 1.2
    /// suite outside BCP 195 are not.
    @Test(.requires(.dicomtap)) func profileRefusesOldVersionsAndSuites() async throws {
        let dir = try TemporaryDirectory("tls")
        defer { dir.remove() }
        let c = try await TestCertificates.make(in: dir.path)
        let (serve, port) = try await Self.serve(c, in: dir)
        defer { serve.stop() }
        func handshake(_ arguments: [String], name: String) async throws -> String {
            // s_client reads stdin until its end: /dev/null ends it after the handshake.
            let command = (["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", c.ca,
                            "-cert", c.certificate("client"), "-key", c.key("client")] + arguments).joined(separator: " ")
            let client = try Subprocess("/bin/sh", ["-c", command + " < /dev/null"], name: name, directory: dir)
            _ = try await client.wait(timeout: peerMargin)
            return client.stdout + client.stderr
        }
        let tls12 = try await handshake(["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"], name: "tls12")
        #expect(tls12.contains("Cipher is ECDHE-RSA-AES256-GCM-SHA384"), "\(tls12)")
        let tls11 = try await handshake(["-tls1_1"], name: "tls11")
        #expect(!tls11.contains("Cipher is") || tls11.contains("Cipher is (NONE)"), "\(tls11)")
        let cbc = try await handshake(["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], name: "cbc")
        #expect(!cbc.contains("Cipher is ECDHE"), "\(cbc)")
        try await eventually("serve to say why", timeout: peerMargin) {
            serve.stdout.contains("offers only TLS versions below 1.2") && serve.stdout.contains("no cipher suite in common")
        }
    }

    /// Our SCU's TLS against DCMTK's TLS SCP (storescp +tls, default profile): a C-ECHO, the server's certificate seen.
    @Test(.requires(.dcmtk)) func ourClientEchoesDCMTKStorescpOverTLS() async throws {
        let dir = try TemporaryDirectory("tls")
        defer { dir.remove() }
        let c = try await TestCertificates.make(in: dir.path)
        let port = try freePort()
        let scp = try Subprocess(Peers.storescp, ["+tls", c.key("server"), c.certificate("server"), "+cf", c.ca,
                                                  "--aetitle", "STORESCP", String(port)], name: "storescp", directory: dir)
        defer { scp.stop() }
        let tls = try TLSContext.client(TLSClientSettings(caPath: c.ca, certificatePath: c.certificate("client"),
                                                          keyPath: c.key("client")))
        let verification = CEchoRequest.verificationSOPClassUID
        var client: DICOMClient?
        let deadline = ContinuousClock.now + peerMargin
        while client == nil, ContinuousClock.now < deadline, scp.process.isRunning {
            client = try? await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: AssociationParameters(
                callingAETitle: "ECHOSCU", calledAETitle: "STORESCP",
                contexts: PresentationContextProposal.numbered([verification])), tls: tls)
            if client == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let association = try #require(client, "storescp: \(scp.stderr)")
        #expect(association.tls?.peerSubject == "CN=localhost,O=DICOMTap tests", "\(String(describing: association.tls))")
        let context = try #require(association.context(for: verification))
        try await association.send(.cEchoRequest(CEchoRequest(messageID: association.nextMessageID())), dataSet: nil, contextID: context.id)
        let response = try #require(try await association.receive(timeout: .seconds(90)))
        guard case .cEchoResponse(let rsp) = response.command else { Issue.record("not a C-ECHO-RSP: \(response.command)"); return }
        #expect(rsp.status == 0x0000)
        try await association.release()
    }
}
