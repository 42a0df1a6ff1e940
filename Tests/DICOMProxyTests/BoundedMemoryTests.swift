import DICOMCore
import Foundation
import NIOCore
import Testing

/// What `dicomtap proxy` holds is bounded by what is in flight, not by what has passed: a study
/// of many images on one association (DCMTK storescu -> proxy -> DCMTK storescp) and a
/// deflated data set that inflates far past the limit (pynetdicom storescu -> proxy). The proxy
/// runs as its own process; its peak resident memory (VmHWM in /proc) is read when the work is
/// done. The bound is four times the benchmark's goal (tools/bench_proxy.sh measures the figure;
/// the test catches retention: the 480 MB sent here would all be kept by a proxy that retains).
@Suite(.peers, .requires(.dcmtk, .pynetdicom, .dicomtap))
struct BoundedMemoryTests {
    static let script = Peers.directory.appendingPathComponent("memory_peer.py").path
    /// 4 x the benchmark's goal of 96 MB.
    static let boundMB = 384

    static func python(_ arguments: [String], name: String, directory: TemporaryDirectory) async throws -> [String: Any] {
        let p = try Subprocess.python(script: script, arguments, name: name, directory: directory)
        #expect(try await p.wait(timeout: .seconds(180)) == 0, "\(p.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any], "\(p.stdout) \(p.stderr)")
    }

    /// Peak resident memory of a running process, in MB.
    static func peakMB(_ pid: Int32) throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        let kb = try #require(Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kb / 1024
    }

    /// Starts `dicomtap proxy` in front of `upstream`; returns it and its port.
    static func proxy(upstream: Int, _ extra: [String], directory: TemporaryDirectory) async throws -> (Subprocess, Int) {
        let port = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:\(port)", "--upstream", "127.0.0.1:\(upstream)"] + extra,
                                   name: "proxy", directory: directory)
        try await eventually("the proxy to listen", timeout: .seconds(60)) {
            if !proxy.process.isRunning { throw TimeoutError(what: "the proxy exited: \(proxy.stderr) \(proxy.stdout)") }
            return try canConnect(port: port)
        }
        return (proxy, port)
    }

    /// 60 images of 8 MB (480 MB) on one association, with the text log, events, recording and (the second
    /// time) pseudonymization: every image stored intact (pseudonymized: only Patient ID changed)
    /// and the proxy's peak memory far below what passed through it.
    @Test(arguments: [false, true])
    func studyOnOneAssociation(pseudonymize: Bool) async throws {
        let dir = try TemporaryDirectory("study")
        defer { dir.remove() }
        let image = dir.file("image.dcm")
        let made = try await Self.python(["image", image, "--mb", "8", "--patient-id", "MEM-7731-X"], name: "image", directory: dir)
        let sent = try #require(FileManager.default.contents(atPath: image))
        #expect(sent.count > 8_000_000)

        let stored = dir.file("stored")
        try FileManager.default.createDirectory(atPath: stored, withIntermediateDirectories: true)
        let scpPort = try freePort()
        // +B: the data set written exactly as received.
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", stored, "+B", String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen", timeout: .seconds(60)) { try canConnect(port: scpPort) }

        var extra = ["--log-dir", dir.file("logs"), "--record", dir.file("rec")]
        if pseudonymize {
            let key = dir.file("key")
            _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
                                           attributes: [.posixPermissions: 0o600])
            extra += ["--pseudonymize", "PatientID", "--key-file", key, "--mapping-store", dir.file("map.sqlite")]
        }
        let (proxy, port) = try await Self.proxy(upstream: scpPort, extra, directory: dir)
        defer { proxy.stop() }

        let copies = 60
        let store = try Subprocess(Peers.storescu, ["127.0.0.1", String(port)] + Array(repeating: image, count: copies),
                                   name: "storescu", directory: dir)
        #expect(try await store.wait(timeout: .seconds(600)) == 0, "\(store.stderr)")
        try await eventually("the association's end", timeout: .seconds(60)) { proxy.stdout.contains("END  released") }
        let peak = try Self.peakMB(proxy.pid)
        print("dicomtap proxy peak RSS \(Int(peak)) MB for \(copies * 8) MB on one association (pseudonymize: \(pseudonymize))")
        #expect(peak < Double(Self.boundMB), "peak RSS \(peak) MB for \(copies * 8) MB on one association")
        #expect(proxy.stdout.contains("\(copies) exchanges"), "\(proxy.stdout)")

        // What storescp stored: the data set as the proxy sent it.
        let uid = try #require(made["sopInstanceUID"] as? String)
        let files = try FileManager.default.contentsOfDirectory(atPath: stored)
        let file = try #require(files.first { $0.contains(uid) }, "\(files)")
        let received = try #require(FileManager.default.contents(atPath: stored + "/" + file))
        let original = try DICOMFile(decoding: ByteBuffer(bytes: sent)).dataset
        var arrived = try DICOMFile(decoding: ByteBuffer(bytes: received)).dataset
        if pseudonymize {
            let pseudonym = try #require(arrived[Tag(0x0010_0020)]?.string())
            #expect(pseudonym != "MEM-7731-X" && !pseudonym.isEmpty)
            #expect(!received.contains(Data("MEM-7731-X".utf8)))
            arrived[Tag(0x0010_0020)] = original[Tag(0x0010_0020)]
        }
        #expect(try DatasetEncoder().encode(arrived) == DatasetEncoder().encode(original), "the stored data set differs")
        // The logs and the recording are complete.
        // (The probe that waited for the proxy to listen is a connection of its own, without an association.)
        let recordings = try FileManager.default.contentsOfDirectory(atPath: dir.file("rec")).filter { $0.contains("STORESCU") }
        #expect(recordings.count == 1)
        let recorded = try FileManager.default.attributesOfItem(atPath: dir.file("rec/" + (recordings.first ?? "")))[.size] as? Int
        #expect((recorded ?? 0) > copies * 8_000_000)
        let events = try String(contentsOfFile: dir.file("logs/events.jsonl"), encoding: .utf8)
        #expect(events.components(separatedBy: "\"type\":\"exchange\"").count - 1 == copies)
    }

    /// A deflated data set of a few hundred KB that inflates to 256 MB, past a 64 MB limit: relayed
    /// byte for byte but reported (dataset-not-decodable); with rewriting, that association is
    /// aborted (it cannot be rewritten) and the next one is served. Either way, memory stays far
    /// below the inflated size.
    @Test(arguments: [false, true])
    func deflatedDataSetPastTheLimit(rewriting: Bool) async throws {
        let dir = try TemporaryDirectory("bomb")
        defer { dir.remove() }
        let bomb = dir.file("bomb.dcm")
        _ = try await Self.python(["bomb", bomb, "--inflated-mb", "256"], name: "bomb", directory: dir)
        let small = dir.file("small.dcm")
        _ = try await Self.python(["image", small, "--mb", "1"], name: "small", directory: dir)

        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--ignore", "+xd", String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen", timeout: .seconds(60)) { try canConnect(port: scpPort) }
        var extra = ["--log-dir", dir.file("logs"), "--max-inflated-size", String(64 << 20)]
        if rewriting {
            let key = dir.file("key")
            _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
                                           attributes: [.posixPermissions: 0o600])
            extra += ["--pseudonymize", "PatientID", "--key-file", key, "--mapping-store", dir.file("map.sqlite")]
        }
        let (proxy, port) = try await Self.proxy(upstream: scpPort, extra, directory: dir)
        defer { proxy.stop() }

        let answer = try await Self.python(["store", String(port), bomb], name: "store", directory: dir)
        #expect(answer["established"] as? Bool == true, "\(answer)")
        let events = { (try? String(contentsOfFile: dir.file("logs/events.jsonl"), encoding: .utf8)) ?? "" }
        if rewriting {
            #expect(answer["aborted"] as? Bool == true, "\(answer)")
            try await eventually("the abort", timeout: .seconds(60)) { events().contains("cannot-rewrite") }
            #expect(events().contains("inflates past the limit of 67108864 bytes"))
        } else {
            #expect(answer["statuses"] as? [Int] == [0], "\(answer)")
            try await eventually("the finding", timeout: .seconds(60)) { events().contains("dataset-not-decodable") }
            #expect(events().contains("inflates past the limit of 67108864 bytes"))
        }
        // The next association is served.
        let next = try await Self.python(["store", String(port), small], name: "next", directory: dir)
        #expect(next["statuses"] as? [Int] == [0], "\(next)")
        let peak = try Self.peakMB(proxy.pid)
        #expect(peak < Double(Self.boundMB), "peak RSS \(peak) MB")
    }
}
