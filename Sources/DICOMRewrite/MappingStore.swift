#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import Foundation
import GRDB

/// What a pseudonym stands for.
public struct PseudonymRecord: Sendable, Hashable {
    public var pseudonym: String
    public var original: String
    public var vr: VR
    /// The attribute it was first issued for.
    public var tag: Tag

    public init(pseudonym: String, original: String, vr: VR, tag: Tag) {
        self.pseudonym = pseudonym
        self.original = original
        self.vr = vr
        self.tag = tag
    }
}

/// The pseudonyms issued, pseudonym → original, in a SQLite file (GRDB) created with mode
/// 0600 (the original identifiers are in it; SQLite gives its `-wal` and `-shm` files the
/// same mode). It survives restarts; several proxies with the same key issue the same
/// pseudonyms, so each one's store maps them back without sharing state. Lookups go through
/// an in-memory cache; a new pseudonym is written once. Thread-safe.
public final class MappingStore: @unchecked Sendable {
    private let queue: DatabaseQueue?
    public let path: String?
    private let lock = NSLock()
    private var cache: [String: PseudonymRecord] = [:]
    /// Pseudonyms looked up and absent, so that an unknown value is not looked up in every message.
    private var misses: Set<String> = []
    private static let maximumMisses = 10_000

    /// A store kept in memory only (tests, `dicomtap pseudonym`).
    public init() {
        queue = nil
        path = nil
    }

    /// Opens (or creates, mode 0600) the SQLite file at `path`.
    public init(path: String) throws(RewriteError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else {
            throw RewriteError(.mappingStore, "cannot create the mapping store \(path): \(String(cString: strerror(errno)))")
        }
        // An existing file keeps originals: it must not be readable by others either.
        let changed = fchmod(fd, 0o600)
        close(fd)
        guard changed == 0 else {
            throw RewriteError(.mappingStore, "cannot set mode 0600 on the mapping store \(path): \(String(cString: strerror(errno)))")
        }
        do {
            var configuration = Configuration()
            configuration.journalMode = .wal
            configuration.label = "dicomtap.pseudonyms"
            // A new pseudonym is written on the proxy's event loop: no fsync per commit (WAL with
            // synchronous=NORMAL stays consistent; a row lost to a power cut is written again the next
            // time the original passes, since pseudonyms are deterministic).
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS pseudonym (
                        pseudonym TEXT PRIMARY KEY NOT NULL,
                        original TEXT NOT NULL,
                        vr TEXT NOT NULL,
                        tag INTEGER NOT NULL,
                        issued TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                    )
                    """)
            }
            self.queue = queue
        } catch {
            throw RewriteError(.mappingStore, "cannot open the mapping store \(path): \(error)")
        }
    }

    /// Records that `record.pseudonym` stands for `record.original` (kept if already known).
    public func issued(_ record: PseudonymRecord) throws(RewriteError) {
        lock.lock()
        let known = cache[record.pseudonym] != nil
        if !known {
            cache[record.pseudonym] = record
            misses.remove(record.pseudonym)
        }
        lock.unlock()
        guard !known, let queue else { return }
        do {
            try queue.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO pseudonym (pseudonym, original, vr, tag) VALUES (?, ?, ?, ?)",
                               arguments: [record.pseudonym, record.original, record.vr.code, Int64(record.tag.rawValue)])
            }
        } catch {
            throw RewriteError(.mappingStore, "cannot write to the mapping store \(path ?? ""): \(error)")
        }
    }

    /// What `pseudonym` stands for, if this store issued it (now or before a restart).
    public func original(of pseudonym: String) throws(RewriteError) -> PseudonymRecord? {
        lock.lock()
        if let record = cache[pseudonym] {
            lock.unlock()
            return record
        }
        let missed = misses.contains(pseudonym)
        lock.unlock()
        guard !missed, let queue else { return nil }
        let found: PseudonymRecord?
        do {
            found = try queue.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT original, vr, tag FROM pseudonym WHERE pseudonym = ?",
                                                 arguments: [pseudonym]) else { return nil }
                let original: String = row["original"]
                let vrCode: String = row["vr"]
                let tag: Int64 = row["tag"]
                return PseudonymRecord(pseudonym: pseudonym, original: original, vr: VR(code: vrCode) ?? .UN,
                                       tag: Tag(rawValue: UInt32(truncatingIfNeeded: tag)))
            }
        } catch {
            throw RewriteError(.mappingStore, "cannot read the mapping store \(path ?? ""): \(error)")
        }
        lock.lock()
        if let found {
            cache[pseudonym] = found
        } else {
            if misses.count >= Self.maximumMisses { misses.removeAll() }
            misses.insert(pseudonym)
        }
        lock.unlock()
        return found
    }

    /// Number of pseudonyms in the file (or in memory).
    public func count() throws(RewriteError) -> Int {
        guard let queue else {
            lock.lock()
            defer { lock.unlock() }
            return cache.count
        }
        do {
            return try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pseudonym") ?? 0 }
        } catch {
            throw RewriteError(.mappingStore, "cannot read the mapping store \(path ?? ""): \(error)")
        }
    }
}
