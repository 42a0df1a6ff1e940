import DICOMCore
import DICOMRewrite
import Foundation

/// Where a PostgreSQL mapping store is: `postgresql://USER@HOST:PORT/DB` (or `postgres://`), with
/// `?sslmode=disable|prefer|require|verify-ca|verify-full` (libpq's meanings; default prefer) and, for
/// verify-*, `sslrootcert=FILE`. The password is never in the URL (it would show in `ps` and in
/// shell histories): it comes from PGPASSWORD or a password file.
package struct PostgresStoreSettings: Sendable, Equatable {
    package enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    package var host: String
    package var port: Int
    package var username: String
    package var database: String
    package var password: String?
    package var tls: TLSMode = .prefer
    /// PEM file of the CA that signed the server's certificate (verify-ca, verify-full).
    package var rootCertificate: String?

    /// The URL without a password, for messages.
    package var location: String {
        "postgresql://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
            + (tls == .prefer ? "" : "?sslmode=\(tls.rawValue)")
    }

    /// Parses `url`; the password comes from `passwordFile` (first line) or else `environment["PGPASSWORD"]`.
    package init(url: String, passwordFile: String? = nil,
                 environment: [String: String] = ProcessInfo.processInfo.environment) throws(RewriteError) {
        // The URL as said in messages: what comes before an `@` (a user, and maybe a password the parser could not
        // read) is not repeated.
        let shown: String = {
            guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex) else { return url }
            return String(url[..<scheme.upperBound]) + "...@" + String(url[at.upperBound...])
        }()
        func fail(_ why: String) -> RewriteError {
            RewriteError(.mappingStore, "--mapping-store \(shown): \(why); give postgresql://USER@HOST:PORT/DATABASE "
                         + "(optionally ?sslmode=require), or a SQLite file")
        }
        guard MappingStore.isDatabaseURL(url), let components = URLComponents(string: url) else {
            throw fail("not a PostgreSQL URL")
        }
        if components.password != nil {
            throw RewriteError(.mappingStore, "--mapping-store: the URL carries a password, which would show in the process list "
                               + "and the shell's history; remove it from the URL and put it in PGPASSWORD or in a file given "
                               + "with --mapping-store-password-file (mode 0600)")
        }
        guard let user = components.user, !user.isEmpty else { throw fail("no user name (USER@ before the host)") }
        guard let host = components.host, !host.isEmpty else { throw fail("no host") }
        let name = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !name.isEmpty, !name.contains("/") else { throw fail("no database name (/DATABASE after the host)") }
        username = user.removingPercentEncoding ?? user
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw fail("port \(port) is out of range") }
        database = name.removingPercentEncoding ?? name
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw fail("sslmode must be disable, prefer, require, verify-ca or verify-full, not '\(item.value ?? "")'")
                }
                tls = mode
            case "sslrootcert":
                rootCertificate = item.value
            default:
                throw fail("unknown parameter '\(item.name)' (sslmode, sslrootcert)")
            }
        }
        if let passwordFile {
            let text: String
            do {
                text = try SettingsFile.load(passwordFile, limit: 64 << 10)
            } catch {
                throw RewriteError(.mappingStore, "--mapping-store-password-file \(passwordFile): \(error)")
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        } else {
            password = environment["PGPASSWORD"]
        }
    }
}
