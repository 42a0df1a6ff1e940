import DICOMCore
import DICOMSQLite
import Foundation
import GRDB

/// The relevant patient information store behind `dicomtap serve` (issue 7): patients and their relevant
/// information in SQLite (GRDB), filled by `importPaths`, answering Relevant Patient Information Query C-FINDs
/// (PS3.4 Annex Q) with `find`. Thread-safe: reads run concurrently on a file store (WAL), writes are serialized.
package final class RPIStore: Sendable {
    let writer: any DatabaseWriter
    /// The file, nil for a store in memory (for error messages).
    package let path: String?

    /// Opens (creating if needed) the store at `path` and brings its schema up to date. The file is made the owner's
    /// alone (mode 0600) before SQLite opens it (it holds patient data); SQLite gives its -wal and -shm files the same mode.
    package init(path: String) throws {
        do {
            try SQLiteFile.makePrivate(path)
        } catch {
            throw StoreError(.database, file: path, "\(error)")
        }
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            let pool = try DatabasePool(path: path, configuration: configuration)
            try StoreSchema.migrator.migrate(pool)
            writer = pool
            self.path = path
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, file: path, "cannot open the store: \(SQLiteFile.describe(error: error))")
        }
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        path = nil
        do {
            try StoreSchema.migrator.migrate(writer)
        } catch {
            throw StoreError(.database, "cannot create the store schema: \(SQLiteFile.describe(error: error))")
        }
    }

    /// A store in memory (tests, `demo`): same schema, gone when released.
    package static func inMemory() throws -> RPIStore {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration)
        } catch {
            throw StoreError(.database, "cannot create an in-memory store: \(SQLiteFile.describe(error: error))")
        }
        return try RPIStore(writer: queue)
    }

    /// Number of patient records.
    package func patientCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM patient") ?? 0 }
    }

    // MARK: Writing

    /// Inserts `record`, replacing the record previously imported under the same `key` (file + position, or
    /// SOP Instance UID). Returns true when it replaced one.
    @discardableResult
    package func upsert(_ record: PatientRecord, key: String) throws -> Bool {
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
    package func lookupQueryPlan(withIssuer: Bool) throws -> [String] {
        try read { db in
            let sql = "EXPLAIN QUERY PLAN " + Self.lookupSQL(withIssuer: withIssuer, withUniversalID: false)
            let arguments: StatementArguments = withIssuer ? ["X", "Y"] : ["X"]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { $0["detail"] ?? "" }
        }
    }

    /// The record with row id `rowID`. A row that is not what this store writes (NULL in a required column, a blob
    /// or a number where text belongs: a database from elsewhere or edited) is a `.database` error naming the file,
    /// the table, the row and the column, not a crash.
    func record(rowID: Int64) throws -> PatientRecord? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM patient WHERE id = ?", arguments: [rowID]) else {
                return nil
            }
            let patient = StoredRow(row, table: "patient", id: rowID, store: self)
            let others = try Row.fetchAll(
                db, sql: "SELECT id, other_id, issuer, type FROM other_patient_id WHERE patient = ? ORDER BY position",
                arguments: [rowID]
            ).map { row in
                let other = StoredRow(row, table: "other_patient_id", id: nil, store: self)
                return OtherPatientID(id: try other.required("other_id"), issuer: try other.optional("issuer"),
                                      type: try other.optional("type"))
            }
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM information_item WHERE patient = ? ORDER BY position", arguments: [rowID]
            ).compactMap { try Self.item(from: StoredRow($0, table: "information_item", id: nil, store: self)) }
            return PatientRecord(
                patientID: try patient.required("patient_id"), issuer: try patient.required("issuer"),
                issuerUniversalID: try patient.optional("issuer_universal_id"),
                issuerUniversalIDType: try patient.optional("issuer_universal_id_type"), name: try patient.required("name"),
                birthDate: try patient.required("birth_date"), sex: try patient.required("sex"), otherIDs: others,
                observationDateTime: try patient.required("observation_datetime"), items: items)
        }
    }

    /// All records with `patientID` (any issuer), for tools and tests.
    package func records(patientID: String) throws -> [PatientRecord] {
        try lookup(patientID: patientID, issuer: nil, universalID: nil).compactMap { try record(rowID: $0) }
    }

    /// The information item of a row; nil for a category this version does not know (a newer store's).
    static func item(from row: StoredRow) throws -> InformationItem? {
        guard let category = ItemCategory(rawValue: try row.required("category")) else { return nil }
        func concept(_ prefix: String) throws -> CodedConcept? {
            guard let value: String = try row.optional("\(prefix)_value"), let scheme: String = try row.optional("\(prefix)_scheme") else {
                return nil
            }
            return CodedConcept(value, scheme, try row.optional("\(prefix)_meaning") ?? "")
        }
        return InformationItem(category: category, code: try concept("code"), concept: try concept("concept"),
                               text: try row.optional("text"), start: try row.optional("start_datetime"),
                               end: try row.optional("end_datetime"), numeric: try row.optional("numeric_value"),
                               units: try concept("units"))
    }

    // MARK: Database access with typed errors

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try typedErrors { try writer.read(body) }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try typedErrors { try writer.write(body) }
    }

    /// `access`, with SQLite's errors as `StoreError`s naming the file (a `StoreError` thrown inside passes as it is).
    private func typedErrors<T>(_ access: () throws -> T) throws -> T {
        do {
            return try access()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, file: path, SQLiteFile.describe(error: error))
        }
    }
}

/// A row read from the store, decoded column by column with typed errors: GRDB's non-throwing subscripts stop the
/// process on NULL or on a value of another type, which a database file from elsewhere can hold.
struct StoredRow {
    let row: Row
    let table: String
    let id: Int64?
    let store: RPIStore

    init(_ row: Row, table: String, id: Int64?, store: RPIStore) {
        self.row = row
        self.table = table
        self.store = store
        self.id = id ?? (try? row.decode(Int64?.self, forColumn: "id")) ?? nil
    }

    /// The value of `column`, nil when it is NULL or the column is absent.
    func optional<Value: DatabaseValueConvertible>(_ column: String, as type: Value.Type = Value.self) throws -> Value? {
        do {
            return try row.decode(Value?.self, forColumn: column)
        } catch {
            let value: DatabaseValue = row.hasColumn(column) ? row[column] : .null
            throw problem(column, "holds \(SQLiteFile.describe(value)), not \(Self.expected(Value.self))")
        }
    }

    /// The value of `column`, which must be present and not NULL.
    func required<Value: DatabaseValueConvertible>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        guard row.hasColumn(column) else { throw problem(column, "is missing") }
        guard let value = try optional(column, as: type) else { throw problem(column, "is NULL") }
        return value
    }

    private func problem(_ column: String, _ what: String) -> StoreError {
        StoreError(.database, file: store.path, location: "table \(table)" + (id.map { " row \($0)" } ?? "") + " column \(column)",
                   "the store is damaged or not a dicomtap store: the column \(what)")
    }

    static func expected(_ type: Any.Type) -> String {
        if type == String.self { return "text" }
        if type == Double.self { return "a number" }
        if type == Int64.self || type == Int.self { return "an integer" }
        return "\(type)"
    }
}
