import DICOMCapture
import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import NIOCore
import Testing

/// What a user reads in `analyze`'s output, as found in the field: association numbers over several
/// inputs, the end of a capture told from a close, a small snapshot length said once, and exchange
/// lines that say what the request asked and what a retrieval did.
@Suite(.requires(.dicomtap))
struct FieldReportTests {
    let command = AnalyzeCommandTests()

    /// Three captures in one run: associations are numbered 1, 2, 3 ... over all of them (in input
    /// order, then start order), each names its input, and `--association N` finds N in any input.
    @Test func severalInputsAreNumberedInOneSequence() async throws {
        let inputs = ["captures/dcmtk_echo.pcapng", "captures/concurrent.pcapng", "captures/rejected.pcapng"]
        let text = try await command.analyze(inputs)
        #expect(text.status == 0, "\(text.stderr)")
        let headers = text.stdout.split(separator: "\n").filter { $0.hasPrefix("=== Association ") }
        // How many associations each input holds, by the manifest's independent reference reader.
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf:
            AnalyzeCapturesTests.captures.appendingPathComponent("manifest.json"))) as? [String: Any])
        let entries = try #require(manifest["captures"] as? [[String: Any]])
        let counts = try inputs.map { name in
            let entry = try #require(entries.first { "captures/" + ($0["name"] as? String ?? "") == name })
            return try #require((entry["expected"] as? [String: Any])?["associations"] as? Int)
        }
        let total = counts.reduce(0, +)
        #expect(headers.count == total)
        var n = 0
        for (input, count) in zip(inputs, counts) {
            for _ in 0..<count {
                n += 1
                #expect(headers[n - 1].hasPrefix("=== Association \(n) in \(input): "), "\(headers[n - 1])")
            }
        }

        // The last association (the rejected one, in the third input) by its number.
        let one = try await command.analyze(inputs + ["--association", String(total)])
        #expect(one.status == 0)
        #expect(one.stdout.hasPrefix("=== Association \(total) in captures/rejected.pcapng: "), "\(one.stdout)")
        #expect(one.stdout.contains("rejected"))
        #expect(!one.stdout.contains("No association matches"))

        // JSON: the same numbers, each with its input.
        let json = try await command.analyze(["--format", "json"] + inputs)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let associations = try #require(document["associations"] as? [[String: Any]])
        #expect(associations.map { $0["index"] as? Int } == Array(1...total).map { $0 })
        #expect(associations.map { $0["input"] as? String } == zip(inputs, counts).flatMap { Array(repeating: $0, count: $1) })

        // One input: the text header does not repeat the file name, the JSON still names it.
        let single = try await command.analyze(["captures/dcmtk_echo.pcapng"])
        #expect(single.stdout.hasPrefix("=== Association 1: "))
    }

    /// A capture that ends while an association is open says so; a real close without release is
    /// still told as such, and a response cut inside its data set keeps its status.
    @Test func captureEndIsNotAClose() async throws {
        let cut = try await command.analyze(["captures/truncated.pcapng"])
        #expect(cut.stdout.contains("still open when the capture ended"))
        #expect(!cut.stdout.contains("connection closed without release"))
        // The pending response whose data set the end of the capture cut: its status and what happened.
        #expect(cut.stdout.contains("Status: 0xFF00 Pending"))
        #expect(cut.stdout.contains("Data set: cut off by the end of the capture"))
    }

    /// A capture taken with a small snapshot length: said once (on stderr, with the other warnings),
    /// before the dump whose stream gaps it explains, and in the JSON's warnings.
    @Test func smallSnapshotLengthIsSaidOnceAtTheTop() async throws {
        let text = try await command.analyze(["captures/snaplen.pcap"])
        #expect(text.status == 0)
        let expected = "dicomtap analyze: warning: captures/snaplen.pcap: 3 packets were captured shorter than on the wire (snap length 200)"
        #expect(text.stderr.hasPrefix(expected), "\(text.stderr.prefix(300))")
        #expect(text.stderr.components(separatedBy: "captured shorter than on the wire").count == 2, "said once")
        #expect(text.stderr.contains("tcpdump -s 0"))
        #expect(!text.stdout.contains("captured shorter"), "warnings go to stderr")

        let json = try await command.analyze(["--format", "json", "captures/snaplen.pcap"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let warnings = try #require(document["warnings"] as? [[String: Any]])
        #expect(warnings.contains { ($0["message"] as? String)?.hasPrefix("3 packets were captured shorter than on the wire (snap length 200)") == true })
        #expect(json.stderr.components(separatedBy: "captured shorter than on the wire").count == 2, "said once")

        // A capture read from a pipe (read once): analysed, the warning then comes at the end.
        let piped = try await command.run("/bin/sh", ["-c", "cat captures/snaplen.pcap | '\(Peers.dicomtap)' analyze /dev/stdin"])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.hasPrefix("=== Association 1: "))
        #expect(piped.stderr.contains("3 packets were captured shorter than on the wire"))

        // A capture whose packets are whole has no such warning.
        let whole = try await command.analyze(["captures/rpi_general_one_match.pcapng"])
        #expect(!whole.stderr.contains("captured shorter"))
    }
}
