import DICOMCore
import Foundation
import NIOCore
import Testing
@testable import DICOMStore

/// The seed peers (tools/peers, pynetdicom 3.0.4) the network tests and benchmark use: they must serve the same
/// demo data with the same outcomes, and build the same identifiers as the store.
@Suite("Seed RPI peers (pynetdicom) agree with the store", .requires(.pynetdicom))
struct SeedPeerTests {
    static let peers = Repository.root.appendingPathComponent("tools/peers").path

    /// `seed_rpi_scp.py --port 0 --data demo/patients.json`, stopped by its PID.
    final class SeedSCP {
        let process = Process()
        let port: Int

        init(_ extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: Python.executable!)
            process.arguments = [SeedPeerTests.peers + "/seed_rpi_scp.py", "--port", "0", "--data", Repository.demoJSON] + extra
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // First line: "listening PORT" (read byte by byte with read(2), so nothing past it is consumed).
            var line: [UInt8] = []
            var byte: UInt8 = 0
            let fd = out.fileHandleForReading.fileDescriptor
            while line.count < 200, read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
            let words = String(decoding: line, as: UTF8.self).split(separator: " ")
            guard words.count == 2, words[0] == "listening", let port = Int(words[1]) else {
                process.terminate()
                throw SeedFailure(what: "seed SCP did not report its port: \(String(decoding: line, as: UTF8.self))")
            }
            self.port = port
        }

        /// SIGTERM, then SIGKILL if it is still running after 2 s.
        func stop() {
            let pid = process.processIdentifier
            if process.isRunning { kill(pid, SIGTERM) }
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
    }

    struct SeedFailure: Error { let what: String }

    /// Runs seed_rpi_scu.py; returns its stdout lines.
    func query(_ port: Int, _ arguments: [String]) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Python.executable!)
        p.arguments = [Self.peers + "/seed_rpi_scu.py", "127.0.0.1", String(port)] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// pydicom's DICOM JSON of our identifier encoded in explicit VR LE.
    func pydicomJSON(_ ds: Dataset) throws -> String {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("id.bin")
        try Data(try DatasetEncoder().encode(ds, encoding: .explicitLittleEndian).readableBytesView)
            .write(to: URL(fileURLWithPath: path))
        let (status, stdout, stderr) = try Python.run("""
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

    @Test func sameOutcomesAndIdentifiersAsTheStore() throws {
        let scp = try SeedSCP()
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
            let lines = try query(scp.port, arguments)
            #expect(lines.count == 3 && lines[0] == "status 0xFF00" && lines[2] == "status 0x0000", "\(c.id): \(lines)")
            guard lines.count == 3 else { continue }
            // The same request the seed SCU sends.
            let request = requestIdentifier(patientID: c.id, issuer: c.issuer, template: c.model.defaultTemplate,
                                            extraReturnKeys: ["PatientBirthDate", "PatientSex"])
            guard case .match(let ds) = try store.find(identifier: request, model: c.model) else {
                Issue.record("store: no match for \(c.id)")
                continue
            }
            let ours = try pydicomJSON(ds)
            #expect(jsonObject(ours) == jsonObject(lines[1]), "\(c.id) \(c.model)\nours: \(ours)\nseed: \(lines[1])")
        }
    }

    @Test func failureStatusesOnTheWire() throws {
        let scp = try SeedSCP()
        defer { scp.stop() }
        #expect(try query(scp.port, ["--patient-id", "NOBODY"]) == ["status 0x0000"])
        #expect(try query(scp.port, ["--patient-id", "PAT-1000"]) == ["status 0xC100"])
        #expect(try query(scp.port, ["--patient-id", "PAT-0001", "--no-template"]) == ["status 0xA900"])
        #expect(try query(scp.port, ["--patient-id", "PAT-0004", "--model", "breast", "--template", "9007"]) == ["status 0xC200"])
        let timed = try query(scp.port, ["--patient-id", "PAT-0001", "--count", "5", "--quiet"])
        #expect(timed.count == 1 && timed[0].hasPrefix("latency_ms n=5 "), "\(timed)")
    }

    @Test func cancelBeforeThePendingResponse() throws {
        let scp = try SeedSCP(["--pending-delay", "2"])
        defer { scp.stop() }
        #expect(try query(scp.port, ["--patient-id", "PAT-0001", "--cancel-after", "0.2"]) == ["status 0xFE00"])
    }
}
