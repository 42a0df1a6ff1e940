import DICOMCore
import DICOMPeerSupport
import Foundation
import NIOCore
import Testing

/// C-MOVE linking against real peers: DCMTK movescu asks dcmqrscp (AE DCMQRSCP) to move a patient to
/// storescp (AE STORESCP, the only Move Destination in dcmqrscp's HostTable), then to NOWHERE, which
/// dcmqrscp does not know (0xA801). dumpcap records both ports on lo; `dicomtap analyze` of that capture
/// links the C-MOVE to the association dcmqrscp opened to storescp (text, JSON, --summary, HTML in
/// Chromium), and says of the refused one that no association to NOWHERE was seen.
@Suite(.requires(.dcmtk, .dumpcap, .dicomtap, .chromium), .peers)
struct MoveLinkPeerTests {
    static let patientID = "MOVE-LINK-1"
    static let margin = Duration.seconds(60)

    @Test func moveFromDcmqrscpIsLinkedToTheAssociationThatCarriedItsStores() async throws {
        let dir = try DICOMPeerSupport.TemporaryDirectory("move-link")
        defer { dir.remove() }
        let capture = try await Self.record(in: dir)
        let out = try TemporaryDirectory()

        // Associations in start order: 1 storescu -> dcmqrscp, 2 movescu's C-MOVE to STORESCP, 3 dcmqrscp ->
        // storescp (the sub-operations), 4 movescu's C-MOVE to NOWHERE.
        let text = try await HTMLReportTests.analyze([capture])
        #expect(text.contains(#"association 2 C-MOVE msg 1 "MOVESCU" -> "DCMQRSCP" to "STORESCP", 0x0000: "#
                              + "sub-operations to STORESCP on association 3 (2 C-STOREs)"), "\(text)")
        #expect(text.contains(#"association 4 C-MOVE msg 1 "MOVESCU" -> "DCMQRSCP" to "NOWHERE", 0xA801: "#
                              + "refused, Move Destination unknown (0xA801): no association to NOWHERE was seen"), "\(text)")
        #expect(text.contains(#"=== Association 3: "#) && text.contains(#""DCMQRSCP" -> "STORESCP""#), "\(text)")

        let json = try JSONSerialization.jsonObject(with: Data(try await HTMLReportTests.analyze(["--format", "json", capture]).utf8))
            as? [String: Any]
        let retrievals = json?["retrievals"] as? [[String: Any]] ?? []
        try #require(retrievals.count == 2, "\(String(describing: json?["retrievals"]))")
        let carried = retrievals[0]["carriedOn"] as? [[String: Any]] ?? []
        #expect(retrievals[0]["association"] as? Int == 2)
        #expect(carried.count == 1)
        #expect(carried.first?["association"] as? Int == 3)
        #expect(carried.first?["stores"] as? Int == 2)
        #expect(carried.first?["failed"] as? Int == 0)
        #expect(carried.first?["evidence"] as? String == "move-originator", "dcmqrscp names the C-MOVE in its C-STORE-RQs")
        #expect(retrievals[0]["destinationUnknown"] as? Bool == false)
        #expect(retrievals[1]["association"] as? Int == 4)
        #expect(retrievals[1]["moveDestination"] as? String == "NOWHERE")
        #expect(retrievals[1]["finalStatus"] as? String == "0xA801")
        #expect(retrievals[1]["destinationUnknown"] as? Bool == true)
        #expect((retrievals[1]["carriedOn"] as? [Any])?.isEmpty == true)

        let summary = try await HTMLReportTests.analyze(["--summary", capture])
        #expect(summary.contains("C-MOVE          2   linked to their sub-operations' association 1, "
                                 + "refused 0xA801 with no association to the destination 1, not linked otherwise 0"), "\(summary)")

        let rendered = try await HTMLReportTests.render([capture], directory: out)
        #expect(rendered.dom.contains("Retrievals across associations"))
        #expect(rendered.dom.contains(##"<a href="#a3">association 3</a>"##), "the C-MOVE links to its sub-association")
        #expect(rendered.dom.contains("sub-operation of MOVESCU's C-MOVE msg 1"), "the sub-association names its C-MOVE")
        #expect(rendered.dom.contains("no association to NOWHERE was seen"))
        #expect(rendered.distinctBytes > 64, "the screenshot looks blank")
    }

    /// The four associations, recorded by dumpcap on lo (both ports), in `dir`/move.pcapng.
    static func record(in dir: DICOMPeerSupport.TemporaryDirectory) async throws -> String {
        let received = dir.file("received"), storage = dir.file("qr-storage")
        for folder in [received, storage] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let images = try (0..<2).map { i in
            let path = dir.file("image\(i).dcm")
            try DCMTKMoveSite.secondaryCaptureFile(patientID: patientID, patientName: "Move^Link", studyUID: "2.25.4242",
                                                   number: i).write(to: URL(fileURLWithPath: path))
            return path
        }
        // DCMTK cannot listen on port 0: ports the OS had free a moment ago.
        let storePort = try freePort(), qrPort = try freePort()
        try DCMTKMoveSite.writeConfiguration(to: dir.file("dcmqrscp.cfg"), qrPort: qrPort, storage: storage,
                                             destination: "STORESCP", storePort: storePort)

        let capture = dir.file("move.pcapng")
        // Through env --default-signal: the test runner's threads block most signals and a child inherits the
        // mask; dumpcap must see SIGTERM to close its file.
        let dumpcap = try Subprocess("/usr/bin/env", ["--default-signal=TERM,INT", Peers.dumpcap ?? "/usr/bin/dumpcap",
                                                      "-i", "lo", "-f", "tcp port \(qrPort) or tcp port \(storePort)", "-w", capture, "-q"],
                                     name: "dumpcap", directory: dir)
        let storescp = try Subprocess(Peers.storescp, ["--aetitle", "STORESCP", "--output-directory", received, String(storePort)],
                                      name: "storescp", directory: dir)
        // Forking (the default): dcmqrscp 3.6.7 in single-process mode (-s) crashes after the first association.
        let dcmqrscp = try Subprocess(Peers.dcmqrscp, ["-c", dir.file("dcmqrscp.cfg"), String(qrPort)], name: "dcmqrscp", directory: dir)
        defer {
            dcmqrscp.stop()
            storescp.stop()
            dumpcap.stop()
        }
        try await eventually("dumpcap to start capturing", timeout: margin) {
            if !dumpcap.process.isRunning { throw TimeoutError(what: "dumpcap exited: \(dumpcap.stderr)") }
            return hasInterfaceDescription(capture)
        }
        try await Task.sleep(for: .milliseconds(500))
        // Probing with connect() would put a stray connection in the capture: wait for the listening sockets instead.
        try await eventually("storescp to listen", timeout: margin) { try listens(storePort, storescp) }
        try await eventually("dcmqrscp to listen", timeout: margin) { try listens(qrPort, dcmqrscp) }

        let store = try Subprocess(Peers.storescu, ["-aet", "STORESCU", "-aec", "DCMQRSCP", "127.0.0.1", String(qrPort)] + images,
                                   name: "storescu", directory: dir)
        #expect(try await store.wait(timeout: margin) == 0, "\(store.stderr)")
        let move = try await movescu(qrPort, destination: "STORESCP", name: "movescu", directory: dir)
        #expect(move.process.terminationStatus == 0, "\(move.stdout)\(move.stderr)")
        try await eventually("storescp to write the two moved images", timeout: margin) {
            ((try? FileManager.default.contentsOfDirectory(atPath: received)) ?? []).count == 2
        }
        let unknown = try await movescu(qrPort, destination: "NOWHERE", name: "movescu-unknown", directory: dir)
        #expect((unknown.stdout + unknown.stderr).lowercased().contains("0xa801"), "\(unknown.stdout)\(unknown.stderr)")

        // The last packets reach dumpcap; then SIGTERM, and dumpcap closes the file.
        try await Task.sleep(for: .milliseconds(500))
        kill(dumpcap.pid, SIGTERM)
        _ = try await dumpcap.wait(timeout: margin)
        return capture
    }

    static func movescu(_ port: Int, destination: String, name: String, directory: DICOMPeerSupport.TemporaryDirectory)
        async throws -> Subprocess {
        try await DCMTKMoveSite.movescu(port, patientID: patientID, destination: destination, name: name, directory: directory,
                                        timeout: margin)
    }

    /// Whether the pcapng file begins with a Section Header Block followed by an Interface Description Block
    /// (dumpcap writes both when it starts capturing).
    static func hasInterfaceDescription(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path), data.count >= 12,
              data.prefix(4) == Data([0x0A, 0x0D, 0x0D, 0x0A]) else { return false }
        let bytes = [UInt8](data)
        func le32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        let shb = le32(4)
        return bytes.count >= shb + 8 && le32(shb) == 1
    }
}
