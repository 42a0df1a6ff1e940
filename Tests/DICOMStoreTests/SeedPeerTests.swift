import DICOMCore
import Foundation
import NIOCore
import Testing
import DICOMPeerSupport
@testable import DICOMStore

/// The seed peers (tools/peers, pynetdicom 3.0.4) the network tests and benchmark use: they must serve the same
/// demo data with the same outcomes, and build the same identifiers as the store.
@Suite("Seed RPI peers (pynetdicom) agree with the store", .requires(.pynetdicom), .peers)
struct SeedPeerTests {
    static let peers = Repository.root.appendingPathComponent("tools/peers").path

    /// `seed_rpi_scp.py --port 0 --data demo/patients.json`: its port from its first line ("listening PORT"); stop
    /// it with the returned subprocess (by its PID).
    static func seedSCP(_ extra: [String] = [], in directory: TemporaryDirectory) async throws -> (Subprocess, port: Int) {
        let scp = try Subprocess(Python.executable!, [peers + "/seed_rpi_scp.py", "--port", "0", "--data", Repository.demoJSON] + extra,
                                 name: "seed-scp", directory: directory)
        let line = try await scp.firstLine()
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "listening", let port = Int(words[1]) else {
            scp.stop()
            throw SeedFailure(what: "seed SCP did not report its port: \(line)")
        }
        return (scp, port)
    }

    struct SeedFailure: Error { let what: String }

    /// Runs seed_rpi_scu.py; returns its stdout lines.
    func query(_ port: Int, _ arguments: [String]) async throws -> [String] {
        let run = try await runProgram(Python.executable!, [Self.peers + "/seed_rpi_scu.py", "127.0.0.1", String(port)] + arguments)
        return run.stdout.split(separator: "\n").map(String.init)
    }

    /// pydicom's DICOM JSON of our identifier encoded in explicit VR LE.
    func pydicomJSON(_ ds: Dataset) async throws -> String {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("id.bin")
        try Data(try DatasetEncoder().encode(ds, encoding: .explicitLittleEndian).readableBytesView)
            .write(to: URL(fileURLWithPath: path))
        let (status, stdout, stderr) = try await Python.run("""
            import sys
            from io import BytesIO
            from pydicom.filereader import read_dataset
            ds = read_dataset(BytesIO(open(sys.argv[1], "rb").read()), False, True)
            print(ds.to_json())
            """, [path])
        #expect(status == 0, "\(stderr)")
        return stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func jsonObject(_ text: String) -> NSDictionary? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? NSDictionary
    }

    @Test func sameOutcomesAndIdentifiersAsTheStore() async throws {
        let dir = try TemporaryDirectory("seed")
        defer { dir.remove() }
        let (scp, port) = try await Self.seedSCP(in: dir)
        defer { scp.stop() }
        let store = try demoStore()
        let cases: [(id: String, issuer: String?, model: RPIQueryModel)] = [
            ("PAT-0001", nil, .general), ("PAT-0002", nil, .general), ("PAT-0003", nil, .general),
            ("PAT-0004", nil, .breast), ("PAT-0004", nil, .general), ("PAT-0005", nil, .cardiac),
            ("PAT-0006", nil, .general), ("PAT-0007", nil, .general), ("PAT-1000", "HOSP-A", .general),
        ]
        for c in cases {
            var arguments = ["--patient-id", c.id, "--model", c.model.rawValue]
            if let issuer = c.issuer { arguments += ["--issuer", issuer] }
            let lines = try await query(port, arguments)
            #expect(lines.count == 3 && lines[0] == "status 0xFF00" && lines[2] == "status 0x0000", "\(c.id): \(lines)")
            guard lines.count == 3 else { continue }
            // The same request the seed SCU sends.
            let request = requestIdentifier(patientID: c.id, issuer: c.issuer, template: c.model.defaultTemplate,
                                            extraReturnKeys: ["PatientBirthDate", "PatientSex"])
            guard case .match(let ds) = try store.find(identifier: request, model: c.model) else {
                Issue.record("store: no match for \(c.id)")
                continue
            }
            let ours = try await pydicomJSON(ds)
            #expect(jsonObject(ours) == jsonObject(lines[1]), "\(c.id) \(c.model)\nours: \(ours)\nseed: \(lines[1])")
        }
    }

    @Test func failureStatusesOnTheWire() async throws {
        let dir = try TemporaryDirectory("seed")
        defer { dir.remove() }
        let (scp, port) = try await Self.seedSCP(in: dir)
        defer { scp.stop() }
        #expect(try await query(port, ["--patient-id", "NOBODY"]) == ["status 0x0000"])
        #expect(try await query(port, ["--patient-id", "PAT-1000"]) == ["status 0xC100"])
        #expect(try await query(port, ["--patient-id", "PAT-0001", "--no-template"]) == ["status 0xA900"])
        #expect(try await query(port, ["--patient-id", "PAT-0004", "--model", "breast", "--template", "9007"]) == ["status 0xC200"])
        let timed = try await query(port, ["--patient-id", "PAT-0001", "--count", "5", "--quiet"])
        #expect(timed.count == 1 && timed[0].hasPrefix("latency_ms n=5 "), "\(timed)")
    }

    @Test func cancelBeforeThePendingResponse() async throws {
        let dir = try TemporaryDirectory("seed")
        defer { dir.remove() }
        let (scp, port) = try await Self.seedSCP(["--pending-delay", "2"], in: dir)
        defer { scp.stop() }
        #expect(try await query(port, ["--patient-id", "PAT-0001", "--cancel-after", "0.2"]) == ["status 0xFE00"])
    }
}
