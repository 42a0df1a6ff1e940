import DICOMCore
import Foundation
import Testing
@testable import DICOMStore

@Suite("Relevant Patient Information Query matching (PS3.4 Annex Q)")
struct RPIFindTests {
    @Test func demoImportCountsPatients() throws {
        let store = try RPIStore.inMemory()
        let summary = try store.importPaths([Repository.demoJSON])
        #expect(summary.files == 1)
        #expect(summary.patients == 9)
        #expect(try store.patientCount() == 9)
    }

    @Test func oneMatchGivesIdentifierForTemplate9007() throws {
        let store = try demoStore()
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: "PAT-0001"), model: .general) else {
            Issue.record("expected a match")
            return
        }
        #expect(ds.string("PatientID") == "PAT-0001")
        #expect(ds.string("PatientName") == "Meyer^Anna")
        #expect(ds[.kw("SpecificCharacterSet")] == nil)
        #expect(ds.string("ValueType") == "CONTAINER")
        #expect(ds.code("ConceptNameCodeSequence") == ["111517", "DCM", "Relevant Patient Information"])
        #expect(ds.string("ObservationDateTime") == "20250310091500")
        let template = ds.items("ContentTemplateSequence")
        #expect(template.count == 1)
        #expect(template.first?.string("MappingResource") == "DCMR")
        #expect(template.first?.string("TemplateIdentifier") == "9007")
        let content = ds.items("ContentSequence")
        #expect(content.map { $0.code("ConceptNameCodeSequence")?[0] } ==
                ["11329-0", "111512", "111514", "33914-3"])
    }

    @Test func noMatchIsSuccessAlone() throws {
        let store = try demoStore()
        guard case .noMatch = try store.find(identifier: requestIdentifier(patientID: "NOBODY"), model: .general) else {
            Issue.record("expected no match")
            return
        }
    }

    @Test func ambiguousIDAcrossIssuersIsMultipleMatches() throws {
        let store = try demoStore()
        guard case .multipleMatches(let n) = try store.find(identifier: requestIdentifier(patientID: "PAT-1000"), model: .general) else {
            Issue.record("expected 0xC100")
            return
        }
        #expect(n == 2)
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: "PAT-1000", issuer: "HOSP-B"),
                                                   model: .general) else {
            Issue.record("expected one match with the issuer")
            return
        }
        #expect(ds.string("PatientName") == "Smith^Joan")
        #expect(ds.string("IssuerOfPatientID") == "HOSP-B")
    }

    @Test func templateNotAllowedForModelIsUnsupported() throws {
        let store = try demoStore()
        guard case .templateUnsupported = try store.find(identifier: requestIdentifier(patientID: "PAT-0004", template: "9007"),
                                                         model: .breast) else {
            Issue.record("expected 0xC200")
            return
        }
        guard case .templateUnsupported = try store.find(identifier: requestIdentifier(patientID: "PAT-0001", template: "9001"),
                                                         model: .general) else {
            Issue.record("expected 0xC200 for a sub-template")
            return
        }
        guard case .templateUnsupported = try store.find(
            identifier: requestIdentifier(patientID: "PAT-0001", mappingResource: "99LOCAL"), model: .general) else {
            Issue.record("expected 0xC200 for a non-DCMR mapping resource")
            return
        }
    }

    @Test func missingPatientIDIsInvalidIdentifier() throws {
        let store = try demoStore()
        for identifier in [requestIdentifier(patientID: nil), requestIdentifier(patientID: "")] {
            guard case .invalidIdentifier(let offending, _) = try store.find(identifier: identifier, model: .general) else {
                Issue.record("expected 0xA900")
                continue
            }
            #expect(offending == [.kw("PatientID")])
        }
    }

    @Test func missingTemplateIsInvalidIdentifier() throws {
        let store = try demoStore()
        for identifier in [requestIdentifier(patientID: "PAT-0001", template: nil, mappingResource: nil),
                           requestIdentifier(patientID: "PAT-0001", template: nil)] {
            guard case .invalidIdentifier(let offending, _) = try store.find(identifier: identifier, model: .general) else {
                Issue.record("expected 0xA900")
                continue
            }
            #expect(offending == [.kw("ContentTemplateSequence")])
        }
    }
}

@Suite("Outcome statuses")
struct OutcomeStatusTests {
    @Test func finalStatusesAndComments() throws {
        let store = try demoStore()
        let cases: [(Dataset, RPIQueryModel, UInt16)] = [
            (requestIdentifier(patientID: "PAT-0001"), .general, 0x0000),
            (requestIdentifier(patientID: "NOBODY"), .general, 0x0000),
            (requestIdentifier(patientID: "PAT-1000"), .general, 0xC100),
            (requestIdentifier(patientID: "PAT-0004", template: "3802"), .breast, 0xC200),
            (requestIdentifier(patientID: nil), .cardiac, 0xA900),
        ]
        for (identifier, model, status) in cases {
            let outcome = try store.find(identifier: identifier, model: model)
            #expect(outcome.finalStatus == status)
            if status == 0x0000 {
                #expect(outcome.errorComment == nil)
            } else {
                #expect((outcome.errorComment?.count ?? 0) > 0 && (outcome.errorComment?.count ?? 99) <= 64)
            }
        }
    }

    @Test func modelsFromSOPClassUIDs() {
        #expect(RPIQueryModel(sopClassUID: "1.2.840.10008.5.1.4.37.1") == .general)
        #expect(RPIQueryModel(sopClassUID: "1.2.840.10008.5.1.4.37.2\0") == .breast)
        #expect(RPIQueryModel(sopClassUID: "1.2.840.10008.5.1.4.37.3 ") == .cardiac)
        #expect(RPIQueryModel(sopClassUID: "1.2.840.10008.5.1.4.1.2.1.1") == nil)
        #expect(RPIQueryModel.allCases.map(\.defaultTemplate) == ["9007", "9000", "3802"])
    }
}
