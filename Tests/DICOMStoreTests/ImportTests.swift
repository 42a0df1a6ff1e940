import DICOMCore
import Foundation
import Testing
@testable import DICOMStore

@Suite("Import: JSON format and Part 10 SR")
struct ImportTests {
    @Test func part10SRImportsIntoTheSameModel() throws {
        let store = try RPIStore.inMemory()
        let summary = try store.importPaths([Repository.demoSR])
        #expect(summary.patients == 1)
        let records = try store.records(patientID: "SR-0001")
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record.name == "Åström^Eva")  // ISO_IR 100 in the file
        #expect(record.issuer == "HOSP-A")
        #expect(record.birthDate == "19620927")
        #expect(record.sex == "F")
        #expect(record.otherIDs == [OtherPatientID(id: "19620927-1234", issuer: "SE-PERSONNUMMER", type: "TEXT")])
        #expect(record.observationDateTime == "20250318081500")
        #expect(record.items.map(\.category) == [.history, .pregnancyStatus, .medication, .procedure, .problem, .problem,
                                                 .observation])
        #expect(record.items[2].code == CodedConcept("387458008", "SCT", "Aspirin"))
        #expect(record.items[2].start == "20150601")
        #expect(record.items[3].text == "normal LV function")
        #expect(record.items[3].start == "20231004")
        #expect(record.items[6].numeric == 72)
        #expect(record.items[6].units?.value == "mL/min/{1.73_m2}")
        // And it answers a query with the same structure it was read from.
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: "SR-0001"), model: .general) else {
            Issue.record("expected a match")
            return
        }
        #expect(ds.items("ContentSequence").map { $0.code("ConceptNameCodeSequence")?[0] ?? "" } ==
                ["11329-0", "111532", "111512", "111513", "111514", "33914-3"])
    }

    @Test func demoFolderImportsJSONAndPart10() throws {
        let store = try RPIStore.inMemory()
        let summary = try store.importPaths([Repository.demo])
        #expect(summary.files == 2)
        #expect(summary.patients == 10)
        #expect(try store.patientCount() == 10)
        // Importing again replaces, it does not duplicate.
        let again = try store.importPaths([Repository.demo])
        #expect(again.replaced == 10)
        #expect(try store.patientCount() == 10)
    }

    @Test func reopenedStoreKeepsItsData() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("rpi.sqlite")
        do {
            let store = try RPIStore(path: path)
            _ = try store.importPaths([Repository.demoJSON])
            // Patient data: the database and, while it is open, its WAL and shared-memory files are 0600.
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
            for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
            }
        }
        let reopened = try RPIStore(path: path)  // migrations run again: no-op
        #expect(try reopened.patientCount() == 9)
        guard case .match = try reopened.find(identifier: requestIdentifier(patientID: "PAT-0005", template: "3802"),
                                              model: .cardiac) else {
            Issue.record("expected a match after reopening")
            return
        }
    }

    func importError(_ json: String, file: String = "bad.json") throws -> StoreError? {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write(file, json)
        let store = try RPIStore.inMemory()
        do {
            _ = try store.importPaths([path])
        } catch let error as StoreError {
            #expect(error.file == path)
            return error
        }
        Issue.record("expected an import error")
        return nil
    }

    /// A store file someone left readable by others (copied, restored from a backup) is made the owner's alone
    /// when the store opens it; one that cannot be created says where and why.
    @Test func storeFileIsTheOwnersAlone() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("rpi.sqlite")
        // The file and the (empty) write-ahead log a crash left beside it, both readable by others.
        for file in [path, path + "-wal"] {
            #expect(FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o644]))
        }
        let store = try RPIStore(path: path)
        #expect(try store.patientCount() == 0)
        for file in [path, path + "-wal"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(file)")
        }

        let missing = dir.file("no-such-folder/rpi.sqlite")
        do {
            _ = try RPIStore(path: missing)
            Issue.record("a store in a missing folder opened")
        } catch let error as StoreError {
            #expect(error.code == .database)
            #expect(error.file == missing)
            #expect(error.description.contains("cannot create or open the file: no such file or directory"), "\(error)")
        }
    }

    @Test func badJSONFilesGiveTypedErrorsNamingFileAndPath() throws {
        let header = #"{"format": "dicomtap-rpi", "version": 1, "patients": "#
        var error = try importError("{ not json")
        #expect(error?.code == .invalidJSON)
        error = try importError(#"{"format": "other", "version": 1, "patients": []}"#)
        #expect(error?.location == "format")
        error = try importError(header + #"[{"name": "A^B", "observationDateTime": "2025"}]}"#)
        #expect(error?.location == "patients[0].patientID")
        error = try importError(header + #"[{"patientID": "X", "name": "A^B", "birthDate": "1990-01-02"}]}"#)
        #expect(error?.code == .invalidValue)
        #expect(error?.location == "patients[0].birthDate")
        error = try importError(header + #"[{"patientID": "X", "name": "A", "items": [{"category": "problem"}, {"category": "nope"}]}]}"#)
        #expect(error?.location == "patients[0].items[0].code")
        error = try importError(header + #"[{"patientID": "X", "name": "A", "items": [{"category": "problem", "code": {"value": "1", "scheme": "SCT"}}]}]}"#)
        #expect(error?.location == "patients[0].items[0].code.meaning")
        error = try importError(header + #"[{"patientID": "X", "name": "A", "nmae": "typo"}]}"#)
        #expect(error?.location == "patients[0].nmae")
        error = try importError(header + #"[{"patientID": "X", "name": "A", "items": [{"category": "observation", "concept": {"value": "1", "scheme": "LN", "meaning": "m"}, "value": 3}]}]}"#)
        #expect(error?.location == "patients[0].items[0].units")
        error = try importError(header + #"[{"patientID": "X", "name": "A^B\\C^D"}]}"#)
        #expect(error?.location == "patients[0].name")
        error = try importError(header + #"[{"patientID": "X", "name": "A", "items": [{"category": "problem", "code": {"value": "1", "scheme": "SCT", "meaning": "m"}, "start": "2025-01-01"}]}]}"#)
        #expect(error?.location == "patients[0].items[0].start")
    }

    @Test func badPart10FilesGiveTypedErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try RPIStore.inMemory()
        // Truncated Part 10 file: the real demo file cut in the middle of its dataset.
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.demoSR))
        let truncated = dir.file("truncated.dcm")
        try data.prefix(600).write(to: URL(fileURLWithPath: truncated))
        #expect {
            _ = try store.importPaths([truncated])
        } throws: { error in
            (error as? StoreError)?.code == .invalidDICOM && (error as? StoreError)?.file == truncated
        }
        // Not DICOM and not JSON, named explicitly.
        let text = try dir.write("notes.txt", "hello")
        #expect {
            _ = try store.importPaths([text])
        } throws: { error in
            (error as? StoreError)?.code == .unsupportedFile && (error as? StoreError)?.file == text
        }
        // Inside a folder such a file is skipped and reported.
        let other = try TemporaryDirectory("store-folder")
        defer { other.remove() }
        let skipped = try other.write("README.txt", "demo data")
        let folder = try store.importPaths([other.path])
        #expect(folder.files == 0)
        #expect(folder.skipped == [skipped])
        // Missing path.
        #expect {
            _ = try store.importPaths([dir.file("missing.json")])
        } throws: { error in (error as? StoreError)?.code == .unreadable }
    }

    @Test(.requires(.pynetdicom)) func part10WithoutPatientIDIsRejected() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("nopid.dcm")
        let (status, _, stderr) = try await Python.run("""
            import sys
            from pydicom.dataset import Dataset, FileMetaDataset
            from pydicom.uid import ExplicitVRLittleEndian
            ds = Dataset(); ds.PatientName = "No^ID"; ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
            ds.SOPInstanceUID = "1.2.3.4"
            meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = ds.SOPClassUID
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID; meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            ds.save_as(sys.argv[1], enforce_file_format=True)
            """, [out])
        #expect(status == 0, "\(stderr)")
        let store = try RPIStore.inMemory()
        #expect {
            _ = try store.importPaths([out])
        } throws: { error in
            let e = error as? StoreError
            return e?.code == .missingAttribute && e?.file == out && e?.location == "(0010,0020) PatientID"
        }
    }
}
