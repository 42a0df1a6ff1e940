import DICOMNetwork
import DICOMServices
import DICOMStore
import DICOMTestSupport
import Foundation
import Logging
import NIOCore
import Testing

/// DICOM over TLS (PS3.15 B.12) between our SCP and our SCU, in process, with certificates openssl makes for the
/// test: what the logs say of a good session, and the reason a person reads for each failed handshake, while the
/// other associations go on.
@Suite(.serialized, .ownExecutor) struct TLSServeTests {
    struct Fixture {
        let directory: TemporaryDirectory
        let certificates: TestCertificates
        let server: DICOMServer
        let logs: LogCapture
        var port: Int { server.port }
    }

    static func start(ca: Bool = true, requireClientCertificate: Bool = false, certificate: String = "server",
                      plain: Bool = false) async throws -> Fixture {
        let directory = try TemporaryDirectory("tls")
        let certificates = try await TestCertificates.make(in: directory.path)
        let store = try RPIStore.inMemory()
        _ = try store.importPaths([Repository.demo])
        let logs = LogCapture()
        var logger = Logger(label: "test.serve.tls") { _ in
            ConsoleLogHandler { text in logs.lines.withValue { $0 += text.split(separator: "\n").map(String.init) } }
        }
        logger.logLevel = .info
        var configuration = ServerConfiguration(supportedContexts: RPIService.supportedContexts,
                                                messageLimits: RPIService.messageLimits, logger: logger)
        if !plain {
            configuration.tls = try TLSContext.server(TLSServerSettings(
                certificatePath: certificates.certificate(certificate), keyPath: certificates.key(certificate),
                caPath: ca ? certificates.ca : nil, requireClientCertificate: requireClientCertificate))
        }
        let server = try await DICOMServer.start(port: 0, configuration: configuration,
                                                 handler: RPIService(store: store, logger: logger))
        return Fixture(directory: directory, certificates: certificates, server: server, logs: logs)
    }

    func query(_ fixture: Fixture, client: String? = "client", ca: String? = nil, serverName: String? = nil,
               tls: Bool = true) async throws -> RPIQueryResult {
        var query = RPIQuery(patientID: "PAT-0004")
        if tls {
            query.tls = try TLSContext.client(TLSClientSettings(
                caPath: ca ?? fixture.certificates.ca, certificatePath: client.map(fixture.certificates.certificate),
                keyPath: client.map(fixture.certificates.key), serverName: serverName))
        }
        return try await query.run(host: "127.0.0.1", port: fixture.port)
    }

    func line(_ fixture: Fixture, containing text: String) async throws -> String {
        try await eventually("a log line with \(text)", timeout: peerMargin) { fixture.logs.contains(text) }
        return fixture.logs.lines.current.first { $0.contains(text) }!
    }

    /// What a query that should fail says, as `dicomtap query` prints it.
    func failure(_ fixture: Fixture, client: String? = "client", ca: String? = nil, serverName: String? = nil,
                 tls: Bool = true) async -> String {
        do {
            _ = try await query(fixture, client: client, ca: ca, serverName: serverName, tls: tls)
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }

    @Test func mutualTLSQueryIsLoggedWithVersionSuiteAndCertificates() async throws {
        let fixture = try await Self.start(requireClientCertificate: true)
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        let result = try await query(fixture)
        #expect(result.matches.count == 1)
        let tls = try #require(result.tls)
        #expect(tls.version == "TLS 1.3", "\(tls)")
        #expect(tls.cipherSuite.hasPrefix("TLS_AES_") || tls.cipherSuite.hasPrefix("TLS_CHACHA20"), "\(tls)")
        #expect(tls.peerSubject == "CN=localhost,O=DICOMTap tests", "\(tls)")
        #expect(tls.peerIssuer == "CN=DICOMTap Test CA,O=DICOMTap tests", "\(tls)")
        let accepted = try await line(fixture, containing: "association accepted")
        #expect(accepted.contains("TLS 1.3 TLS_"), "\(accepted)")
        #expect(accepted.contains("client certificate CN=modality,O=DICOMTap tests issued by CN=DICOMTap Test CA"), "\(accepted)")
        #expect(RPIQueryReport.summary(result).contains("TLS 1.3"), "\(RPIQueryReport.summary(result))")
    }

    @Test func clientCertificateOfAnotherCAIsRefusedAndOthersGoOn() async throws {
        let fixture = try await Self.start(requireClientCertificate: true)
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        let said = await failure(fixture, client: "stranger")
        #expect(said.contains("TLS handshake with 127.0.0.1:\(fixture.port) failed"), "\(said)")
        let refused = try await line(fixture, containing: "association refused")
        #expect(refused.contains("TLS handshake from 127.0.0.1:"), "\(refused)")
        #expect(refused.contains("client certificate not signed by the CA in --tls-ca (issued by CN=Other Test CA,O=Elsewhere"),
                "\(refused)")
        // No certificate at all where one is required.
        let none = await failure(fixture, client: nil)
        #expect(none.contains("TLS handshake with"), "\(none)")
        _ = try await line(fixture, containing: "client sent no certificate")
        // The port still serves a good client.
        #expect(try await query(fixture).matches.count == 1)
    }

    @Test func expiredServerCertificateIsSaidWithItsDate() async throws {
        let fixture = try await Self.start(certificate: "expired-server")
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        let said = await failure(fixture)
        #expect(said.contains("server certificate expired on 2020-01-02 00:00:00 UTC (CN=expired"), "\(said)")
    }

    @Test func serverOfAnotherCAIsRefused() async throws {
        let fixture = try await Self.start()
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        let otherCA = await failure(fixture, ca: fixture.certificates.otherCA)
        #expect(otherCA.contains("server certificate not signed by the CA in --tls-ca (issued by CN=DICOMTap Test CA"), "\(otherCA)")
        #expect(try await query(fixture, client: nil).matches.count == 1, "no client certificate: none is required")
    }

    /// A certificate for the name localhost only: connecting by address fails the name check, with the fix; by the
    /// name in the certificate (--tls-server-name) it is fine.
    @Test func serverCertificateForAnotherName() async throws {
        let fixture = try await Self.start(certificate: "named-server")
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        let name = await failure(fixture)
        #expect(name.contains("server certificate is not for 127.0.0.1 (its subject: CN=localhost"), "\(name)")
        #expect(name.contains("--tls-server-name"), "\(name)")
        #expect(try await query(fixture, serverName: "localhost").matches.count == 1)
    }

    @Test func plainDICOMOnTheTLSPortAndTLSOnThePlainPort() async throws {
        let fixture = try await Self.start()
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        _ = await failure(fixture, tls: false)
        let refused = try await line(fixture, containing: "association refused")
        #expect(refused.contains("peer speaks plain DICOM on a TLS port"), "\(refused)")
        #expect(try await query(fixture).matches.count == 1)

        let plain = try await Self.start(plain: true)
        defer { plain.directory.remove() }
        defer { let server = plain.server; Task { await server.shutdown() } }
        var tlsQuery = RPIQuery(patientID: "PAT-0004")
        tlsQuery.tls = try TLSContext.client(TLSClientSettings(caPath: plain.certificates.ca))
        var said = "(no error)"
        do { _ = try await tlsQuery.run(host: "127.0.0.1", port: plain.port) } catch { said = "\(error)" }
        #expect(said.contains("the server answered in plain DICOM") || said.contains("does not speak TLS"), "\(said)")
    }

    /// Verification relaxed for testing (query --tls-no-verify): said as a warning, and an expired certificate passes.
    @Test func relaxedVerificationWarnsAndConnects() async throws {
        let fixture = try await Self.start(certificate: "expired-server")
        defer { fixture.directory.remove() }
        defer { let server = fixture.server; Task { await server.shutdown() } }
        var relaxed = RPIQuery(patientID: "PAT-0004")
        relaxed.tls = try TLSContext.client(TLSClientSettings(verifyServer: false))
        #expect(relaxed.tls?.warnings.first?.contains("the server's certificate is not checked") == true)
        #expect(try await relaxed.run(host: "127.0.0.1", port: fixture.port).matches.count == 1)
    }

    @Test func unusableFilesAreSaidWithTheFix() async throws {
        let directory = try TemporaryDirectory("tls")
        defer { directory.remove() }
        let c = try await TestCertificates.make(in: directory.path)
        func said(_ settings: TLSServerSettings) -> String {
            do {
                _ = try TLSContext.server(settings)
                return "(no error)"
            } catch {
                return "\(error)"
            }
        }
        let swapped = said(TLSServerSettings(certificatePath: c.key("server"), keyPath: c.certificate("server")))
        #expect(swapped == "--tls-cert \(c.key("server")): holds a private key, not a certificate; give the certificate "
            + "(-----BEGIN CERTIFICATE-----) here and the key to the key option", "\(swapped)")
        let missing = said(TLSServerSettings(certificatePath: directory.file("nothing.crt"), keyPath: c.key("server")))
        #expect(missing.hasPrefix("--tls-cert \(directory.file("nothing.crt")): no such file"), "\(missing)")
        let mismatch = said(TLSServerSettings(certificatePath: c.certificate("server"), keyPath: c.key("client")))
        #expect(mismatch.hasPrefix("--tls-key \(c.key("client")): does not belong to the certificate in --tls-cert"), "\(mismatch)")
        let noCA = said(TLSServerSettings(certificatePath: c.certificate("server"), keyPath: c.key("server"),
                                          requireClientCertificate: true))
        #expect(noCA.contains("needs the CA"), "\(noCA)")
        let expired = try TLSContext.server(TLSServerSettings(certificatePath: c.certificate("expired-server"),
                                                              keyPath: c.key("expired-server")))
        #expect(expired.warnings.first?.contains("expired on 2020-01-02") == true, "\(expired.warnings)")
    }
}
