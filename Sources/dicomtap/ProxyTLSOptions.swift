import ArgumentParser
import DICOMNetwork
import DICOMProxy
import Foundation
import NIOCore

/// The proxy's TLS options (PS3.15 B.12): a TLS listener beside the plain one, and TLS towards upstreams.
struct ProxyTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also listen for SCUs speaking DICOM over TLS here (2762 is dicom-tls; never the --listen port).",
                               valueName: "[host:]port"))
    var tlsListen: String?
    @Option(help: ArgumentHelp("Our certificate (PEM) for --tls-listen.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM, unencrypted).", valueName: "file"))
    var tlsKey: String?
    @Option(help: ArgumentHelp("CA certificates (PEM) that SCUs' certificates must be signed by.", valueName: "file"))
    var tlsCa: String?
    @Flag(help: "Refuse TLS SCUs without a certificate signed by the CA in --tls-ca (mutual TLS).")
    var tlsRequireClientCert = false

    @Flag(help: "Speak TLS to --upstream (routes say tls://HOST:PORT for themselves).")
    var upstreamTls = false
    @Option(help: ArgumentHelp("CA certificates (PEM) TLS upstreams' certificates must be signed by (default: the system's CAs).",
                               valueName: "file"))
    var upstreamTlsCa: String?
    @Option(help: ArgumentHelp("Our client certificate (PEM) for TLS upstreams that require one.", valueName: "file"))
    var upstreamTlsCert: String?
    @Option(help: ArgumentHelp("The private key of --upstream-tls-cert (PEM, unencrypted).", valueName: "file"))
    var upstreamTlsKey: String?
    @Option(help: ArgumentHelp("The name TLS upstreams' certificates must hold (default: the host of the route).", valueName: "name"))
    var upstreamTlsServerName: String?
    @Flag(help: "Do not check TLS upstreams' certificates (testing only: anyone on the path can read and change the associations).")
    var upstreamTlsNoVerify = false

    @Option(help: ArgumentHelp("Append every TLS session's secrets to FILE in the NSS key log format (Wireshark decrypts a capture "
                               + "of the encrypted wire with it; mode 0600; whoever has it can read those associations).",
                               valueName: "file"))
    var tlsKeylog: String?

    static let upstreamNames = TLSOptionNames(certificate: "--upstream-tls-cert", key: "--upstream-tls-key",
                                              ca: "--upstream-tls-ca", serverName: "--upstream-tls-server-name")

    func validate(routesUseTLS: Bool) throws {
        if tlsListen != nil {
            guard tlsCert != nil, tlsKey != nil else {
                throw ValidationError("--tls-listen needs --tls-cert FILE and --tls-key FILE (our certificate and its key, PEM)")
            }
        } else if tlsCert != nil || tlsKey != nil || tlsCa != nil || tlsRequireClientCert {
            throw ValidationError("--tls-cert, --tls-key, --tls-ca and --tls-require-client-cert need --tls-listen [HOST:]PORT")
        }
        if tlsRequireClientCert && tlsCa == nil {
            throw ValidationError("--tls-require-client-cert needs --tls-ca FILE, the CA that signs the SCUs' certificates")
        }
        let upstreamGiven = upstreamTlsCa != nil || upstreamTlsCert != nil || upstreamTlsKey != nil || upstreamTlsServerName != nil
            || upstreamTlsNoVerify
        if upstreamGiven && !upstreamTls && !routesUseTLS {
            throw ValidationError("the --upstream-tls-* options need --upstream-tls or a --route AE=tls://HOST:PORT")
        }
        if (upstreamTlsCert == nil) != (upstreamTlsKey == nil) {
            throw ValidationError("--upstream-tls-cert and --upstream-tls-key go together (our certificate and its key)")
        }
        if tlsKeylog != nil && tlsListen == nil && !upstreamTls && !routesUseTLS {
            throw ValidationError("--tls-keylog needs a TLS leg: --tls-listen, --upstream-tls or a tls:// route")
        }
    }

    /// The TLS sides from the files as they are now (at start, and again on SIGHUP).
    func load(routesUseTLS: Bool) throws -> (listen: TLSContext?, upstream: TLSContext?) {
        let keyLog: (@Sendable (ByteBuffer) -> Void)?
        do {
            keyLog = try tlsKeylog.map { try TLSKeyLog.open($0) }
        } catch {
            throw CLIError("--tls-keylog: \(error)")
        }
        do {
            var listen: TLSContext?
            var upstream: TLSContext?
            if tlsListen != nil, let tlsCert, let tlsKey {
                listen = try TLSContext.server(TLSServerSettings(certificatePath: tlsCert, keyPath: tlsKey, caPath: tlsCa,
                                                                 requireClientCertificate: tlsRequireClientCert), keyLog: keyLog)
            }
            if upstreamTls || routesUseTLS {
                upstream = try TLSContext.client(TLSClientSettings(
                    caPath: upstreamTlsCa, certificatePath: upstreamTlsCert, keyPath: upstreamTlsKey,
                    serverName: upstreamTlsServerName, verifyServer: !upstreamTlsNoVerify, options: Self.upstreamNames), keyLog: keyLog)
            }
            return (listen, upstream)
        } catch {
            throw CLIError("\(error)")
        }
    }
}
