import GRDB

/// The SQLite schema, as GRDB migrations (each runs once; `migrate` is idempotent on reopen).
///
/// - `patient`: one row per imported patient record. `record_key` says where it came from (file path and
///   position, or SOP Instance UID) so that re-importing the same source replaces it; two sources with the same
///   Patient ID and issuer make two rows, which is what an ambiguous (0xC100) match is.
/// - `other_patient_id`: Other Patient IDs Sequence items.
/// - `information_item`: the relevant information, one row per item, in import order (`position`).
/// Lookups go through `patient_by_id_issuer` on (patient_id, issuer): a query with an issuer uses both columns,
/// one without uses the prefix.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: patients, other IDs, information items") { db in
            try db.create(table: "patient") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("record_key", .text).notNull().unique()
                t.column("patient_id", .text).notNull()
                t.column("issuer", .text).notNull().defaults(to: "")
                t.column("issuer_universal_id", .text)
                t.column("issuer_universal_id_type", .text)
                t.column("name", .text).notNull().defaults(to: "")
                t.column("birth_date", .text).notNull().defaults(to: "")
                t.column("sex", .text).notNull().defaults(to: "")
                t.column("observation_datetime", .text).notNull()
            }
            try db.create(index: "patient_by_id_issuer", on: "patient", columns: ["patient_id", "issuer"])
            try db.create(table: "other_patient_id") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("patient", .integer).notNull().references("patient", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("other_id", .text).notNull()
                t.column("issuer", .text)
                t.column("type", .text)
            }
            try db.create(index: "other_patient_id_by_patient", on: "other_patient_id", columns: ["patient", "position"])
            try db.create(table: "information_item") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("patient", .integer).notNull().references("patient", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("category", .text).notNull()
                t.column("code_value", .text)
                t.column("code_scheme", .text)
                t.column("code_meaning", .text)
                t.column("concept_value", .text)
                t.column("concept_scheme", .text)
                t.column("concept_meaning", .text)
                t.column("text", .text)
                t.column("start_datetime", .text)
                t.column("end_datetime", .text)
                t.column("numeric_value", .double)
                t.column("units_value", .text)
                t.column("units_scheme", .text)
                t.column("units_meaning", .text)
            }
            try db.create(index: "information_item_by_patient", on: "information_item", columns: ["patient", "position"])
        }
        return migrator
    }
}
