import Foundation
import NIOCore
import NIOPosix
import Testing

/// What a user meets in the field, as the built `dicomtap` says it: a port in use, an SCP that is
/// not there, a wrong path, every error line starting `dicomtap SUBCOMMAND:`, help with examples.
/// Waits are generous (a loaded machine); nothing depends on timing.
@Suite(.peers, .requires(.dicomtap))
struct UserMessagesTests {
    /// Words of library types and errno dumps a message must never show.
    static let libraryWords = ["bind(descriptor", "errno", "IOError", "NIOConnectionError", "SingleConnectionFailure",
                               "SocketAddressError", "ChannelError", "[IPv4]"]

    static func run(_ arguments: [String], in directory: TemporaryDirectory) async throws -> (out: String, err: String, status: Int32) {
        let process = try Subprocess(Peers.dicomtap, arguments, name: "dicomtap-\(UUID().uuidString.prefix(6))", directory: directory)
        let status = try await process.wait(timeout: .seconds(180))
        return (process.stdout, process.stderr, status)
    }

    static func capture(_ name: String) -> String { Peers.repository.appendingPathComponent("captures/\(name)").path }

    /// proxy, serve and replay --serve on a port something else listens on: one line saying so and
    /// what to do, a non-zero status, and nothing done before (serve has not created its store).
    @Test func portInUseStopsEveryListenerAtOnce() async throws {
        let dir = try TemporaryDirectory("cli-port-in-use")
        defer { dir.remove() }
        let held = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(held.localAddress?.port)
        let commands: [(name: String, arguments: [String])] = [
            ("proxy", ["proxy", "--listen", "127.0.0.1:\(port)", "--upstream", "127.0.0.1:1", "--log-dir", dir.file("logs")]),
            ("serve", ["serve", "--host", "127.0.0.1", "--port", "\(port)", "--db", dir.file("rpi.sqlite")]),
            ("replay", ["replay", Self.capture("rpi_general_one_match.pcapng"), "--serve", "127.0.0.1:\(port)"]),
        ]
        for (name, arguments) in commands {
            let result = try await Self.run(arguments, in: dir)
            #expect(result.status != 0, "\(name)")
            #expect(result.err.contains("dicomtap \(name): cannot listen on 127.0.0.1:\(port): address already in use; "
                                        + "choose another port or stop the program listening there"), "\(name): \(result.err)")
            #expect(result.err.split(separator: "\n").count == 1, "\(name): \(result.err)")
            for word in Self.libraryWords { #expect(!result.err.contains(word), "\(name): \(result.err)") }
            #expect(!result.out.contains("listening") && !result.out.contains("replaying"), "\(name): \(result.out)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("rpi.sqlite")), "serve created its store before listening")
        #expect(!FileManager.default.fileExists(atPath: dir.file("logs")), "the proxy made its log folder before listening")
        try await held.close()
    }

    /// query and replay --to an address nothing listens on: `cannot connect to HOST:PORT: connection refused`.
    @Test func unreachableSCPIsSaidInWords() async throws {
        let dir = try TemporaryDirectory("cli-refused")
        defer { dir.remove() }
        let port = try freePort()  // nothing listens there
        let query = try await Self.run(["query", "127.0.0.1", "\(port)", "--patient-id", "PAT-0001"], in: dir)
        #expect(query.status == 1)
        #expect(query.err == "dicomtap query: cannot connect to 127.0.0.1:\(port): connection refused\n", "\(query.err)")

        let replay = try await Self.run(["replay", Self.capture("rpi_general_one_match.pcapng"), "--to", "127.0.0.1:\(port)"], in: dir)
        #expect(replay.status == 2)
        #expect(replay.out.contains("cannot connect to 127.0.0.1:\(port): connection refused"), "\(replay.out)")
        for word in Self.libraryWords {
            #expect(!query.err.contains(word), "\(query.err)")
            #expect(!(replay.out + replay.err).contains(word), "\(replay.out)\(replay.err)")
        }

        let unknown = try await Self.run(["query", "nosuch.invalid", "104", "--patient-id", "PAT-0001"], in: dir)
        #expect(unknown.status == 1)
        #expect(unknown.err.hasPrefix("dicomtap query: cannot connect to nosuch.invalid:104: host not found"), "\(unknown.err)")
    }

    /// Path options are checked before anything starts, in words naming the option.
    @Test func pathOptionsAreCheckedAtStart() async throws {
        let dir = try TemporaryDirectory("cli-paths")
        defer { dir.remove() }
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: dir.file("rec.pcap")))

        let record = try await Self.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                         "--record", dir.file("rec.pcap")], in: dir)
        #expect(record.status != 0)
        #expect(record.err.hasPrefix("dicomtap proxy: --record \(dir.file("rec.pcap")): a file, not a folder"), "\(record.err)")
        #expect(!record.out.contains("listening"))

        let logDir = try await Self.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1",
                                         "--log-dir", dir.file("rec.pcap/logs")], in: dir)
        #expect(logDir.status != 0)
        #expect(logDir.err.hasPrefix("dicomtap proxy: --log-dir \(dir.file("rec.pcap/logs")): cannot be created: "
                                     + "\(dir.file("rec.pcap")) is not a folder"), "\(logDir.err)")

        let db = try await Self.run(["serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.path], in: dir)
        #expect(db.status != 0)
        #expect(db.err.hasPrefix("dicomtap serve: --db \(dir.path): a folder, not a file"), "\(db.err)")

        let imports = try await Self.run(["serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.file("rpi.sqlite"),
                                          "--import", dir.file("nosuch")], in: dir)
        #expect(imports.status != 0)
        #expect(imports.err.hasPrefix("dicomtap serve: --import \(dir.file("nosuch")): no such file or folder"), "\(imports.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("rpi.sqlite")))

        // Named once, not twice.
        let replay = try await Self.run(["replay", "nosuch.pcap", "--to", "127.0.0.1:1"], in: dir)
        #expect(replay.status == 2)
        #expect(replay.err == "dicomtap replay: nosuch.pcap: no such file\n", "\(replay.err)")
        let analyze = try await Self.run(["analyze", "nosuch.pcap"], in: dir)
        #expect(analyze.status == 2)
        #expect(analyze.err == "dicomtap analyze: nosuch.pcap: no such file\n", "\(analyze.err)")
    }

    /// Every subcommand's error lines start `dicomtap SUBCOMMAND: `, dump's and the parser's included.
    @Test func errorLinesStartWithTheSubcommand() async throws {
        let dir = try TemporaryDirectory("cli-prefix")
        defer { dir.remove() }
        let missing = try await Self.run(["dump", "nosuch.dcm"], in: dir)
        #expect(missing.status != 0)
        #expect(missing.err == "dicomtap dump: nosuch.dcm: no such file\n", "\(missing.err)")

        let notDICOM = try await Self.run(["dump", Self.capture("aborted.pcapng")], in: dir)
        #expect(notDICOM.status != 0)
        #expect(notDICOM.err.hasPrefix("dicomtap dump: \(Self.capture("aborted.pcapng")): not DICOM"), "\(notDICOM.err)")

        let validation = try await Self.run(["analyze", "--threads", "0", Self.capture("aborted.pcapng")], in: dir)
        #expect(validation.status != 0)
        #expect(validation.err.hasPrefix("dicomtap analyze: --threads must be at least 1\n"), "\(validation.err)")

        for result in [missing, notDICOM, validation] { #expect(!result.err.contains("Error:"), "\(result.err)") }
    }

    /// serve says what it imported once: `imported 10 patient record(s) ...`, not `imported: imported`.
    @Test func serveSaysWhatItImported() async throws {
        let dir = try TemporaryDirectory("cli-imported")
        defer { dir.remove() }
        let serve = try Subprocess(Peers.dicomtap, ["serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.file("rpi.sqlite"),
                                                    "--import", Peers.repository.appendingPathComponent("demo").path],
                                   name: "serve", directory: dir)
        defer { serve.stop() }
        try await eventually("serve to listen", timeout: .seconds(180)) { serve.stdout.contains("listening on") }
        #expect(serve.stdout.hasPrefix("imported 10 patient record(s) from "), "\(serve.stdout)")
        #expect(!serve.stdout.contains("imported: "))
    }

    /// Each subcommand's help ends its discussion with EXAMPLES of `dicomtap SUBCOMMAND`, whose
    /// shipped files exist; the proxy's names the files --log-dir and --record write.
    @Test func helpShowsExamples() async throws {
        let dir = try TemporaryDirectory("cli-help")
        defer { dir.remove() }
        for name in ["analyze", "demo", "dump", "proxy", "pseudonym", "query", "replay", "serve"] {
            let help = try await Self.run([name, "--help"], in: dir)
            #expect(help.status == 0)
            let examples = try #require(help.out.range(of: "\nEXAMPLES"), "\(name) --help has no EXAMPLES")
            let end = help.out.range(of: "\nUSAGE:")?.lowerBound ?? help.out.endIndex
            let text = help.out[examples.upperBound..<max(end, examples.upperBound)]
            #expect(text.contains("  dicomtap \(name) "), "\(name): \(text)")
            // Shipped files named in the examples exist (captures/*.pcapng expands to some).
            for word in text.split(whereSeparator: \.isWhitespace) where !word.contains("*")
                && ["captures/", "tools/", "demo/"].contains(where: { word.hasPrefix($0) }) {
                #expect(FileManager.default.fileExists(atPath: Peers.repository.appendingPathComponent(String(word)).path),
                        "\(name) --help names \(word), which is not in the repository")
            }
        }
        let proxy = try await Self.run(["proxy", "--help"], in: dir)
        for file in ["events.jsonl", "START-ID-CALLING-CALLED.txt", "START-ID-CALLING-CALLED.pcap", "20260101-101500-0001-MODALITY-ARCHIVE.txt"] {
            #expect(proxy.out.contains(file), "proxy --help does not name \(file)")
        }
    }
}
