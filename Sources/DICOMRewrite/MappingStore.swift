import DICOMCore
import DICOMSQLite
import Foundation
import GRDB

/// What a pseudonym stands for.
package struct PseudonymRecord: Sendable, Hashable {
    package var pseudonym: String
    package var original: String
    package var vr: VR
    /// The attribute it was first issued for.
    package var tag: Tag
    /// The Issuer of Patient ID whose namespace it was made in (nil: none).
    package var issuer: String?

    package init(pseudonym: String, original: String, vr: VR, tag: Tag, issuer: String? = nil) {
        self.pseudonym = pseudonym
        self.original = original
        self.vr = vr
        self.tag = tag
        self.issuer = issuer
    }

    /// How the pseudonym was derived (`Pseudonymizer`): recorded with each entry.
    package var derivation: String { issuer == nil ? Pseudonymizer.version : Pseudonymizer.issuerVersion }

    /// Whether `other` stands for the same original (a pseudonym issued again), not a collision.
    package func isSameOriginal(as other: PseudonymRecord) -> Bool {
        original == other.original && issuer == other.issuer
    }
}

extension RewriteError.Code {
    /// Two originals would share one pseudonym.
    package static let collision = RewriteError.Code(rawValue: "pseudonym-collision")
    /// A message would add more new pseudonyms than allowed.
    package static let tooManyPseudonyms = RewriteError.Code(rawValue: "too-many-pseudonyms")
}

/// The pseudonyms issued, pseudonym → original, in a SQLite file (GRDB) created with mode
/// 0600 (the original identifiers are in it; SQLite gives its `-wal` and `-shm` files the
/// same mode). It survives restarts; several proxies with the same key issue the same
/// pseudonyms, so each one's store maps them back without sharing state. Lookups go through
/// an in-memory cache bounded to `cacheLimit` records (two generations: when the newer one
/// holds half the limit it becomes the older one and the older one is dropped; a record found
/// in the older one moves to the newer one), so a long-running proxy's memory does not grow
/// with every distinct value it sees. A record enters the cache only once its row is written
/// (or read back), so a failed write is tried again the next time the value passes.
/// A store kept in memory only has no file behind it: there the records are the store and are
/// all kept. Thread-safe.
package final class MappingStore: PseudonymStore, @unchecked Sendable {
    private let queue: DatabasePool?
    package let path: String?
    private let lock = NSLock()
    /// The records of a store kept in memory only (no file).
    private var memory: [String: PseudonymRecord] = [:]
    /// Cache of a file store: the newer and the older generation.
    private var recent: [String: PseudonymRecord] = [:]
    private var older: [String: PseudonymRecord] = [:]
    /// Most records the cache of a file store holds (both generations).
    package let cacheLimit: Int
    package static let defaultCacheLimit = 100_000
    /// Pseudonyms looked up and absent, so that an unknown value is not looked up in every message.
    private var misses: Set<String> = []
    private static let maximumMisses = 10_000

    /// A store kept in memory only (tests, `dicomtap pseudonym`).
    package init() {
        queue = nil
        path = nil
        cacheLimit = Self.defaultCacheLimit
    }

    /// Opens (or creates, mode 0600) the SQLite file at `path`. `cacheLimit` bounds the records kept in memory.
    package init(path: String, cacheLimit: Int = MappingStore.defaultCacheLimit) throws(RewriteError) {
        self.path = path
        self.cacheLimit = max(2, cacheLimit)
        // An existing file keeps originals: it must not be readable by others either.
        do {
            try SQLiteFile.makePrivate(path)
        } catch {
            throw RewriteError(.mappingStore, "the mapping store \(path): \(error)")
        }
        do {
            var configuration = Configuration()
            // A pool (WAL): a lookup on the event loop does not wait behind a background commit.
            configuration.label = "dicomtap.pseudonyms"
            // Another writer (a second proxy on the same file) may hold the lock for a moment: wait for it.
            configuration.busyMode = .timeout(30)
            // No fsync per commit (WAL with synchronous=NORMAL stays consistent; a row lost to a power
            // cut is written again the next time the original passes, since pseudonyms are deterministic).
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            let queue = try DatabasePool(path: path, configuration: configuration)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS pseudonym (
                        pseudonym TEXT PRIMARY KEY NOT NULL,
                        original TEXT NOT NULL,
                        vr TEXT NOT NULL,
                        tag INTEGER NOT NULL,
                        issued TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                        issuer TEXT,
                        derivation TEXT NOT NULL DEFAULT 'dicomtap-pseudonym-v1'
                    )
                    """)
                // A store from before issuers: its entries were all made by the first derivation.
                let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(pseudonym)").compactMap { $0["name"] as String? }
                if !columns.contains("issuer") { try db.execute(sql: "ALTER TABLE pseudonym ADD COLUMN issuer TEXT") }
                if !columns.contains("derivation") {
                    try db.execute(sql: "ALTER TABLE pseudonym ADD COLUMN derivation TEXT NOT NULL DEFAULT 'dicomtap-pseudonym-v1'")
                }
            }
            self.queue = queue
        } catch {
            throw RewriteError(.mappingStore, "cannot open the mapping store \(path): \(SQLiteFile.describe(error: error))")
        }
    }

    /// Records in the cache (or, for a store kept in memory only, in the store): for tests.
    var cachedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue == nil ? memory.count : recent.count + older.count
    }

    /// The cached record of `pseudonym` (moved to the newer generation). Call with `lock` held.
    private func cached(_ pseudonym: String) -> PseudonymRecord? {
        if queue == nil { return memory[pseudonym] }
        if let record = recent[pseudonym] { return record }
        guard let record = older.removeValue(forKey: pseudonym) else { return nil }
        cache(record)
        return record
    }

    /// Puts `record` in the cache. Call with `lock` held.
    private func cache(_ record: PseudonymRecord) {
        misses.remove(record.pseudonym)
        if queue == nil {
            memory[record.pseudonym] = record
            return
        }
        if recent.count >= cacheLimit / 2 {
            older = recent
            recent = [:]
        }
        recent[record.pseudonym] = record
    }

    /// The record of `pseudonym` if it is in memory (no file access: safe on an event loop).
    package func cachedRecord(of pseudonym: String) -> PseudonymRecord? {
        lock.lock()
        defer { lock.unlock() }
        return cached(pseudonym)
    }

    /// The error for a pseudonym that would stand for two originals.
    package static func collision(_ record: PseudonymRecord) -> RewriteError {
        RewriteError(.collision, "pseudonym '\(record.pseudonym)' (\(record.vr)) is already in the mapping store for another "
                     + "original: two patients would be mixed up, so the message is refused"
                     + (record.vr == .UI ? "" : " (longer pseudonyms, length: in the rules, make this less likely)"))
    }

    /// The file's path (or "memory" for a store kept in memory only).
    package var location: String { path ?? "memory" }

    package func close() {}

    /// Writes new records in one transaction. A pseudonym already in the store for another
    /// original (or issuer) is a collision: nothing of the batch is written and the error says
    /// so. The records are cached once written. Blocks on SQLite: call it off the event loop
    /// (`commitInBackground`).
    package func commit(_ records: [PseudonymRecord]) throws(RewriteError) {
        guard !records.isEmpty else { return }
        guard let queue else {
            lock.lock()
            defer { lock.unlock() }
            for record in records {
                if let known = memory[record.pseudonym], !known.isSameOriginal(as: record) { throw Self.collision(record) }
            }
            for record in records { cache(record) }
            return
        }
        do {
            try queue.write { db in
                for record in records {
                    try db.execute(sql: """
                        INSERT INTO pseudonym (pseudonym, original, vr, tag, issuer, derivation) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(pseudonym) DO NOTHING
                        """, arguments: [record.pseudonym, record.original, record.vr.code, Int64(record.tag.rawValue),
                                       record.issuer, record.derivation])
                    guard db.changesCount == 0 else { continue }
                    let row = try Row.fetchOne(db, sql: "SELECT original, issuer FROM pseudonym WHERE pseudonym = ?",
                                               arguments: [record.pseudonym])
                    let original: String? = row?["original"]
                    let issuer: String? = row?["issuer"]
                    if original != record.original || issuer != record.issuer { throw Self.collision(record) }
                }
            }
        } catch let error as RewriteError {
            throw error
        } catch {
            throw RewriteError(.mappingStore, "cannot write to the mapping store \(path ?? ""): \(SQLiteFile.describe(error: error))")
        }
        lock.lock()
        for record in records { cache(record) }
        lock.unlock()
    }

    /// Called (on the committing thread) as a background commit begins, with its number of records: for tests.
    package var commitWillBegin: (@Sendable (Int) -> Void)? {
        get { lock.withLock { willBegin } }
        set { lock.withLock { willBegin = newValue } }
    }
    private var willBegin: (@Sendable (Int) -> Void)?

    /// `commit` on a thread of GRDB's writer, not the caller's: the result comes back through `completion`.
    package func commitInBackground(_ records: [PseudonymRecord], completion: @escaping @Sendable (RewriteError?) -> Void) {
        let willBegin = commitWillBegin
        DispatchQueue.global(qos: .userInitiated).async {
            willBegin?(records.count)
            do throws(RewriteError) {
                try self.commit(records)
                completion(nil)
            } catch {
                completion(error)
            }
        }
    }

    /// What `pseudonym` stands for, if this store issued it (now or before a restart). A row
    /// that is not what this store writes (NULL, a blob, a tag that is not an integer: a file
    /// from elsewhere or edited) is an error naming the file, not a crash.
    package func original(of pseudonym: String) throws(RewriteError) -> PseudonymRecord? {
        lock.lock()
        if let record = cached(pseudonym) {
            lock.unlock()
            return record
        }
        let missed = misses.contains(pseudonym)
        lock.unlock()
        guard !missed, let queue else { return nil }
        let path = self.path ?? ""
        let found: PseudonymRecord?
        do {
            found = try queue.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT original, vr, tag, issuer FROM pseudonym WHERE pseudonym = ?",
                                                 arguments: [pseudonym]) else { return nil }
                func column<Value: DatabaseValueConvertible>(_ name: String, _ type: Value.Type) throws -> Value {
                    let value: Value?
                    do {
                        value = try row.decode(Value?.self, forColumn: name)
                    } catch {
                        throw RewriteError(.mappingStore, "the mapping store \(path) is damaged: column \(name) of the row of "
                                           + "pseudonym '\(pseudonym)' holds \(SQLiteFile.describe(row[name])), not \(Value.self == String.self ? "text" : "an integer")")
                    }
                    guard let value else {
                        throw RewriteError(.mappingStore, "the mapping store \(path) is damaged: column \(name) of the row of "
                                           + "pseudonym '\(pseudonym)' is NULL")
                    }
                    return value
                }
                let original = try column("original", String.self)
                let vrCode = try column("vr", String.self)
                let tag = try column("tag", Int64.self)
                guard let vr = VR(code: vrCode) else {
                    throw RewriteError(.mappingStore, "the mapping store \(path) is damaged: the row of pseudonym '\(pseudonym)' "
                                       + "has VR '\(vrCode)'")
                }
                guard let rawTag = UInt32(exactly: tag) else {
                    throw RewriteError(.mappingStore, "the mapping store \(path) is damaged: the row of pseudonym '\(pseudonym)' "
                                       + "has tag \(tag), not a tag number")
                }
                let issuer: String? = row["issuer"]
                return PseudonymRecord(pseudonym: pseudonym, original: original, vr: vr, tag: Tag(rawValue: rawTag), issuer: issuer)
            }
        } catch let error as RewriteError {
            throw error
        } catch {
            throw RewriteError(.mappingStore, "cannot read the mapping store \(path): \(SQLiteFile.describe(error: error))")
        }
        lock.lock()
        if let found {
            cache(found)
        } else {
            if misses.count >= Self.maximumMisses { misses.removeAll() }
            misses.insert(pseudonym)
        }
        lock.unlock()
        return found
    }

    /// Number of pseudonyms in the file (or in memory).
    package func count() throws(RewriteError) -> Int {
        guard let queue else {
            lock.lock()
            defer { lock.unlock() }
            return memory.count
        }
        do {
            return try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pseudonym") ?? 0 }
        } catch {
            throw RewriteError(.mappingStore, "cannot read the mapping store \(path ?? ""): \(SQLiteFile.describe(error: error))")
        }
    }

    /// Up to `limit` records in pseudonym order after `pseudonym` (export).
    package func records(after pseudonym: String?, limit: Int) throws(RewriteError) -> [PseudonymRecord] {
        guard let queue else {
            lock.lock()
            defer { lock.unlock() }
            let start = pseudonym ?? ""
            return Array(memory.values.filter { $0.pseudonym > start }.sorted { $0.pseudonym < $1.pseudonym }.prefix(limit))
        }
        let path = self.path ?? ""
        do {
            return try queue.read { db in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT pseudonym, original, vr, tag, issuer FROM pseudonym WHERE pseudonym > ? ORDER BY pseudonym LIMIT ?
                    """, arguments: [pseudonym ?? "", limit])
                return try rows.map { row throws(RewriteError) -> PseudonymRecord in
                    let name: String? = row["pseudonym"]
                    let original: String? = row["original"]
                    let vrCode: String? = row["vr"]
                    let tag: Int64? = row["tag"]
                    guard let name, let original, let vrCode, let vr = VR(code: vrCode), let tag, let rawTag = UInt32(exactly: tag) else {
                        throw RewriteError(.mappingStore, "the mapping store \(path) is damaged: a row after pseudonym "
                                           + "'\(pseudonym ?? "")' is not one this program writes")
                    }
                    return PseudonymRecord(pseudonym: name, original: original, vr: vr, tag: Tag(rawValue: rawTag), issuer: row["issuer"])
                }
            }
        } catch let error as RewriteError {
            throw error
        } catch {
            throw RewriteError(.mappingStore, "cannot read the mapping store \(path): \(SQLiteFile.describe(error: error))")
        }
    }
}
