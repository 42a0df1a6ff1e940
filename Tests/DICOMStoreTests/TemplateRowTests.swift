import DICOMCore
import Foundation
import Testing
@testable import DICOMStore

/// The template rows checked against a PS3.16 table (docs/STORE.md, "Templates: which rows we build"): relationship
/// type, value type and concept name of each built row, and its nesting.
///
/// - TID 9001 rows 1 and 4: PS3.16-2013 `sect_RelevantPatientInformationTemplates.html` (Table TID 9001).
/// - TID 9002 rows 1, 2, 7, 8: PS3.16-2024e `sect_TID_9002.html` (Table TID 9002).
/// - TID 3802 rows 2 and 3: CP-759 (2007, letter ballot) wording of Table TID 3802.
@Suite("Template rows verified against PS3.16 tables")
struct TemplateRowTests {
    func content(_ patientID: String, _ template: String, _ model: RPIQueryModel) throws -> [Dataset] {
        let store = try demoStore()
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: patientID, template: template),
                                                  model: model) else {
            Issue.record("expected one match for \(patientID)")
            return []
        }
        return ds.items("ContentSequence")
    }

    /// Relationship Type, Value Type, code value and scheme of the concept name.
    func row(_ item: Dataset?) -> [String?] {
        let name = item?.code("ConceptNameCodeSequence") ?? []
        return [item?.string("RelationshipType"), item?.string("ValueType")] + name.prefix(2).map { Optional($0) }
    }

    /// TID 9001: CONTAINER (Gynecological History) > CONTAINS NUM (111518, DCM, "Age when first menstrual period
    /// occurred") in UCUM `a`; the container is included by TID 9000 with CONTAINS, continuity SEPARATE.
    @Test func gynecologicalHistoryRowsInTID9000() throws {
        let items = try content("PAT-0004", "9000", .breast)
        let container = items.first { $0.code("ConceptNameCodeSequence")?[0] == "267011001" }
        #expect(row(container) == ["CONTAINS", "CONTAINER", "267011001", "SCT"])
        #expect(container?.string("ContinuityOfContent") == "SEPARATE")
        let ages = container?.items("ContentSequence") ?? []
        #expect(ages.map(row) == [["CONTAINS", "NUM", "111518", "DCM"], ["CONTAINS", "NUM", "111519", "DCM"]])
        let menarche = ages.first?.items("MeasuredValueSequence").first
        #expect(menarche?.string("NumericValue") == "12")
        #expect(menarche?.code("MeasurementUnitsCodeSequence")?.prefix(2).map { $0 } == ["a", "UCUM"])
        // Nothing of TID 9001 is left directly under the root.
        #expect(!items.contains { ["111518", "111519"].contains($0.code("ConceptNameCodeSequence")?[0] ?? "") })
    }

    /// The same grouping in TID 9007, and other observations stay under the root.
    @Test func gynecologicalHistoryGroupingInTID9007() throws {
        let store = try RPIStore.inMemory()
        let age = InformationItem(category: .observation, concept: CodedConcept("111520", "DCM", "Age at Menopause"),
                                  numeric: 51, units: CodedConcept("a", "UCUM", "year"))
        let egfr = InformationItem(category: .observation, concept: CodedConcept("33914-3", "LN", "eGFR"),
                                   numeric: 60, units: CodedConcept("mL/min/{1.73_m2}", "UCUM", "mL/min/{1.73_m2}"))
        try store.upsert(PatientRecord(patientID: "G-1", name: "Test^G", observationDateTime: "20250101",
                                       items: [egfr, age]), key: "g1")
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: "G-1"), model: .general) else {
            Issue.record("expected one match")
            return
        }
        let items = ds.items("ContentSequence")
        #expect(items.map(row) == [["CONTAINS", "CONTAINER", "267011001", "SCT"], ["CONTAINS", "NUM", "33914-3", "LN"]])
        #expect(items.first?.items("ContentSequence").map(row) == [["CONTAINS", "NUM", "111520", "DCM"]])
    }

    /// TID 9002 (with $ContainerConcept = Medication History, $CodeConcept = Medication Type): CONTAINER >
    /// CONTAINS CODE > HAS PROPERTIES DATETIME (111526 "DateTime Started"), (111527 "DateTime Ended").
    @Test func medicationRowsFollowTID9002() throws {
        let items = try content("PAT-0005", "9007", .general)
        let history = items.first { $0.code("ConceptNameCodeSequence")?[0] == "111512" }
        #expect(row(history) == ["CONTAINS", "CONTAINER", "111512", "DCM"])
        let medications = history?.items("ContentSequence") ?? []
        #expect(medications.map(row) == [["CONTAINS", "CODE", "111516", "DCM"], ["CONTAINS", "CODE", "111516", "DCM"]])
        #expect(medications.map { $0.code("ConceptCodeSequence")?[0] } == ["48603004", "387458008"])
        let aspirin = medications.last?.items("ContentSequence") ?? []
        #expect(aspirin.map(row) == [["HAS PROPERTIES", "DATETIME", "111526", "DCM"],
                                     ["HAS PROPERTIES", "DATETIME", "111527", "DCM"]])
        #expect(aspirin.map { $0.string("DateTime") } == ["20210903", "20220115"])
    }

    /// TID 3802 rows 2 and 3 (CP-759): CONTAINS TEXT History, CONTAINS CONTAINER (11450-4, LN, "Problem List").
    @Test func cardiovascularHistoryRows2And3() throws {
        let items = try content("PAT-0005", "3802", .cardiac)
        #expect(row(items.first) == ["CONTAINS", "TEXT", "121060", "DCM"])
        #expect(row(items.dropFirst().first) == ["CONTAINS", "CONTAINER", "11450-4", "LN"])
    }
}
