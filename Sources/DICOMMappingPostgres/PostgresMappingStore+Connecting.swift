import DICOMCore
import DICOMRewrite
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Connecting: TLS to the database as the URL asks, the probe at start, and what went wrong in words.
extension PostgresMappingStore {
    static func tls(_ settings: PostgresStoreSettings) throws(RewriteError) -> PostgresClient.Configuration.TLS {
        guard let tls = try tlsConfiguration(settings) else { return .disable }
        return settings.tls == .prefer ? .prefer(tls) : .require(tls)
    }

    /// The TLS settings the URL asks for (nil: sslmode=disable).
    static func tlsConfiguration(_ settings: PostgresStoreSettings) throws(RewriteError) -> TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch settings.tls {
        case .disable:
            return nil
        case .prefer, .require:
            // libpq's meaning: encrypted, the server's certificate not checked.
            tls.certificateVerification = .none
        case .verifyCA, .verifyFull:
            tls.certificateVerification = settings.tls == .verifyCA ? .noHostnameVerification : .fullVerification
            if let file = settings.rootCertificate {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw RewriteError(.mappingStore, "--mapping-store sslrootcert=\(file): not a readable PEM certificate file")
                }
            }
        }
        return tls
    }

    /// A database error in words: the server's message, or what happened to the connection.
    static func describe(error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return describe(error: inner) }
            return "the transaction failed"
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + state
            }
            if let underlying = error.underlying { return describe(error: underlying) }
            switch error.code {
            case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown: return "the connection was closed"
            case .poolClosed: return "the store is closed"
            case .authMechanismRequiresPassword: return "the server asks for a password: set PGPASSWORD or give --mapping-store-password-file"
            case .sslUnsupported: return "the server does not offer TLS (sslmode=require in the URL)"
            default: return "the connection failed (\(error.code))"
            }
        }
        if let error = error as? IOError { return systemErrorWords(error.errnoCode) }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return describe(error: first.error) }
            if error.dnsAAAAError != nil || error.dnsAError != nil { return "its host name \(error.host) does not resolve" }
            return "cannot connect to \(error.host):\(error.port)"
        }
        if let error = error as? ChannelError, case .connectTimeout(_) = error { return "connecting timed out" }
        if error is NIOSSLError { return "the TLS handshake failed" }
        return "\(error)"
    }

    /// One connection made outside the pool, so that a refused connection, a wrong password or a missing
    /// database is said as such at start (the pool retries quietly, and a lease would only time out).
    func probe() throws(RewriteError) {
        var tls = PostgresConnection.Configuration.TLS.disable
        if case .some(let configuration) = try Self.tlsConfiguration(settings) {
            do {
                let context = try NIOSSLContext(configuration: configuration)
                tls = settings.tls == .prefer ? .prefer(context) : .require(context)
            } catch {
                throw failure("open", because: "its TLS settings cannot be used (\(Self.describe(error: error)))")
            }
        }
        var configuration = PostgresConnection.Configuration(host: settings.host, port: settings.port, username: settings.username,
                                                             password: settings.password, database: settings.database, tls: tls)
        configuration.options.connectTimeout = .init(min(timeout, .seconds(10)))
        let loop = group.next()
        let fixed = configuration
        _ = try wait("open") { _ in
            let connection = try await PostgresConnection.connect(on: loop, configuration: fixed, id: 0, logger: Self.logger).get()
            try await connection.close()
            return true
        }
    }
}
