import DICOMCore
import Foundation
import GRDB

/// The relevant patient information store behind `dicomtap serve` (issue 7): patients and their relevant
/// information in SQLite (GRDB), filled by `importPaths`, answering Relevant Patient Information Query C-FINDs
/// (PS3.4 Annex Q) with `find`. Thread-safe: reads run concurrently on a file store (WAL), writes are serialized.
public final class RPIStore: Sendable {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the store at `path` and brings its schema up to date. A new file is created with
    /// mode 0600 before SQLite opens it (it holds patient data); SQLite gives its -wal and -shm files the same mode.
    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw StoreError(.database, file: path, "cannot create the store file")
            }
        }
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            let pool = try DatabasePool(path: path, configuration: configuration)
            try StoreSchema.migrator.migrate(pool)
            writer = pool
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, file: path, "cannot open the store: \(error)")
        }
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        do {
            try StoreSchema.migrator.migrate(writer)
        } catch {
            throw StoreError(.database, "cannot create the store schema: \(error)")
        }
    }

    /// A store in memory (tests, `demo`): same schema, gone when released.
    public static func inMemory() throws -> RPIStore {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration)
        } catch {
            throw StoreError(.database, "cannot create an in-memory store: \(error)")
        }
        return try RPIStore(writer: queue)
    }

    /// Number of patient records.
    public func patientCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM patient") ?? 0 }
    }

    // MARK: Writing

    /// Inserts `record`, replacing the record previously imported under the same `key` (file + position, or
    /// SOP Instance UID). Returns true when it replaced one.
    @discardableResult
    public func upsert(_ record: PatientRecord, key: String) throws -> Bool {
        try write { db in try Self.upsert(record, key: key, in: db) }
    }

    /// Stores several records in one transaction. `replacingKeyPrefix`: records imported earlier under keys with
    /// this prefix (the same source file) are removed first, so a re-imported file that lost a patient loses it here.
    func upsert(_ records: [(record: PatientRecord, key: String)], replacingKeyPrefix: String? = nil) throws -> Int {
        try write { db in
            var replaced = 0
            if let prefix = replacingKeyPrefix {
                let keys = try String.fetchAll(db, sql: "SELECT record_key FROM patient WHERE instr(record_key, ?) = 1",
                                               arguments: [prefix])
                let incoming = Set(records.map(\.key))
                for key in keys where !incoming.contains(key) {
                    try db.execute(sql: "DELETE FROM patient WHERE record_key = ?", arguments: [key])
                }
            }
            for (record, key) in records where try Self.upsert(record, key: key, in: db) { replaced += 1 }
            return replaced
        }
    }

    static func upsert(_ record: PatientRecord, key: String, in db: Database) throws -> Bool {
        try db.execute(sql: "DELETE FROM patient WHERE record_key = ?", arguments: [key])
        let replaced = db.changesCount > 0
        try db.execute(
            sql: """
                INSERT INTO patient (record_key, patient_id, issuer, issuer_universal_id, issuer_universal_id_type,
                                     name, birth_date, sex, observation_datetime)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [key, record.patientID, record.issuer, record.issuerUniversalID, record.issuerUniversalIDType,
                        record.name, record.birthDate, record.sex, record.observationDateTime])
        let rowID = db.lastInsertedRowID
        for (position, other) in record.otherIDs.enumerated() {
            try db.execute(
                sql: "INSERT INTO other_patient_id (patient, position, other_id, issuer, type) VALUES (?, ?, ?, ?, ?)",
                arguments: [rowID, position, other.id, other.issuer, other.type])
        }
        for (position, item) in record.items.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO information_item (patient, position, category, code_value, code_scheme, code_meaning,
                        concept_value, concept_scheme, concept_meaning, text, start_datetime, end_datetime,
                        numeric_value, units_value, units_scheme, units_meaning)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [rowID, position, item.category.rawValue, item.code?.value, item.code?.scheme,
                            item.code?.meaning, item.concept?.value, item.concept?.scheme, item.concept?.meaning,
                            item.text, item.start, item.end, item.numeric, item.units?.value, item.units?.scheme,
                            item.units?.meaning])
        }
        return replaced
    }

    // MARK: Reading

    /// The SQL of the patient lookup: by Patient ID, and issuer when the request constrains it.
    static func lookupSQL(withIssuer: Bool, withUniversalID: Bool) -> String {
        var sql = "SELECT id FROM patient WHERE patient_id = ?"
        if withIssuer { sql += " AND issuer = ?" }
        if withUniversalID { sql += " AND issuer_universal_id = ?" }
        return sql
    }

    /// Row ids of the records matching `patientID` (and `issuer`, and the issuer's universal entity ID, when given).
    func lookup(patientID: String, issuer: String?, universalID: String?) throws -> [Int64] {
        try read { db in
            var arguments: StatementArguments = [patientID]
            if let issuer { arguments += [issuer] }
            if let universalID { arguments += [universalID] }
            return try Int64.fetchAll(db, sql: Self.lookupSQL(withIssuer: issuer != nil, withUniversalID: universalID != nil),
                                      arguments: arguments)
        }
    }

    /// SQLite's plan for the patient lookup (`EXPLAIN QUERY PLAN`), one line per step: shows it is an index search.
    public func lookupQueryPlan(withIssuer: Bool) throws -> [String] {
        try read { db in
            let sql = "EXPLAIN QUERY PLAN " + Self.lookupSQL(withIssuer: withIssuer, withUniversalID: false)
            let arguments: StatementArguments = withIssuer ? ["X", "Y"] : ["X"]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { $0["detail"] ?? "" }
        }
    }

    /// The record with row id `rowID`.
    func record(rowID: Int64) throws -> PatientRecord? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM patient WHERE id = ?", arguments: [rowID]) else {
                return nil
            }
            let others = try Row.fetchAll(
                db, sql: "SELECT other_id, issuer, type FROM other_patient_id WHERE patient = ? ORDER BY position",
                arguments: [rowID]
            ).map { OtherPatientID(id: $0["other_id"], issuer: $0["issuer"], type: $0["type"]) }
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM information_item WHERE patient = ? ORDER BY position", arguments: [rowID]
            ).compactMap(Self.item(from:))
            return PatientRecord(
                patientID: row["patient_id"], issuer: row["issuer"], issuerUniversalID: row["issuer_universal_id"],
                issuerUniversalIDType: row["issuer_universal_id_type"], name: row["name"],
                birthDate: row["birth_date"], sex: row["sex"], otherIDs: others,
                observationDateTime: row["observation_datetime"], items: items)
        }
    }

    /// All records with `patientID` (any issuer), for tools and tests.
    public func records(patientID: String) throws -> [PatientRecord] {
        try lookup(patientID: patientID, issuer: nil, universalID: nil).compactMap { try record(rowID: $0) }
    }

    static func item(from row: Row) -> InformationItem? {
        guard let category = ItemCategory(rawValue: row["category"]) else { return nil }
        func concept(_ prefix: String) -> CodedConcept? {
            guard let value: String = row["\(prefix)_value"], let scheme: String = row["\(prefix)_scheme"] else { return nil }
            return CodedConcept(value, scheme, row["\(prefix)_meaning"] ?? "")
        }
        return InformationItem(category: category, code: concept("code"), concept: concept("concept"), text: row["text"],
                               start: row["start_datetime"], end: row["end_datetime"], numeric: row["numeric_value"],
                               units: concept("units"))
    }

    // MARK: Database access with typed errors

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "\(error)")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.write(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "\(error)")
        }
    }
}
