import Foundation

/// Where pseudonyms are recorded (pseudonym → original, issuer-scoped): the SQLite file
/// (`MappingStore`) or a PostgreSQL database shared by several proxies (`DICOMMappingPostgres`).
/// `cachedRecord(of:)` never leaves memory; `original(of:)` may read the store on a miss; `commit`
/// writes a batch in one transaction, a pseudonym already recorded for another original (or
/// issuer) being a collision (nothing of the batch is written); the proxy calls
/// `commitInBackground`, off its event loops, and forwards a message only once it succeeded.
package protocol PseudonymStore: AnyObject, Sendable {
    /// What the store is, for messages: the SQLite file's path or the database's URL (no password).
    var location: String { get }
    /// The record of `pseudonym` if it is in memory (no I/O: safe on an event loop).
    func cachedRecord(of pseudonym: String) -> PseudonymRecord?
    /// What `pseudonym` stands for, if it was recorded (reads the store on a cache miss).
    func original(of pseudonym: String) throws(RewriteError) -> PseudonymRecord?
    /// Writes new records at once. A collision is an error; nothing of the batch is written when the colliding
    /// record was there before (with PostgreSQL, a colliding record another instance writes at the same moment
    /// may let the batch's other, correct, records be written).
    func commit(_ records: [PseudonymRecord]) throws(RewriteError)
    /// `commit` off the caller's thread; the result comes back through `completion`.
    func commitInBackground(_ records: [PseudonymRecord], completion: @escaping @Sendable (RewriteError?) -> Void)
    /// Number of pseudonyms recorded.
    func count() throws(RewriteError) -> Int
    /// Up to `limit` records in pseudonym order, those after `pseudonym` (nil: from the first): export.
    func records(after pseudonym: String?, limit: Int) throws(RewriteError) -> [PseudonymRecord]
    /// Releases connections (a store is unusable afterwards); nothing for SQLite.
    func close()
}

extension PseudonymStore {
    /// Records that `record.pseudonym` stands for `record.original` (a collision is an error).
    package func issued(_ record: PseudonymRecord) throws(RewriteError) {
        try commit([record])
    }
}

extension MappingStore {
    /// Whether `location` names a database (postgresql:// or postgres://) rather than a SQLite file.
    package static func isDatabaseURL(_ location: String) -> Bool {
        let lower = location.lowercased()
        return lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://")
    }
}

/// The two-generation cache of recent records a shared store keeps (see `MappingStore`): when the
/// newer generation holds half the limit it becomes the older one and the older one is dropped; a
/// record found in the older one moves to the newer one. Not thread-safe: the owner locks.
package struct RecentRecords: Sendable {
    private var recent: [String: PseudonymRecord] = [:]
    private var older: [String: PseudonymRecord] = [:]
    package let limit: Int

    package init(limit: Int) { self.limit = max(2, limit) }

    package var count: Int { recent.count + older.count }

    package mutating func record(of pseudonym: String) -> PseudonymRecord? {
        if let record = recent[pseudonym] { return record }
        guard let record = older.removeValue(forKey: pseudonym) else { return nil }
        insert(record)
        return record
    }

    package mutating func insert(_ record: PseudonymRecord) {
        if recent.count >= limit / 2 {
            older = recent
            recent = [:]
        }
        recent[record.pseudonym] = record
    }
}
