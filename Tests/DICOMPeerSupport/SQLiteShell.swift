import Foundation

// MARK: - SQLite files changed by another program than ours

public struct SQLiteShellError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Runs `sql` on the SQLite file at `path` with the sqlite3 shell: another connection than the store's.
public func sqlite3(_ path: String, _ sql: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Peers.sqlite3 ?? "/usr/bin/sqlite3")
    p.arguments = [path, sql]
    let err = Pipe()
    p.standardError = err
    try p.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw SQLiteShellError(message: "sqlite3 \(sql): \(message)") }
}
