import Foundation
import Testing

/// `dicomtap analyze` as a user runs it: stdout, stderr and exit status of the executable.
@Suite(.requires(.dicomtap))
struct AnalyzeCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func analyze(_ arguments: [String]) async throws -> Run {
        try await run(Peers.dicomtap, ["analyze"] + arguments)
    }

    func run(_ executable: String, _ arguments: [String]) async throws -> Run {
        try await Self.run(executable, arguments)
    }

    /// `executable` run in the repository's root with stdin closed (and `environment` added to ours): its exit
    /// status, stdout and stderr.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        let run = try await runProgram(executable, arguments, workingDirectory: AnalyzeCapturesTests.root.path, environment: environment)
        return Run(status: run.status, stdout: run.stdout, stderr: run.stderr)
    }

    func golden(_ name: String) -> String {
        let url = AnalyzeCapturesTests.captures.appendingPathComponent("expected/\(name)")
        return String(decoding: FileManager.default.contents(atPath: url.path) ?? Data(), as: UTF8.self)
    }

    /// The text dump and the JSON document equal the golden files with the default threads, one
    /// thread and more threads than associations.
    @Test(arguments: ["concurrent.pcapng", "rpi_general_one_match.pcapng", "aborted.pcapng"])
    func printsTheGoldenOutput(_ name: String) async throws {
        try #require(FileManager.default.fileExists(atPath: AnalyzeCapturesTests.captures.appendingPathComponent(name).path),
                     "captures/\(name) is missing")
        for threads in [nil, "1", "5"] {
            let extra = threads.map { ["--threads", $0] } ?? []
            let text = try await analyze(["captures/" + name] + extra)
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout == golden(name + ".txt"), "text, threads \(threads ?? "default")")
            let json = try await analyze(["--format", "json", "captures/" + name] + extra)
            #expect(json.status == 0, "\(json.stderr)")
            #expect(json.stdout == golden(name + ".json"), "json, threads \(threads ?? "default")")
        }
    }

    @Test func summaryIsTheSameOnOneThreadAndMany() async throws {
        let captures = AnalyzeCapturesTests.manifest().map { "captures/" + $0.name }
        let one = try await analyze(["--summary", "--threads", "1"] + captures)
        let many = try await analyze(["--summary", "--threads", "4"] + captures)
        #expect(one.status == 0)
        #expect(many.status == 0)
        #expect(one.stdout == many.stdout)
        #expect(one.stdout.contains("Service response time"))
    }

    @Test func notACaptureExitsWithStatus2AndOneLine() async throws {
        let run = try await analyze(["captures/rpi-cfind-response.dcm"])
        #expect(run.status == 2)
        #expect(run.stderr.hasPrefix("dicomtap analyze: "))
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
    }

    /// A warning about a capture goes to stderr in every format; stdout has only the report.
    @Test func warningsGoToStderr() async throws {
        let warning = "dicomtap analyze: warning: captures/truncated.pcapng: truncated pcapng dump file"
        for format in [["--summary"], [], ["--format", "json"]] {
            let run = try await analyze(format + ["captures/truncated.pcapng"])
            #expect(run.status == 0)
            #expect(run.stderr.hasPrefix(warning), "\(format): \(run.stderr)")
            #expect(!run.stdout.contains("warning: captures/"), "\(format): \(run.stdout)")
        }
        // JSON keeps them in the document too.
        let json = try await analyze(["--format", "json", "captures/truncated.pcapng"])
        #expect(json.stdout.contains("\"message\": \"truncated pcapng dump file"), "\(json.stdout)")
    }

    @Test func threadsMustBePositive() async throws {
        let run = try await analyze(["--threads", "0", "captures/aborted.pcapng"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--threads"))
        #expect(run.stdout.isEmpty)
    }
}
