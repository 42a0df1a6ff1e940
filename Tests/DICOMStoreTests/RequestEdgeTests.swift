import DICOMCore
import Foundation
import NIOCore
import Testing
@testable import DICOMStore

@Suite("Request identifier edge cases")
struct RequestEdgeTests {
    func offending(_ store: RPIStore, _ identifier: Dataset) throws -> [DICOMCore.Tag]? {
        if case .invalidIdentifier(let tags, let comment) = try store.find(identifier: identifier, model: .general) {
            #expect(!comment.isEmpty)
            return tags
        }
        return nil
    }

    @Test func multiValuedPatientIDIsInvalid() throws {
        var request = requestIdentifier(patientID: "PAT-0001")
        request.set(DataElement(tag: .kw("PatientID"), vr: .LO, strings: ["PAT-0001", "PAT-0002"])!)
        #expect(try offending(demoStore(), request) == [.kw("PatientID")])
    }

    @Test func undecodablePatientIDIsInvalid() throws {
        var request = requestIdentifier(patientID: "X", characterSet: ["ISO_IR 192"])
        request.set(DataElement(tag: .kw("PatientID"), vr: .LO, value: .bytes(ByteBuffer(bytes: [0x50, 0xC3, 0x28, 0x20]))))
        #expect(try offending(demoStore(), request) == [.kw("PatientID")])
    }

    @Test func unknownCharacterSetIsInvalid() throws {
        let request = requestIdentifier(patientID: "PAT-0001", characterSet: ["ISO_IR 999"])
        #expect(try offending(demoStore(), request) == [.kw("SpecificCharacterSet")])
    }

    @Test func twoTemplateItemsAreInvalid() throws {
        var request = requestIdentifier(patientID: "PAT-0001")
        var item = Dataset()
        item.set(DataElement(tag: .kw("MappingResource"), vr: .CS, string: "DCMR")!)
        item.set(DataElement(tag: .kw("TemplateIdentifier"), vr: .CS, string: "9007")!)
        request.set(.sequence(.kw("ContentTemplateSequence"), items: [item, item]))
        #expect(try offending(demoStore(), request) == [.kw("ContentTemplateSequence")])
    }

    @Test func zeroLengthIssuerMatchesAnyIssuer() throws {
        var request = requestIdentifier(patientID: "PAT-1000")
        request.set(.empty(.kw("IssuerOfPatientID"), vr: .LO))
        guard case .multipleMatches(2) = try demoStore().find(identifier: request, model: .general) else {
            Issue.record("expected 0xC100")
            return
        }
    }

    @Test func issuerQualifiersConstrainTheMatch() throws {
        let store = try RPIStore.inMemory()
        try store.upsert(PatientRecord(patientID: "Q-1", issuer: "CLINIC", issuerUniversalID: "1.2.3.4",
                                       issuerUniversalIDType: "ISO", name: "Q^One", observationDateTime: "20250101"),
                         key: "q1")
        try store.upsert(PatientRecord(patientID: "Q-1", issuer: "CLINIC", issuerUniversalID: "1.2.3.5",
                                       issuerUniversalIDType: "ISO", name: "Q^Two", observationDateTime: "20250101"),
                         key: "q2")
        var request = requestIdentifier(patientID: "Q-1", issuer: "CLINIC")
        guard case .multipleMatches(2) = try store.find(identifier: request, model: .general) else {
            Issue.record("expected 0xC100 without qualifiers")
            return
        }
        var qualifiers = Dataset()
        qualifiers.set(DataElement(tag: .kw("UniversalEntityID"), vr: .UT, string: "1.2.3.5")!)
        qualifiers.set(.empty(.kw("UniversalEntityIDType"), vr: .CS))
        request.set(.sequence(.kw("IssuerOfPatientIDQualifiersSequence"), items: [qualifiers]))
        guard case .match(let ds) = try store.find(identifier: request, model: .general) else {
            Issue.record("expected one match with the universal entity ID")
            return
        }
        #expect(ds.string("PatientName") == "Q^Two")
        let returned = ds.items("IssuerOfPatientIDQualifiersSequence").first
        #expect(returned?.string("UniversalEntityID") == "1.2.3.5")
        #expect(returned?.string("UniversalEntityIDType") == "ISO")
    }

    @Test func concurrentFindsOnAFileStore() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try RPIStore(path: dir.file("rpi.sqlite"))
        _ = try store.importPaths([Repository.demo])
        let ids = ["PAT-0001", "PAT-0002", "PAT-0003", "PAT-0004", "PAT-0005", "SR-0001", "NOBODY", "PAT-1000"]
        let results = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var outcomes: [String] = []
                    for n in 0..<50 {
                        let id = ids[(worker + n) % ids.count]
                        switch try store.find(identifier: requestIdentifier(patientID: id), model: .general) {
                        case .match(let ds): outcomes.append(ds.string("PatientID") == id ? "match" : "wrong")
                        case .noMatch: outcomes.append("none")
                        case .multipleMatches: outcomes.append("multiple")
                        default: outcomes.append("other")
                        }
                    }
                    return outcomes
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        #expect(results.count == 400)
        #expect(results.filter { $0 == "match" }.count == 300)
        #expect(results.filter { $0 == "none" }.count == 50)
        #expect(results.filter { $0 == "multiple" }.count == 50)
    }
}
