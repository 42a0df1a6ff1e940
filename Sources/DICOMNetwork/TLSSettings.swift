import DICOMCore
import Foundation
import NIOSSL

/// The TLS profile we speak: PS3.15 B.12 "BCP 195 RFC 8996, 9325 TLS Secure Transport Connection Profile" (2024
/// editions): TLS 1.2 at least, TLS 1.3 preferred (negotiated whenever the peer offers it), for TLS 1.2 the
/// cipher suites RFC 9325 §4.2 recommends that BoringSSL implements (ECDHE with AES-GCM; it has no DHE suites).
/// TLS 1.3's suites are the library's three AEAD suites, which RFC 9325 allows. DCMTK 3.6.7's default `+tls`
/// profile (Non-Downgrading BCP 195, `+py`) accepts the same TLS 1.2 suites and negotiates TLS 1.3.
public enum TLSProfile {
    public static let name = "BCP 195 (PS3.15 B.12)"
    static let minimumVersion = TLSVersion.tlsv12
    static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ]

    /// IANA names of the suites a handshake may end with (TLS 1.3's and the profile's TLS 1.2 ones).
    static func cipherSuiteName(_ value: UInt16) -> String {
        switch value {
        case 0x1301: "TLS_AES_128_GCM_SHA256"
        case 0x1302: "TLS_AES_256_GCM_SHA384"
        case 0x1303: "TLS_CHACHA20_POLY1305_SHA256"
        case 0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        case 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        case 0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        case 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        default: "cipher suite 0x\(hex(value, width: 4))"
        }
    }

    static func versionName(_ version: TLSVersion?) -> String {
        switch version {
        case .tlsv13?: "TLS 1.3"
        case .tlsv12?: "TLS 1.2"
        case .tlsv11?: "TLS 1.1"
        case .tlsv1?: "TLS 1.0"
        case nil: "TLS"
        }
    }

    static func apply(to configuration: inout TLSConfiguration) {
        configuration.minimumTLSVersion = minimumVersion
        configuration.maximumTLSVersion = nil
        configuration.cipherSuiteValues = cipherSuites
        configuration.renegotiationSupport = .none
    }
}

/// The command-line options a TLS setting came from, so that messages name what the user typed
/// (`--tls-ca` for serve and query, `--upstream-tls-ca` for the proxy's upstream side).
public struct TLSOptionNames: Sendable, Hashable {
    public var certificate: String
    public var key: String
    public var ca: String
    public var serverName: String

    public init(certificate: String, key: String, ca: String, serverName: String) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
        self.serverName = serverName
    }

    public static let standard = TLSOptionNames(certificate: "--tls-cert", key: "--tls-key", ca: "--tls-ca",
                                                serverName: "--tls-server-name")
}

/// Our TLS listening side (serve, the proxy's --tls-listen): our certificate and key, and the CA that signs the
/// client certificates we accept.
public struct TLSServerSettings: Sendable {
    public var certificatePath: String
    public var keyPath: String
    /// CA certificates (PEM) client certificates must chain to; nil accepts clients without checking certificates.
    public var caPath: String?
    /// Refuse clients that present no certificate (needs `caPath`).
    public var requireClientCertificate: Bool
    public var options: TLSOptionNames

    public init(certificatePath: String, keyPath: String, caPath: String? = nil, requireClientCertificate: Bool = false,
                options: TLSOptionNames = .standard) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
        self.requireClientCertificate = requireClientCertificate
        self.options = options
    }
}

/// Our TLS connecting side (query, the proxy's upstream): whom we trust, our own certificate if the server asks
/// for one, the name we expect in the server's certificate.
public struct TLSClientSettings: Sendable {
    /// CA certificates (PEM) the server's certificate must chain to; nil trusts the system's CAs.
    public var caPath: String?
    public var certificatePath: String?
    public var keyPath: String?
    /// The name checked against the server's certificate and sent as SNI; nil: the host we connect to (an IP
    /// address is checked against the certificate's IP addresses).
    public var serverName: String?
    /// Check the server's certificate (chain and name). Off only for tests: anyone on the path can then read
    /// and change the association.
    public var verifyServer: Bool
    public var options: TLSOptionNames

    public init(caPath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil, serverName: String? = nil,
                verifyServer: Bool = true, options: TLSOptionNames = .standard) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.serverName = serverName
        self.verifyServer = verifyServer
        self.options = options
    }
}

/// A loaded TLS side, ready to make a handler per connection (loading files and building the library's context
/// is slow and blocking: once, before listening or connecting).
public final class TLSContext: Sendable {
    public enum Side: Sendable { case server, client }

    let side: Side
    let context: NIOSSLContext
    let options: TLSOptionNames
    /// Subjects of the CA certificates we trust (to say which CA a refused certificate is not signed by).
    let trustedCASubjects: [String]
    let caPath: String?
    let serverName: String?
    let verifiesPeer: Bool
    let ownCertificate: NIOSSLCertificate?
    /// Things a person should know at start (our certificate expires soon, verification is off).
    public let warnings: [String]

    private init(side: Side, context: NIOSSLContext, options: TLSOptionNames, trustedCASubjects: [String], caPath: String?,
                 serverName: String?, verifiesPeer: Bool, ownCertificate: NIOSSLCertificate?, warnings: [String]) {
        self.side = side
        self.context = context
        self.options = options
        self.trustedCASubjects = trustedCASubjects
        self.caPath = caPath
        self.serverName = serverName
        self.verifiesPeer = verifiesPeer
        self.ownCertificate = ownCertificate
        self.warnings = warnings
    }

    /// Loads the files and builds the listening side; throws `TLSFileError` naming the file and the fix.
    public static func server(_ settings: TLSServerSettings, keyLog: NIOSSLKeyLogCallback? = nil) throws(TLSFileError) -> TLSContext {
        let options = settings.options
        if settings.requireClientCertificate && settings.caPath == nil {
            throw TLSFileError(option: options.ca, path: "(missing)", problem: "requiring client certificates needs the CA that signs them",
                               advice: "give \(options.ca) FILE with that CA's certificate")
        }
        let chain = try TLSFiles.certificates(settings.certificatePath, option: options.certificate)
        let key = try TLSFiles.privateKey(settings.keyPath, option: options.key)
        let cas = try settings.caPath.map { path throws(TLSFileError) in try TLSFiles.certificates(path, option: options.ca) } ?? []
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                    privateKey: .privateKey(key))
        TLSProfile.apply(to: &configuration)
        if !cas.isEmpty {
            configuration.trustRoots = .certificates(cas)
            configuration.certificateVerification = settings.requireClientCertificate ? .noHostnameVerification : .optionalVerification
            configuration.sendCANameList = true
        }
        configuration.keyLogCallback = keyLog
        let context = try makeContext(configuration, settings.certificatePath, settings.keyPath, options)
        return TLSContext(side: .server, context: context, options: options, trustedCASubjects: cas.map(\.subjectDescription),
                          caPath: settings.caPath, serverName: nil, verifiesPeer: !cas.isEmpty, ownCertificate: chain.first,
                          warnings: expiryWarnings(chain.first, settings.certificatePath, options.certificate))
    }

    /// Loads the files and builds the connecting side.
    public static func client(_ settings: TLSClientSettings, keyLog: NIOSSLKeyLogCallback? = nil) throws(TLSFileError) -> TLSContext {
        let options = settings.options
        var configuration = TLSConfiguration.makeClientConfiguration()
        TLSProfile.apply(to: &configuration)
        var chain: [NIOSSLCertificate] = []
        switch (settings.certificatePath, settings.keyPath) {
        case (let certificate?, let key?):
            chain = try TLSFiles.certificates(certificate, option: options.certificate)
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(try TLSFiles.privateKey(key, option: options.key))
        case (let certificate?, nil):
            throw TLSFileError(option: options.certificate, path: certificate, problem: "a client certificate needs its key",
                               advice: "give \(options.key) FILE too")
        case (nil, let key?):
            throw TLSFileError(option: options.key, path: key, problem: "a client key needs its certificate",
                               advice: "give \(options.certificate) FILE too")
        case (nil, nil):
            break
        }
        let cas = try settings.caPath.map { path throws(TLSFileError) in try TLSFiles.certificates(path, option: options.ca) } ?? []
        if !cas.isEmpty { configuration.trustRoots = .certificates(cas) }
        var warnings = expiryWarnings(chain.first, settings.certificatePath ?? "", options.certificate)
        if !settings.verifyServer {
            configuration.certificateVerification = .none
            warnings.append("the server's certificate is not checked (verification relaxed for testing): anyone on the path "
                            + "can read and change this association; never use it with patient data")
        }
        configuration.keyLogCallback = keyLog
        let context = try makeContext(configuration, settings.certificatePath ?? "", settings.keyPath ?? "", options)
        return TLSContext(side: .client, context: context, options: options, trustedCASubjects: cas.map(\.subjectDescription),
                          caPath: settings.caPath, serverName: settings.serverName, verifiesPeer: settings.verifyServer,
                          ownCertificate: chain.first, warnings: warnings)
    }

    private static func makeContext(_ configuration: TLSConfiguration, _ certificatePath: String, _ keyPath: String,
                                    _ options: TLSOptionNames) throws(TLSFileError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            // The files were read above; what is left is the pair not matching (BoringSSL's KEY_VALUES_MISMATCH).
            throw TLSFileError(option: options.key, path: keyPath,
                               problem: "does not belong to the certificate in \(options.certificate) \(certificatePath)",
                               advice: "give the key made with that certificate (compare `openssl x509 -noout -pubkey -in CERT` "
                                   + "with `openssl pkey -pubout -in KEY`)")
        }
    }

    private static func expiryWarnings(_ certificate: NIOSSLCertificate?, _ path: String, _ option: String) -> [String] {
        guard let certificate else { return [] }
        let now = Int(time(nil))
        let expires = Int(certificate.notValidAfter)
        if expires < now {
            return ["\(option) \(path) expired on \(certificateDate(expires)); peers will refuse it: renew it"]
        }
        if Int(certificate.notValidBefore) > now {
            return ["\(option) \(path) is not valid before \(certificateDate(Int(certificate.notValidBefore))); peers will refuse it until then"]
        }
        if expires - now < 14 * 86_400 {
            return ["\(option) \(path) expires on \(certificateDate(expires)): renew it soon"]
        }
        return []
    }
}
