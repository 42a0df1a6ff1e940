#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import GRDB

/// What the two SQLite stores share (the relevant patient information store of `serve`, the
/// mapping store of the pseudonymizer): both hold patient data, so their files are the owner's
/// alone, and their errors speak of what a column holds, never of the value in it.
package enum SQLiteFile {
    /// Creates the file at `path` with mode 0600 if there is none, else sets an existing one (and the -wal and -shm
    /// files an earlier run left beside it) to 0600, before SQLite opens it: SQLite gives new -wal and -shm files the
    /// database file's mode, but leaves those it finds as they are. Throws what failed and why; the caller names
    /// the file.
    package static func makePrivate(_ path: String) throws(SQLiteFileError) {
        try makePrivate(path, creating: true)
        for companion in [path + "-wal", path + "-shm"] {
            try makePrivate(companion, creating: false)
        }
    }

    private static func makePrivate(_ path: String, creating: Bool) throws(SQLiteFileError) {
        let name = creating ? "the file" : path
        let fd = open(path, O_RDWR | O_CLOEXEC | (creating ? O_CREAT : 0), 0o600)
        guard fd >= 0 else {
            let failure = errno
            if !creating && failure == ENOENT { return }
            throw SQLiteFileError("cannot \(creating ? "create or open" : "open") \(name): \(systemErrorWords(failure))")
        }
        defer { _ = close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw SQLiteFileError("cannot read the mode of \(name): \(systemErrorWords(errno))")
        }
        guard status.st_mode & 0o777 != 0o600 else { return }
        guard fchmod(fd, 0o600) == 0 else {
            throw SQLiteFileError("cannot set mode 0600 on \(name): \(systemErrorWords(errno))")
        }
    }

    /// What a column holds, its kind and size, for an error message (not the value: it may be patient data).
    package static func describe(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: return "NULL"
        case .int64: return "an integer"
        case .double: return "a real number"
        case .string(let text): return "text of \(text.utf8.count) bytes"
        case .blob(let data): return "a blob of \(data.count) bytes"
        }
    }

    /// An SQLite error in words: SQLite's own message, not the library's type or the SQL it ran.
    package static func describe(error: any Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "SQLite error \(e.resultCode.rawValue)" }
        return "\(error)"
    }
}

/// Why `SQLiteFile.makePrivate` failed, as a sentence; each store wraps it in its own error.
package struct SQLiteFileError: Error, Sendable, CustomStringConvertible {
    package var description: String

    init(_ description: String) { self.description = description }
}
