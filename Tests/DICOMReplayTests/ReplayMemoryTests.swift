import Foundation
import Testing

/// `dicomtap replay --to` of a recording holding one association of 60 images of 8 MB (530 MB,
/// made by tools/make_big_capture.py --study from DCMTK storescu's negotiation) against DCMTK
/// storescp: every request matches, and the replay's peak resident memory stays far below what it
/// sent (long recorded data sets are read from a spool file as they are sent). The bound is four
/// times the proxy benchmark's goal of 96 MB.
@Suite(.peers, .requires(.dcmtk, .dicomtap))
struct ReplayMemoryTests {
    @Test func longStudyReplaysInBoundedMemory() async throws {
        let dir = try TemporaryDirectory("replay-memory")
        defer { dir.remove() }
        let capture = dir.file("study.pcap")
        let repository = Peers.repository.path
        let make = try Subprocess(Peers.python ?? "/usr/bin/python3",
                                  [repository + "/tools/make_big_capture.py", capture, "--study", "60"], name: "make", directory: dir)
        #expect(try await make.wait(timeout: .seconds(120)) == 0, "\(make.stderr)")

        let port = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--ignore", "--aetitle", "ANY-SCP", String(port)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen", timeout: .seconds(60)) { try canConnect(port: port, storescp) }
        // /usr/bin/time reports the peak resident memory of the process it runs.
        let replay = try Subprocess("/usr/bin/time", ["-f", "peak-rss-kb %M", Peers.dicomtap, "replay", capture, "--to", "127.0.0.1:\(port)"],
                                    name: "replay", directory: dir)
        #expect(try await replay.wait(timeout: .seconds(600)) == 0, "\(replay.stdout) \(replay.stderr)")
        #expect(replay.stdout.contains("result: matched (60 requests in 1 association)"), "\(replay.stdout)")
        let line = try #require(replay.stderr.split(separator: "\n").last { $0.hasPrefix("peak-rss-kb") })
        let peakMB = (Double(line.split(separator: " ")[1]) ?? .infinity) / 1024
        print("dicomtap replay peak RSS \(Int(peakMB)) MB for 60 x 8 MB on one association")
        #expect(peakMB < 384, "peak RSS \(peakMB) MB")
    }
}
