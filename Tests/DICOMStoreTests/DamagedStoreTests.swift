import DICOMCore
import Foundation
import Testing
import DICOMPeerSupport
@testable import DICOMStore

/// A store file with the expected tables whose rows are not what the store writes (edited, or from another program):
/// reading them is a typed `.database` error naming the file, table, row and column, never GRDB's fatal error.
@Suite(.requires(.sqlite3), .ownExecutor)
struct DamagedStoreTests {
    /// A store with one patient (row 1), one other ID and one numeric observation, then `tamper` applied by sqlite3.
    func damagedStore(_ dir: TemporaryDirectory, _ tamper: String) throws -> RPIStore {
        let path = dir.file("rpi.sqlite")
        do {
            let store = try RPIStore(path: path)
            try store.upsert(PatientRecord(
                patientID: "DMG-1", issuer: "CLINIC", name: "Doe^Jane", birthDate: "19700101", sex: "F",
                otherIDs: [OtherPatientID(id: "OTHER-1", issuer: "ELSEWHERE")], observationDateTime: "20250101",
                items: [InformationItem(category: .observation, concept: CodedConcept("2089-1", "LN", "LDL"), numeric: 3.2,
                                        units: CodedConcept("mmol/L", "UCUM", "mmol/L"))]), key: "damaged-test")
            #expect(try store.records(patientID: "DMG-1").first?.items.first?.numeric == 3.2)
        }
        try sqlite3(path, tamper)
        return try RPIStore(path: path)
    }

    func expectDamaged(_ tamper: String, location: String, detail: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try TemporaryDirectory("damaged-store")
        defer { dir.remove() }
        let store = try damagedStore(dir, tamper)
        do {
            let records = try store.records(patientID: "DMG-1")
            Issue.record("read \(records) from a damaged store", sourceLocation: sourceLocation)
        } catch let error as StoreError {
            #expect(error.code == .database, sourceLocation: sourceLocation)
            #expect(error.file == dir.file("rpi.sqlite"), sourceLocation: sourceLocation)
            #expect(error.location == location, "\(error)", sourceLocation: sourceLocation)
            #expect(error.detail.contains(detail), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func blobWhereTextBelongs() throws {
        try expectDamaged("UPDATE patient SET name = X'FF00'", location: "table patient row 1 column name",
                          detail: "holds a blob of 2 bytes, not text")
    }

    @Test func blobInAnOptionalColumn() throws {
        try expectDamaged("UPDATE patient SET issuer_universal_id = X'FF'", location: "table patient row 1 column issuer_universal_id",
                          detail: "holds a blob of 1 bytes, not text")
    }

    @Test func nullInARequiredColumn() throws {
        // CREATE TABLE ... AS SELECT keeps the columns without their NOT NULL constraints.
        try expectDamaged("""
            ALTER TABLE information_item RENAME TO old_item;
            CREATE TABLE information_item AS SELECT * FROM old_item;
            DROP TABLE old_item;
            UPDATE information_item SET category = NULL;
            """, location: "table information_item row 1 column category", detail: "is NULL")
    }

    @Test func textWhereANumberBelongs() throws {
        try expectDamaged("UPDATE information_item SET numeric_value = 'three'",
                          location: "table information_item row 1 column numeric_value", detail: "holds text of 5 bytes, not a number")
    }

    @Test func otherIDThatIsNotText() throws {
        try expectDamaged("UPDATE other_patient_id SET other_id = X'00FF00'", location: "table other_patient_id row 1 column other_id",
                          detail: "holds a blob of 3 bytes")
    }

    @Test func missingRequiredColumn() throws {
        try expectDamaged("""
            ALTER TABLE information_item RENAME TO old_item;
            CREATE TABLE information_item AS SELECT id, patient, position, code_value, code_scheme, code_meaning, concept_value,
                concept_scheme, concept_meaning, text, start_datetime, end_datetime, numeric_value, units_value, units_scheme,
                units_meaning FROM old_item;
            DROP TABLE old_item;
            """, location: "table information_item row 1 column category", detail: "is missing")
    }

    /// The same store untouched reads back (the typed decoding changes nothing for a sound file).
    @Test func soundStoreReadsBack() throws {
        let dir = try TemporaryDirectory("sound-store")
        defer { dir.remove() }
        let store = try damagedStore(dir, "SELECT 1")
        let record = try #require(try store.records(patientID: "DMG-1").first)
        #expect(record.name == "Doe^Jane")
        #expect(record.issuerUniversalID == nil)
        #expect(record.otherIDs == [OtherPatientID(id: "OTHER-1", issuer: "ELSEWHERE")])
        #expect(record.items.first?.units == CodedConcept("mmol/L", "UCUM", "mmol/L"))
    }
}
