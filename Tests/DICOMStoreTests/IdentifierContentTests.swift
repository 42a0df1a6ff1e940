import DICOMCore
import Foundation
import NIOCore
import Testing
@testable import DICOMStore

/// The Pending identifier, element by element, for each template and character set.
@Suite("Response identifier content")
struct IdentifierContentTests {
    func match(_ store: RPIStore, _ identifier: Dataset, _ model: RPIQueryModel) throws -> Dataset? {
        if case .match(let ds) = try store.find(identifier: identifier, model: model) { return ds }
        Issue.record("expected one match")
        return nil
    }

    @Test func keysOfTheRequestAreReturnedAndOnlyThose() throws {
        let store = try demoStore()
        let request = requestIdentifier(patientID: "PAT-0001", issuer: "HOSP-A",
                                        extraReturnKeys: ["PatientBirthDate", "PatientSex", "OtherPatientIDsSequence",
                                                          "PatientAge"])
        guard let ds = try match(store, request, .general) else { return }
        let keywords = ds.elements.compactMap(\.keyword)
        #expect(keywords == ["PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
                             "OtherPatientIDsSequence", "PatientAge", "ObservationDateTime", "ValueType",
                             "ConceptNameCodeSequence", "ContentTemplateSequence", "ContentSequence"])
        #expect(ds.string("PatientBirthDate") == "19580214")
        #expect(ds.string("PatientSex") == "F")
        #expect(ds[.kw("PatientAge")]?.valueLength == 0)  // asked, not held: zero-length
        let others = ds.items("OtherPatientIDsSequence")
        #expect(others.count == 1)
        #expect(others.first?.string("PatientID") == "80-123-456-7")
        #expect(others.first?.string("IssuerOfPatientID") == "NATIONAL-HEALTH-ID")
        #expect(others.first?.string("TypeOfPatientID") == "TEXT")
    }

    @Test func template9007ContentItems() throws {
        let store = try demoStore()
        guard let ds = try match(store, requestIdentifier(patientID: "PAT-0001"), .general) else { return }
        let content = ds.items("ContentSequence")
        #expect(content.count == 4)
        // History (TEXT)
        #expect(content[0].string("RelationshipType") == "CONTAINS")
        #expect(content[0].string("ValueType") == "TEXT")
        #expect(content[0].code("ConceptNameCodeSequence") == ["11329-0", "LN", "History"])
        #expect(content[0].string("TextValue")?.hasPrefix("Follow-up CT") == true)
        // Medication History > Medication Type (TEXT only: no code in the data) > DateTime Started
        #expect(content[1].string("ValueType") == "CONTAINER")
        #expect(content[1].string("ContinuityOfContent") == "SEPARATE")
        #expect(content[1].code("ConceptNameCodeSequence") == ["111512", "DCM", "Medication History"])
        let medication = content[1].items("ContentSequence")
        #expect(medication.count == 1)
        #expect(medication.first?.string("ValueType") == "TEXT")
        #expect(medication.first?.code("ConceptNameCodeSequence") == ["111516", "DCM", "Medication Type"])
        #expect(medication.first?.string("TextValue") == "Metformin 500 mg twice daily")
        let started = medication.first?.items("ContentSequence").first
        #expect(started?.string("RelationshipType") == "HAS PROPERTIES")
        #expect(started?.string("ValueType") == "DATETIME")
        #expect(started?.code("ConceptNameCodeSequence") == ["111526", "DCM", "DateTime Started"])
        #expect(started?.string("DateTime") == "2011")
        // Relevant Indicated Problems: two problems and the allergy, each CODE with its value
        #expect(content[2].code("ConceptNameCodeSequence") == ["111514", "DCM", "Relevant Indicated Problems"])
        let problems = content[2].items("ContentSequence")
        #expect(problems.map { $0.code("ConceptCodeSequence")?[0] } == ["44054006", "236423003", "91936005"])
        #expect(problems.allSatisfy { $0.code("ConceptNameCodeSequence") == ["111533", "DCM", "Indicated Problem"] })
        let allergyComment = problems[2].items("ContentSequence").first
        #expect(allergyComment?.code("ConceptNameCodeSequence") == ["121106", "DCM", "Comment"])
        #expect(allergyComment?.string("TextValue") == "rash")
        // eGFR (NUM)
        #expect(content[3].string("ValueType") == "NUM")
        let measured = content[3].items("MeasuredValueSequence").first
        #expect(measured?.string("NumericValue") == "48")
        #expect(measured?.code("MeasurementUnitsCodeSequence") == ["mL/min/{1.73_m2}", "UCUM", "mL/min/{1.73_m2}"])
    }

    @Test func template9000ForBreastImaging() throws {
        let store = try demoStore()
        guard let ds = try match(store, requestIdentifier(patientID: "PAT-0004", template: "9000"), .breast) else { return }
        #expect(ds.code("ConceptNameCodeSequence") == ["111511", "DCM", "Relevant Patient Information for Breast Imaging"])
        #expect(ds.items("ContentTemplateSequence").first?.string("TemplateIdentifier") == "9000")
        let names = ds.items("ContentSequence").map { $0.code("ConceptNameCodeSequence")?[0] ?? "" }
        #expect(names == ["11329-0", "111539", "267011001", "111512", "111513", "111514", "111515"])
        let risks = ds.items("ContentSequence")[6].items("ContentSequence")
        #expect(risks.map { $0.code("ConceptNameCodeSequence")?[0] } == ["80943009", "416471007"])
        #expect(risks.map { $0.code("ConceptCodeSequence")?[0] } == ["111556", "429740004"])
        let procedures = ds.items("ContentSequence")[4].items("ContentSequence")
        #expect(procedures.map { $0.code("ConceptCodeSequence")?[0] } == ["392021009", "36626-0"])
        #expect(procedures[1].items("ContentSequence").first?.code("ConceptNameCodeSequence") ==
                ["122146", "DCM", "Procedure DateTime"])
    }

    @Test func template3802ForCardiac() throws {
        let store = try demoStore()
        guard let ds = try match(store, requestIdentifier(patientID: "PAT-0005", template: "3802"), .cardiac) else { return }
        #expect(ds.code("ConceptNameCodeSequence") == ["121060", "DCM", "History"])
        let sections = ds.items("ContentSequence")
        #expect(sections.map { $0.code("ConceptNameCodeSequence")?[0] ?? "" } ==
                ["121060", "11450-4", "29762-2", "10167-5", "30954-2", "10160-0", "10157-6"])
        let problemList = sections[1].items("ContentSequence")
        #expect(problemList.count == 3)
        #expect(problemList.allSatisfy { $0.code("ConceptNameCodeSequence") == ["55607006", "SCT", "Problem"] })
        #expect(problemList[0].items("ContentSequence").first?.code("ConceptNameCodeSequence") ==
                ["121431", "DCM", "DateTime Concern Noted"])
        let tests = sections[4].items("ContentSequence")
        #expect(tests.map { $0.string("ValueType") } == ["CODE", "NUM"])
        let medications = sections[5].items("ContentSequence")
        let aspirinDates = medications[1].items("ContentSequence").map { $0.code("ConceptNameCodeSequence")?[0] }
        #expect(aspirinDates == ["111526", "111527"])
    }

    @Test func nonASCIINameUsesUTF8() throws {
        let store = try demoStore()
        guard let ds = try match(store, requestIdentifier(patientID: "PAT-0003"), .general) else { return }
        #expect(ds[.kw("SpecificCharacterSet")]?.string() == "ISO_IR 192")
        #expect(ds.string("PatientName") == "Yamada^Tarou=山田^太郎=やまだ^たろう")
    }

    @Test func requestCharacterSetIsUsedWhenItCanHoldTheValues() throws {
        let store = try demoStore()
        let latin1 = requestIdentifier(patientID: "PAT-0002", characterSet: ["ISO_IR 100"])
        guard let ds = try match(store, latin1, .general) else { return }
        #expect(ds[.kw("SpecificCharacterSet")]?.string() == "ISO_IR 100")
        #expect(ds.string("PatientName") == "Müller^Jürgen")
        // Latin-1 bytes on the wire: ü is 0xFC.
        #expect(ds[.kw("PatientName")]?.bytes.map { Array($0.readableBytesView) }?.contains(0xFC) == true)
        // The Japanese name does not fit Latin-1: UTF-8 instead.
        guard let jp = try match(store, requestIdentifier(patientID: "PAT-0003", characterSet: ["ISO_IR 100"]), .general) else { return }
        #expect(jp[.kw("SpecificCharacterSet")]?.string() == "ISO_IR 192")
    }

    @Test func requestPatientIDIsDecodedWithItsCharacterSet() throws {
        let store = try RPIStore.inMemory()
        try store.upsert(PatientRecord(patientID: "ÄBC-1", name: "Test^Ä", observationDateTime: "20250101"), key: "t1")
        guard let ds = try match(store, requestIdentifier(patientID: "ÄBC-1", characterSet: ["ISO_IR 100"]), .general) else { return }
        #expect(ds.string("PatientID") == "ÄBC-1")
    }
}
