import DICOMMappingPostgres
import DICOMRewrite
import Foundation

/// `--mapping-store`: a SQLite file, or `postgresql://USER@HOST:PORT/DB` shared by several proxies
/// (password from PGPASSWORD or `--mapping-store-password-file`, never in the URL).
enum MappingStoreOpening {
    static let help = "Where pseudonyms are mapped back to originals: a SQLite file (mode 0600; default "
        + "dicomtap-pseudonyms.sqlite) or postgresql://USER@HOST:PORT/DB[?sslmode=require], shared by several proxies "
        + "(password from PGPASSWORD or --mapping-store-password-file)."
    static let passwordHelp = "The PostgreSQL mapping store's password: the file's first line (instead of PGPASSWORD)."

    /// Checked before anything is opened: the file's folder, or the URL (and the password file).
    static func check(_ location: String, passwordFile: String?) throws(CLIError) {
        if MappingStore.isDatabaseURL(location) {
            do { _ = try PostgresStoreSettings(url: location, passwordFile: nil) } catch { throw CLIError(error.message) }
            if let passwordFile { try PathCheck.readableFile(passwordFile, "--mapping-store-password-file") }
        } else {
            if passwordFile != nil {
                throw CLIError("--mapping-store-password-file is for a postgresql:// mapping store, not the SQLite file \(location)")
            }
            try PathCheck.writableFile(location, "--mapping-store")
        }
    }

    /// Opens the store `location` names (blocking: synchronous commands).
    static func open(_ location: String, passwordFile: String?) throws(RewriteError) -> any PseudonymStore {
        guard MappingStore.isDatabaseURL(location) else { return try MappingStore(path: location) }
        return try PostgresMappingStore(settings: try PostgresStoreSettings(url: location, passwordFile: passwordFile))
    }

    /// Opens the store `location` names without holding a thread of the cooperative pool.
    static func open(_ location: String, passwordFile: String?) async throws(RewriteError) -> any PseudonymStore {
        guard MappingStore.isDatabaseURL(location) else { return try MappingStore(path: location) }
        return try await PostgresMappingStore.open(settings: try PostgresStoreSettings(url: location, passwordFile: passwordFile))
    }

    /// The store the proxy's rules need, when it is a database (the SQLite file is opened by `Rewriter.open`); blocking.
    static func database(for rules: RewriteRules, passwordFile: String?) throws(RewriteError) -> (any PseudonymStore)? {
        guard rules.usesMappingStore, let location = rules.mappingStore, MappingStore.isDatabaseURL(location) else { return nil }
        return try open(location, passwordFile: passwordFile)
    }
}
