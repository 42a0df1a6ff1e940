import Foundation
import Testing

/// `replay` over TLS (PS3.15 B.12): a C-ECHO recorded through the proxy, replayed `--to` DCMTK's `storescp +tls` and
/// served `--serve --tls` to DCMTK's `echoscu +tls`, with certificates openssl makes for the test.
@Suite(.peers, .requires(.dcmtk, .dicomtap))
struct TLSReplayTests {
    @Test func replayToAndServeOverTLS() async throws {
        let dir = try TemporaryDirectory("replay-tls")
        defer { dir.remove() }
        let c = try await TestCertificates.make(in: dir.path)
        let plainPort = try freePort()
        let plain = try Subprocess(Peers.storescp, [String(plainPort)], name: "storescp", directory: dir)
        defer { plain.stop() }
        try await eventually("storescp to listen", timeout: peerMargin) { try canConnect(port: plainPort, plain) }
        let capture = try await recordThroughProxy(upstream: plainPort, directory: dir) { port in
            let echo = try Subprocess(Peers.echoscu, ["127.0.0.1", String(port)], name: "echoscu", directory: dir)
            #expect(try await echo.wait(timeout: peerMargin) == 0, "\(echo.stderr)")
        }

        // --to a TLS SCP, with our client certificate.
        let tlsPort = try freePort()
        let tlsSCP = try Subprocess(Peers.storescp, ["+tls", c.key("server"), c.certificate("server"), "+cf", c.ca, String(tlsPort)],
                                    name: "storescp-tls", directory: dir)
        defer { tlsSCP.stop() }
        try await eventually("storescp +tls to listen", timeout: peerMargin) { try canConnect(port: tlsPort, tlsSCP) }
        let to = try Subprocess(Peers.dicomtap, ["replay", capture, "--to", "127.0.0.1:\(tlsPort)", "--tls", "--tls-ca", c.ca,
                                                 "--tls-cert", c.certificate("client"), "--tls-key", c.key("client")],
                                name: "replay-to", directory: dir)
        #expect(try await to.wait(timeout: peerMargin) == 0, "\(to.stdout)\(to.stderr)")

        // --serve over TLS to DCMTK's echoscu +tls.
        let servePort = try freePort()
        let serve = try Subprocess(Peers.dicomtap, ["replay", capture, "--serve", "127.0.0.1:\(servePort)", "--tls",
                                                    "--tls-cert", c.certificate("server"), "--tls-key", c.key("server"), "--tls-ca", c.ca],
                                   name: "replay-serve", directory: dir)
        defer { serve.stop() }
        try await eventually("replay --serve to listen", timeout: peerMargin) { try canConnect(port: servePort, serve) }
        let echo = try Subprocess(Peers.echoscu, ["-v", "+tls", c.key("client"), c.certificate("client"), "+cf", c.ca,
                                                  "127.0.0.1", String(servePort)], name: "echoscu-tls", directory: dir)
        #expect(try await echo.wait(timeout: peerMargin) == 0, "\(echo.stdout)\(echo.stderr)\(serve.stderr)")
        #expect((echo.stdout + echo.stderr).contains("Received Echo Response (Success)"))
    }
}
