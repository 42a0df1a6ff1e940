import DICOMCore
import Foundation
import Testing
@testable import DICOMRewrite

/// The `dicomtap` binary built next to the tests (`swift build --build-tests` builds it).
enum DICOMTapBinary {
    static var path: String { Peers.dicomtap }

    /// Runs it to completion; stdout, stderr and the exit status.
    static func run(_ arguments: [String], in directory: TemporaryDirectory) async throws -> (out: String, err: String, status: Int32) {
        let process = try Subprocess(path, arguments, name: "dicomtap-\(UUID().uuidString.prefix(6))", directory: directory)
        let status = try await process.wait(timeout: .seconds(20))
        return (process.stdout, process.stderr, status)
    }
}

@Suite(.peers, .requires(.dicomtap))
struct CommandLineTests {
    /// A bad rules file stops `dicomtap proxy` before it listens, naming the file and line.
    @Test func badRulesFileStopsTheProxyBeforeItStarts() async throws {
        let dir = try TemporaryDirectory("cli-rules")
        defer { dir.remove() }
        try "attributes:\n  - attribute: PatientID\n    action: pseudonymize\n  - attribute: PatientsName\n    action: remove\n"
            .write(toFile: dir.file("rules.yaml"), atomically: true, encoding: .utf8)
        let key = try writeKeyFile(dir)
        let result = try await DICOMTapBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                                   "--rewrite", dir.file("rules.yaml"), "--key-file", key], in: dir)
        #expect(result.status != 0)
        #expect(result.err.contains("\(dir.file("rules.yaml")):4: unknown attribute 'PatientsName'"), "\(result.err)")
        #expect(!result.out.contains("listening"))

        let open = try writeKeyFile(dir, mode: 0o644)
        let refused = try await DICOMTapBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                                    "--pseudonymize", "PatientID", "--key-file", open], in: dir)
        #expect(refused.status != 0)
        #expect(refused.err.contains("dicomtap proxy: the key file \(open) can be read or changed by users other than its owner (mode 0644). "
                                     + "Restrict it: chmod 600 \(open)."), "\(refused.err)")
        #expect(!refused.out.contains("listening"))
    }

    /// `dicomtap pseudonym` prints what the proxy sends (the same encoding as `Rewriter`, with a rule's prefix).
    @Test func pseudonymPrintsWhatTheProxySends() async throws {
        let dir = try TemporaryDirectory("cli-pseudonym")
        defer { dir.remove() }
        let key = try writeKeyFile(dir)
        let plain = try await DICOMTapBinary.run(["pseudonym", "--key-file", key, "1234567", "Doe^John"], in: dir)
        #expect(plain.status == 0)
        #expect(plain.out == "YYWAWDVSJ4GVA6LG\nODB5PPOKEDOTOM6B\n")

        try "attributes:\n  - { attribute: PatientID, action: pseudonymize, prefix: \"RS-\" }\n"
            .write(toFile: dir.file("rules.yaml"), atomically: true, encoding: .utf8)
        let rules = try RewriteRulesLoader.load(path: dir.file("rules.yaml"))
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var ds = Dataset()
        ds.set(element("PatientID", "1234567"))
        var notes: [RewriteNote] = []
        _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
        let sent = try #require(ds[Tag(0x0010_0020)]?.string())
        let printed = try await DICOMTapBinary.run(["pseudonym", "--key-file", key, "--rewrite", dir.file("rules.yaml"),
                                                    "--attribute", "PatientID", "1234567"], in: dir)
        #expect(printed.out == sent + "\n")
        #expect(sent.hasPrefix("RS-"))
        let uid = try await DICOMTapBinary.run(["pseudonym", "--key-file", key, "--vr", "UI", "1.2.3.4"], in: dir)
        #expect(uid.out == "2.25.47913055405808192614495281118615364750\n")

        // Recorded for a proxy's store: it maps the archive's pseudonyms back.
        let recorded = try await DICOMTapBinary.run(["pseudonym", "--key-file", key, "--attribute", "PatientName",
                                                     "--mapping-store", dir.file("map.sqlite"), "Doe^John"], in: dir)
        #expect(recorded.out == "ODB5PPOKEDOTOM6B\n")
        let record = try MappingStore(path: dir.file("map.sqlite")).original(of: "ODB5PPOKEDOTOM6B")
        #expect(record?.original == "Doe^John")
        #expect(record?.vr == .PN)
    }

    /// A weak but accepted key: the commands say so on stderr and go on.
    @Test func weakKeysAreWarnedAbout() async throws {
        let dir = try TemporaryDirectory("cli-weak-key")
        defer { dir.remove() }
        let legacy = try writeKeyFile(dir, bytes: SecretKeyTests.random16)
        let run = try await DICOMTapBinary.run(["pseudonym", "--key-file", legacy, "1234567"], in: dir)
        #expect(run.status == 0)
        #expect(run.out.count == 17)
        #expect(run.err.contains("dicomtap pseudonym: warning: the key file \(legacy) has 16 bytes; new keys need at least 32"), "\(run.err)")
        #expect(run.err.contains("head -c 32 /dev/urandom > \(legacy).new && chmod 600 \(legacy).new"))

        let zeros = try writeKeyFile(dir, bytes: Array(repeating: 0, count: 16))
        let refused = try await DICOMTapBinary.run(["pseudonym", "--key-file", zeros, "1234567"], in: dir)
        #expect(refused.status != 0)
        #expect(refused.out.isEmpty)
        #expect(refused.err.contains("the key file \(zeros) is one byte value repeated (16 × 0x00)"), "\(refused.err)")
        #expect(!refused.err.contains("RewriteError"))
    }

    /// Rewriting with responses mapped back and no --allow: one loud warning on stderr at start; none with --allow.
    @Test func rewritingWithoutAllowListWarnsOnce() async throws {
        let dir = try TemporaryDirectory("cli-open-door")
        defer { dir.remove() }
        let key = try writeKeyFile(dir)
        func start(_ extra: [String], name: String) async throws -> Subprocess {
            let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                                        "--pseudonymize", "PatientID", "--key-file", key,
                                                        "--mapping-store", dir.file("\(name).sqlite")] + extra,
                                       name: name, directory: dir)
            try await eventually("the proxy to listen", timeout: .seconds(60)) { proxy.stdout.contains("listening on") }
            return proxy
        }
        let open = try await start([], name: "open")
        defer { open.stop() }
        try await eventually("the warning") { open.stderr.contains("--allow MODALITY@10.1.2.0/24") }
        #expect(open.stderr.components(separatedBy: "WARNING").count - 1 == 1, "\(open.stderr)")
        #expect(open.stderr.contains("ANY client that can reach 127.0.0.1:"))
        #expect(open.stderr.contains("get originals back"))
        open.stop()

        let restricted = try await start(["--allow", "MODALITY@127.0.0.1"], name: "restricted")
        defer { restricted.stop() }
        #expect(restricted.stdout.contains("allowed: MODALITY@127.0.0.1/32"), "\(restricted.stdout)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(!restricted.stderr.contains("WARNING"), "\(restricted.stderr)")
    }
}
