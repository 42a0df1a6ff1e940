import DICOMCore
import DICOMPeerSupport
import Foundation
import NIOCore
import Testing
@testable import DICOMStore

/// The built identifiers go on the wire: they must encode in the transfer syntaxes an SCP negotiates, decode back
/// with our decoder, and read in pydicom.
@Suite("Response identifier round trip")
struct RoundTripTests {
    static let cases: [(String, String, RPIQueryModel)] = [
        ("PAT-0001", "9007", .general), ("PAT-0003", "9007", .general), ("PAT-0004", "9000", .breast),
        ("PAT-0005", "3802", .cardiac), ("SR-0001", "9007", .general),
    ]

    func identifiers() throws -> [(String, Dataset)] {
        let store = try RPIStore.inMemory()
        _ = try store.importPaths([Repository.demo])
        return try Self.cases.map { id, template, model in
            let request = requestIdentifier(patientID: id, template: template,
                                            extraReturnKeys: ["PatientBirthDate", "PatientSex", "OtherPatientIDsSequence"])
            guard case .match(let ds) = try store.find(identifier: request, model: model) else {
                throw RoundTripFailure(what: "no match for \(id)")
            }
            return (id, ds)
        }
    }

    struct RoundTripFailure: Error { let what: String }

    @Test(arguments: [DatasetEncoding.implicitLittleEndian, .explicitLittleEndian])
    func encodesAndDecodesBack(encoding: DatasetEncoding) throws {
        for (id, ds) in try identifiers() {
            let bytes = try DatasetEncoder().encode(ds, encoding: encoding)
            let decoded = try DatasetDecoder().decode(bytes, encoding: encoding)
            #expect(decoded.elements.map(\.tag) == ds.elements.map(\.tag), "\(id)")
            #expect(decoded.string("PatientID") == id)
            #expect(decoded.string("PatientName") == ds.string("PatientName"))
            // Same tree: re-encoding what we decoded gives the same bytes.
            #expect(try DatasetEncoder().encode(decoded, encoding: encoding) == bytes, "\(id)")
            #expect(decoded.items("ContentSequence").count == ds.items("ContentSequence").count)
        }
    }

    @Test(.requires(.pynetdicom),
          arguments: [DatasetEncoding.implicitLittleEndian, .explicitLittleEndian])
    func pydicomReadsTheIdentifier(encoding: DatasetEncoding) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var paths: [String] = []
        var expected: [String: String] = [:]
        for (id, ds) in try identifiers() {
            let bytes = try DatasetEncoder().encode(ds, encoding: encoding)
            let path = dir.file("\(id).bin")
            try Data(bytes.readableBytesView).write(to: URL(fileURLWithPath: path))
            paths.append(path)
            expected[id] = ds.string("PatientName")
        }
        let script = """
            import json, sys
            from io import BytesIO
            from pydicom.filereader import read_dataset
            implicit = sys.argv[1] == "implicit"
            out = {}
            def walk(items, depth=1):
                n = 0
                for it in items:
                    n += 1
                    assert it.RelationshipType in ("CONTAINS", "HAS PROPERTIES"), it.RelationshipType
                    assert it.ValueType in ("CONTAINER", "TEXT", "CODE", "DATETIME", "NUM"), it.ValueType
                    assert len(it.ConceptNameCodeSequence) == 1
                    if it.ValueType == "CODE": assert it.ConceptCodeSequence[0].CodeMeaning
                    if it.ValueType == "NUM": float(it.MeasuredValueSequence[0].NumericValue)
                    if "ContentSequence" in it: n += walk(it.ContentSequence, depth + 1)
                return n
            for path in sys.argv[2:]:
                with open(path, "rb") as f:
                    ds = read_dataset(BytesIO(f.read()), implicit, True)
                ds.decode()
                assert ds.ValueType == "CONTAINER"
                assert ds.ContentTemplateSequence[0].MappingResource == "DCMR"
                out[str(ds.PatientID)] = {"name": str(ds.PatientName), "items": walk(ds.ContentSequence),
                                          "charset": ds.get("SpecificCharacterSet", ""),
                                          "json": len(ds.to_json())}
            print(json.dumps(out, ensure_ascii=False))
            """
        let (status, stdout, stderr) = try await Python.run(script, [encoding.isExplicitVR ? "explicit" : "implicit"] + paths)
        #expect(status == 0, "\(stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: [String: Any]] ?? [:]
        #expect(Set(parsed.keys) == Set(expected.keys))
        for (id, name) in expected {
            #expect(parsed[id]?["name"] as? String == name, "\(id)")
            #expect((parsed[id]?["items"] as? Int ?? 0) > 0, "\(id)")
        }
        #expect(parsed["PAT-0003"]?["charset"] as? String == "ISO_IR 192")
        #expect(parsed["SR-0001"]?["name"] as? String == "Åström^Eva")
    }
}

@Suite("Indexed lookup", .cpuHeavy)
struct IndexedLookupTests {
    @Test func tenThousandPatientsUseTheIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var patients: [String] = []
        for i in 0..<10_000 {
            patients.append(#"{"patientID": "BULK-\#(i)", "issuer": "\#(i % 3 == 0 ? "HOSP-B" : "HOSP-A")", "name": "Bulk^\#(i)", "observationDateTime": "20250101", "items": [{"category": "problem", "code": {"value": "38341003", "scheme": "SCT", "meaning": "Hypertension"}}]}"#)
        }
        let path = try dir.write("bulk.json", #"{"format": "dicomtap-rpi", "version": 1, "patients": ["# + patients.joined(separator: ",") + "]}")
        let store = try RPIStore(path: dir.file("bulk.sqlite"))
        let summary = try store.importPaths([path])
        #expect(summary.patients == 10_000)
        #expect(try store.patientCount() == 10_000)
        for withIssuer in [true, false] {
            let plan = try store.lookupQueryPlan(withIssuer: withIssuer).joined(separator: " | ")
            #expect(plan.contains("USING INDEX patient_by_id_issuer") || plan.contains("USING COVERING INDEX patient_by_id_issuer"),
                    "\(plan)")
            #expect(!plan.contains("SCAN"), "\(plan)")
        }
        guard case .match(let ds) = try store.find(identifier: requestIdentifier(patientID: "BULK-9998", issuer: "HOSP-A"),
                                                   model: .general) else {
            Issue.record("expected a match")
            return
        }
        #expect(ds.string("PatientName") == "Bulk^9998")
    }
}
