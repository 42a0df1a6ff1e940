import DICOMCore
import Foundation
import NIOCore
import Testing
@testable import DICOMProxy
@testable import DICOMRewrite

/// A real archive behind the proxy with the shipped Basic Profile (tools/rewrite-annex-e.yaml):
/// pynetdicom stores instances in four transfer syntaxes through the proxy into Orthanc 1.10.1;
/// Orthanc's REST API then shows no original identity anywhere (files, tags, patients, studies),
/// and DCMTK findscu through the proxy gets the originals back.
@Suite(.peers, .requires(.orthanc, .pynetdicom, .dcmtk))
struct OrthancRewriteTests {
    static let patientID = "ORTH-PID-4417Q"
    static let patientName = "Quintero^Ximena"

    @Test func orthancStoresNoOriginalAndFindscuGetsThemBack() async throws {
        let dir = try TemporaryDirectory("rw-orthanc")
        defer { dir.remove() }
        let (orthanc, dicomPort, httpPort) = try await startOrthanc(dir)
        defer { orthanc.stop() }

        var rules = try RewriteRulesLoader.load(path: BasicProfileTests.path)
        let keyPath = dir.file("pseudonym.key")
        _ = FileManager.default.createFile(atPath: keyPath, contents: Data((0..<32).map { UInt8(truncatingIfNeeded: 37 * $0 + 11) }))
        chmod(keyPath, 0o600)
        rules.keyFile = keyPath
        rules.mappingStore = dir.file("map.sqlite")
        let rewriter = try Rewriter.open(rules: rules)
        let uids = (1...4).map { "1.2.826.0.1.3680043.9.7781.\($0)0\($0)" }
        let originals = [Self.patientID, "Quintero", "Ximena", "ACC-55821-QW", "Hortensia", "ALERT-PENICILLIN-ZX",
                         "Saint Hidden Hospital"] + uids

        try await withProxy(upstream: dicomPort, configure: {
            $0.rewriter = rewriter
            $0.logDirectory = dir.file("logs")
        }) { proxy in
            for (index, ts) in ["implicit", "le", "be", "deflated"].enumerated() {
                let store = try Subprocess.python(["store", String(proxy.port), "--ts", ts, "--identifiers", "--uid", uids[index],
                                                   "--patient-id", Self.patientID, "--patient-name", Self.patientName,
                                                   "--called", "ORTHANC"],
                                                  name: "store-\(ts)", directory: dir)
                #expect(try await store.wait(timeout: .seconds(60)) == 0)
                #expect(try jsonObject(store.stdout)["status"] as? Int == 0, "\(ts): \(store.stdout) \(store.stderr)")
            }

            // What Orthanc holds, through its REST API: files, tags, patients, studies.
            let dump = try Subprocess.python(["orthanc-dump", String(httpPort), dir.file("orthanc-dump")], name: "dump", directory: dir)
            #expect(try await dump.wait(timeout: .seconds(60)) == 0, "\(dump.stderr)")
            let data = Data(dump.stdout.utf8)
            let instances = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]], "\(dump.stdout)")
            #expect(instances.count == 4)
            let key = try SecretKey(contentsOfFile: keyPath)
            let pseudonymID = Pseudonymizer(key: key).pseudonym(for: Self.patientID, vr: .LO)
            for instance in instances {
                #expect(instance["PatientID"] as? String == pseudonymID)
                #expect(instance["PatientIdentityRemoved"] as? String == "YES")
                #expect((instance["SOPInstanceUID"] as? String)?.hasPrefix("2.25.") == true)
            }
            var scanned = 0
            for file in filesBytes(under: dir.file("orthanc-dump")) {
                scanned += 1
                for original in originals {
                    #expect(!file.bytes.contains(bytes: Array(original.utf8)), "\(original) is in Orthanc's \(file.path)")
                }
            }
            #expect(scanned >= 10)

            // DCMTK findscu through the proxy: Orthanc matches the pseudonym; the SCU gets its patient back.
            let out = dir.file("find")
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let find = try Subprocess(Peers.findscu, ["-P", "-aec", "ORTHANC", "-aet", "WORKSTATION", "-X", "-od", out,
                                                      "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=\(Self.patientID)",
                                                      "-k", "PatientName", "127.0.0.1", String(proxy.port)],
                                      name: "findscu", directory: dir)
            #expect(try await find.wait(timeout: .seconds(60)) == 0, "\(find.stderr)")
            let responses = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".dcm") }
            #expect(responses.count == 1, "\(find.stderr)")
            for name in responses {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
                let file = try DICOMFile(decoding: ByteBuffer(bytes: bytes), options: .lenient)
                #expect(file.dataset[Tag(0x0010_0020)]?.string() == Self.patientID)
                #expect(file.dataset[Tag(0x0010_0010)]?.string() == Self.patientName)
            }
            // A query for a patient the archive does not hold finds nothing (no mix-up through the mapping).
            try FileManager.default.createDirectory(atPath: dir.file("none"), withIntermediateDirectories: true)
            let none = try Subprocess(Peers.findscu, ["-P", "-aec", "ORTHANC", "-X", "-od", dir.file("none"),
                                                      "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=SOMEONE-ELSE-1",
                                                      "127.0.0.1", String(proxy.port)], name: "findscu-none", directory: dir)
            #expect(try await none.wait(timeout: .seconds(60)) == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("none")).isEmpty)
        }
    }
}
