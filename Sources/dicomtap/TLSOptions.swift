import ArgumentParser
import DICOMNetwork
import Foundation

/// `serve`'s TLS port (PS3.15 Annex B): beside `--port`, never the same port.
struct TLSListenOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also listen for DICOM over TLS on this port (2762 is dicom-tls, PS3.15 B.1; 0 lets the OS choose).",
                               valueName: "port"))
    var tlsPort: Int?
    @Option(help: ArgumentHelp("Our certificate (PEM; the chain, leaf first) for the TLS port.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM, unencrypted).", valueName: "file"))
    var tlsKey: String?
    @Option(help: ArgumentHelp("CA certificates (PEM) that client certificates must be signed by; presented client "
                               + "certificates are checked against them.", valueName: "file"))
    var tlsCa: String?
    @Flag(help: "Refuse TLS clients without a certificate signed by the CA in --tls-ca (mutual TLS).")
    var tlsRequireClientCert = false

    func validate() throws {
        if let tlsPort {
            guard (0...65535).contains(tlsPort) else { throw ValidationError("--tls-port must be 0-65535") }
            guard tlsCert != nil, tlsKey != nil else {
                throw ValidationError("--tls-port needs --tls-cert FILE and --tls-key FILE (our certificate and its key, PEM)")
            }
        } else if tlsCert != nil || tlsKey != nil || tlsCa != nil || tlsRequireClientCert {
            throw ValidationError("--tls-cert, --tls-key, --tls-ca and --tls-require-client-cert need --tls-port N")
        }
        if tlsRequireClientCert && tlsCa == nil {
            throw ValidationError("--tls-require-client-cert needs --tls-ca FILE, the CA that signs the client certificates")
        }
    }

    /// The loaded TLS side, or nil without --tls-port; a file that cannot be used is said with the fix.
    func context(command: String) throws -> TLSContext? {
        guard tlsPort != nil, let tlsCert, let tlsKey else { return nil }
        let context: TLSContext
        do {
            context = try TLSContext.server(TLSServerSettings(certificatePath: tlsCert, keyPath: tlsKey, caPath: tlsCa,
                                                              requireClientCertificate: tlsRequireClientCert))
        } catch {
            throw CLIError("\(error)")
        }
        warn(context.warnings, command: command)
        return context
    }

    /// `TLS (BCP 195 (PS3.15 B.12), client certificates required, CA ca.crt)`: how the TLS port is set up.
    var summary: String {
        let clients = tlsRequireClientCert ? "client certificates required" : tlsCa != nil ? "client certificates checked" : "no client certificates"
        return "TLS, \(TLSProfile.name) profile, \(clients)" + (tlsCa.map { " (CA \($0))" } ?? "")
    }
}

/// A TLS SCU's options (`query`): whom to trust, our certificate, the name to expect.
struct TLSConnectOptions: ParsableArguments {
    @Flag(help: "Speak DICOM over TLS (PS3.15 B.12 BCP 195 profile); the server's certificate and name are checked.")
    var tls = false
    @Option(help: ArgumentHelp("CA certificates (PEM) the server's certificate must be signed by (default: the system's CAs).",
                               valueName: "file"))
    var tlsCa: String?
    @Option(help: ArgumentHelp("Our client certificate (PEM), for servers that require one.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM, unencrypted).", valueName: "file"))
    var tlsKey: String?
    @Option(help: ArgumentHelp("The name the server's certificate must hold (and the SNI sent); default: HOST.", valueName: "name"))
    var tlsServerName: String?
    @Flag(help: "Do not check the server's certificate (testing only: anyone on the path can read and change the association).")
    var tlsNoVerify = false

    func validate() throws {
        if !tls && (tlsCa != nil || tlsCert != nil || tlsKey != nil || tlsServerName != nil || tlsNoVerify) {
            throw ValidationError("--tls-ca, --tls-cert, --tls-key, --tls-server-name and --tls-no-verify need --tls")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together (our certificate and its key)")
        }
    }

    func context(command: String) throws -> TLSContext? {
        guard tls else { return nil }
        let context: TLSContext
        do {
            context = try TLSContext.client(TLSClientSettings(caPath: tlsCa, certificatePath: tlsCert, keyPath: tlsKey,
                                                              serverName: tlsServerName, verifyServer: !tlsNoVerify))
        } catch {
            throw CLIError("\(error)")
        }
        warn(context.warnings, command: command)
        return context
    }
}

/// `dicomtap serve: warning: ...` on stderr, at start.
func warn(_ warnings: [String], command: String) {
    for warning in warnings {
        FileHandle.standardError.write(Data("dicomtap \(command): warning: \(warning)\n".utf8))
    }
}
