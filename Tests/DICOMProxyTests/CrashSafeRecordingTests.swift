import Foundation
import Testing

/// `dicomtap proxy --record` killed with SIGKILL in the middle of a multi-store association (DCMTK storescu -> proxy ->
/// DCMTK storescp, which sleeps a second after each store): the recording holds every store that passed before the kill,
/// `dicomtap analyze` reads it (exit 0) and so does tshark.
@Suite(.peers, .requires(.dcmtk, .dicomtap, .tshark))
struct CrashSafeRecordingTests {
    /// Part 10 CT images of 256 KiB pixel data each, made by DCMTK dump2dcm.
    static func images(_ count: Int, in dir: TemporaryDirectory) async throws -> [String] {
        let pixels = dir.file("pixels.raw")
        try Data((0..<(256 * 512 * 2)).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: pixels))
        var files: [String] = []
        for i in 1...count {
            let dump = dir.file("image\(i).dump")
            try """
            (0008,0016) UI =CTImageStorage
            (0008,0018) UI [1.2.826.0.1.3680043.9.7777.1.\(i)]
            (0008,0060) CS [CT]
            (0010,0010) PN [Crash^Test]
            (0010,0020) LO [CRASH-\(i)]
            (0020,000d) UI [1.2.826.0.1.3680043.9.7777.1]
            (0020,000e) UI [1.2.826.0.1.3680043.9.7777.1.0]
            (0028,0010) US 256
            (0028,0011) US 512
            (0028,0100) US 16
            (7fe0,0010) OW =\(pixels)

            """.write(toFile: dump, atomically: true, encoding: .utf8)
            let file = dir.file("image\(i).dcm")
            let make = try Subprocess(Peers.dcmtk("dump2dcm") ?? "/usr/bin/dump2dcm", ["-q", dump, file], name: "dump2dcm-\(i)",
                                      directory: dir)
            #expect(try await make.wait() == 0, "\(make.stderr)")
            files.append(file)
        }
        return files
    }

    @Test func killNineMidAssociationLeavesAReadableRecording() async throws {
        let dir = try TemporaryDirectory("crash-record")
        defer { dir.remove() }
        let files = try await Self.images(8, in: dir)

        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--ignore", "--sleep-after", "1", String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen") { try canConnect(port: scpPort, storescp) }

        let proxyPort = try freePort()
        let record = dir.file("rec")
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:\(proxyPort)", "--upstream", "127.0.0.1:\(scpPort)",
                                                    "--record", record], name: "proxy", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") { proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort)") }

        // Eight stores on one association; the proxy is killed once it has relayed three responses.
        let storescu = try Subprocess(Peers.storescu, ["127.0.0.1", String(proxyPort)] + files, name: "storescu", directory: dir)
        defer { storescu.stop() }
        try await eventually("three stores through the proxy", timeout: .seconds(30)) {
            proxy.stdout.components(separatedBy: "C-STORE msg").count - 1 >= 3
        }
        kill(proxy.pid, SIGKILL)
        _ = try await proxy.wait(timeout: .seconds(10))
        let passed = proxy.stdout.components(separatedBy: "\n").filter { $0.contains("C-STORE msg") && $0.contains("Success") }.count
        #expect(passed >= 3 && passed < files.count, "\(proxy.stdout)")
        storescu.stop()

        let recordings = try FileManager.default.contentsOfDirectory(atPath: record).filter { $0.hasSuffix(".pcap") }
        #expect(recordings.count == 1, "\(recordings)")
        let pcap = record + "/" + (recordings.first ?? "")

        // analyze: exit 0, every store the proxy saw pass, the association still open at the end of the file.
        let analyze = try Subprocess(Peers.dicomtap, ["analyze", pcap], name: "analyze", directory: dir)
        #expect(try await analyze.wait() == 0, "\(analyze.stderr)")
        let stores = analyze.stdout.components(separatedBy: "\n").filter { $0.contains("C-STORE msg") && $0.contains("0x0000 Success") }
        #expect(stores.count >= passed, "\(analyze.stdout)")
        for i in 1...passed {
            #expect(analyze.stdout.contains("C-STORE msg \(i) CT Image Storage: 0x0000 Success"), "\(analyze.stdout)")
        }
        #expect(analyze.stdout.contains("still open when the capture ended"))
        // A warning, if any, is the cut-short record's, in words.
        for line in analyze.stderr.split(separator: "\n") {
            #expect(line.hasPrefix("dicomtap analyze: warning: \(pcap): the last packet record is cut short ("), "\(line)")
        }

        // tshark reads it: its packets, no complaint but a cut-short last packet.
        let tshark = try Subprocess(Peers.tshark ?? "/usr/bin/tshark", ["-r", pcap], name: "tshark", directory: dir)
        let status = try await tshark.wait()
        #expect(tshark.stdout.split(separator: "\n").count >= 10, "\(tshark.stdout)")
        #expect(status == 0 || tshark.stderr.contains("cut short in the middle of a packet"), "\(status) \(tshark.stderr)")
    }
}
