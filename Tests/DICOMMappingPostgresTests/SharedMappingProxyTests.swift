import DICOMPeerSupport
import DICOMTestSupport
import DICOMCore
import DICOMMappingPostgres
import Foundation
import NIOCore
import Testing
@testable import DICOMProxy
@_exported import DICOMProxyTestSupport
@testable import DICOMRewrite

/// Two in-process proxies with the same key on one PostgreSQL mapping store, Orthanc 1.10 behind
/// them: what one proxy pseudonymized, the other maps back; with the database down, known
/// patients still pass and a new one is refused, never sent under an unrecorded pseudonym.
@Suite(.peers, .postgres, .requires(.orthanc, .pynetdicom, .dcmtk))
struct SharedMappingProxyTests {
    static let keyBytes = Array(UInt8(7)..<UInt8(47))
    static let script = Peers.repository.appendingPathComponent("Tests/DICOMRewriteTests/Peers/rewrite_peer.py").path

    func rewriter(_ dir: TemporaryDirectory, store: any PseudonymStore) throws -> Rewriter {
        var rules = RewriteRules()
        for keyword in ["PatientID", "PatientName"] {
            rules.add(AttributeRule(tag: RewriteRules.tag(named: keyword)!, action: .pseudonymize(PseudonymFormat())))
        }
        let keyPath = dir.file("pseudonym.key")
        if !FileManager.default.fileExists(atPath: keyPath) {
            _ = FileManager.default.createFile(atPath: keyPath, contents: Data(Self.keyBytes))
            chmod(keyPath, 0o600)
        }
        rules.keyFile = keyPath
        return try Rewriter.open(rules: rules, store: store)
    }

    func pseudonym(_ value: String, _ vr: VR) -> String {
        Pseudonymizer(key: try! SecretKey(bytes: Self.keyBytes)).pseudonym(for: value, vr: vr)
    }

    /// A C-STORE by pynetdicom through the proxy on `port`; the C-STORE status (nil: none, the association ended).
    func store(_ port: Int, patientID: String, name: String, uid: String, dir: TemporaryDirectory) async throws -> Int? {
        let run = try Subprocess.python(script: Self.script, ["--lifetime", "120", "store", String(port), "--ts", "le", "--uid", uid,
                                                              "--patient-id", patientID, "--patient-name", name, "--called", "ORTHANC"],
                                        name: "store-\(uid)", directory: dir)
        #expect(try await run.wait(timeout: .seconds(60)) == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        return object?["status"] as? Int
    }

    /// DCMTK findscu through the proxy on `port`: the (Patient ID, Patient's Name) of each match.
    func find(_ port: Int, patientID: String = "", dir: TemporaryDirectory) async throws -> [(id: String?, name: String?)] {
        let out = dir.file("find-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let find = try Subprocess(Peers.findscu, ["-P", "-aec", "ORTHANC", "-aet", "WORKSTATION", "-X", "-od", out,
                                                  "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=\(patientID)",
                                                  "-k", "PatientName", "127.0.0.1", String(port)],
                                  name: "findscu", directory: dir)
        #expect(try await find.wait(timeout: .seconds(60)) == 0, "\(find.stderr)")
        return try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".dcm") }.sorted().map { name in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            let file = try DICOMFile(decoding: ByteBuffer(bytes: bytes), options: .lenient)
            return (file.dataset[Tag(0x0010_0020)]?.string(), file.dataset[Tag(0x0010_0010)]?.string())
        }
    }

    @Test func storedThroughOneProxyFoundThroughTheOther() async throws {
        let dir = try TemporaryDirectory("pg-two-proxies")
        defer { dir.remove() }
        let (orthanc, dicomPort, _) = try await startOrthanc(dir)
        defer { orthanc.stop() }
        let url = try await TestDatabase.create("proxies")
        let storeA = try await PostgresMappingStore.open(settings: try TestDatabase.settings(url))
        defer { storeA.close() }
        let storeB = try await PostgresMappingStore.open(settings: try TestDatabase.settings(url))
        defer { storeB.close() }
        let rewriterA = try rewriter(dir, store: storeA)
        let rewriterB = try rewriter(dir, store: storeB)
        let patientID = "HA-PID-3321"
        let patientName = "Ferreira^Lucinda"

        try await withProxy(upstream: dicomPort, configure: { $0.rewriter = rewriterA }) { proxyA in
            try await withProxy(upstream: dicomPort, configure: { $0.rewriter = rewriterB }) { proxyB in
                #expect(try await store(proxyA.port, patientID: patientID, name: patientName, uid: "1.2.826.0.1.3680043.9.7781.77.1",
                                        dir: dir) == 0)
                // B never saw this patient: the query asks for every patient, so B learns nothing from it.
                #expect(storeB.cachedRecord(of: pseudonym(patientID, .LO)) == nil)
                let matches = try await find(proxyB.port, dir: dir)
                #expect(matches.count == 1)
                #expect(matches.first?.id == patientID)
                #expect(matches.first?.name == patientName)
                // Through A as well, and the database holds the two pseudonyms once.
                let throughA = try await find(proxyA.port, patientID: patientID, dir: dir)
                #expect(throughA.map(\.id) == [patientID])
                #expect(try storeA.count() == 2)
            }
        }
    }

    @Test func databaseDownRefusesNewPatientsThenRecovers() async throws {
        let dir = try TemporaryDirectory("pg-down")
        defer { dir.remove() }
        let cluster = try await OwnCluster.start()
        defer { cluster.stop() }
        let (orthanc, dicomPort, _) = try await startOrthanc(dir)
        defer { orthanc.stop() }
        let mapping = try await PostgresMappingStore.open(settings: try TestDatabase.settings(cluster.url), timeout: .seconds(3))
        defer { mapping.close() }
        let rewriter = try rewriter(dir, store: mapping)
        let known = ("DOWN-PID-1", "Known^Patient")
        let new = ("DOWN-PID-2", "New^Patient")

        try await withProxy(upstream: dicomPort, configure: { $0.rewriter = rewriter }) { proxy in
            #expect(try await store(proxy.port, patientID: known.0, name: known.1, uid: "1.2.826.0.1.3680043.9.7781.78.1", dir: dir) == 0)
            try await cluster.pause()

            // Known values: relayed and mapped back from the cache.
            let matches = try await find(proxy.port, patientID: known.0, dir: dir)
            #expect(matches.map(\.id) == [known.0])
            #expect(matches.map(\.name) == [known.1])

            // A new patient cannot be recorded: the association is aborted, Orthanc gets nothing.
            #expect(try await store(proxy.port, patientID: new.0, name: new.1, uid: "1.2.826.0.1.3680043.9.7781.78.2", dir: dir) == nil)
            try await eventually("the refusal in the proxy's log") { proxy.logs.contains("PostgreSQL mapping store") }
            #expect(proxy.logs.contains("start the database"), "\(proxy.logs.text)")

            // Back: the same proxy and store record it by themselves.
            try await cluster.resume()
            var status: Int?
            for attempt in 0..<10 where status != 0 {
                if attempt > 0 { try await Task.sleep(for: .seconds(1)) }
                status = try await store(proxy.port, patientID: new.0, name: new.1, uid: "1.2.826.0.1.3680043.9.7781.78.2", dir: dir)
            }
            #expect(status == 0)
            let all = try await find(proxy.port, dir: dir)
            #expect(Set(all.compactMap(\.id)) == [known.0, new.0])
            #expect(Set(all.compactMap(\.name)) == [known.1, new.1])
        }
    }
}
