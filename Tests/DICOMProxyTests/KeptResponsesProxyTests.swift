import DICOMCore
import DICOMInspect
import Foundation
import Testing
@testable import DICOMProxy

/// pynetdicom's SCU -> proxy -> pynetdicom's SCP answering one C-FIND with thousands of matches,
/// the proxy keeping only a few responses per exchange (`--max-kept-responses`).
@Suite(.peers, .requires(.pynetdicom))
struct KeptResponsesProxyTests {
    /// pynetdicom sends about 200 responses a second (its DUL loop, not the proxy): 3,000 keep the test short.
    static let matches = 3_000
    static let kept = 50

    /// The SCU receives every match (the relay forwards each response whatever the observer
    /// keeps); the console and events.jsonl give the exact count and the truncation finding once.
    @Test func everyResponseIsRelayedAndCountedFewAreKept() async throws {
        let dir = try TemporaryDirectory("kept")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--matches", String(Self.matches), "--nodelay"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let logDir = dir.file("logs")
        try await withProxy(upstream: scpPort, configure: {
            $0.logDirectory = logDir
            $0.observer.maximumKeptResponses = Self.kept
        }) { proxy in
            let scu = try Subprocess.python(["findmany", String(proxy.port)], name: "findmany", directory: dir)
            #expect(try await scu.wait(timeout: .seconds(300)) == 0, "\(scu.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(scu.stdout.utf8)) as? [String: Any], "\(scu.stdout)")
            #expect(result["pending"] as? Int == Self.matches)
            #expect(result["final"] as? Int == 0)
            #expect(result["lastPatientID"] as? String == "PID-\(Self.matches)")
            try await eventually("the association's end") { proxy.logs.contains("END") }

            let exchange = try #require(proxy.logs.lines.current.first { $0.contains("C-FIND msg") }, "\(proxy.logs.text)")
            #expect(exchange.contains("0x0000 Success"))
            #expect(exchange.contains("\(Self.matches) matches"), "\(exchange)")
            let notKept = Self.matches + 1 - (Self.kept + 1)
            let truncation = proxy.logs.lines.current.filter { $0.contains("responses-truncated") }
            #expect(truncation.count == 1, "\(proxy.logs.text)")
            #expect(truncation.first?.contains("!! warning responses-truncated: C-FIND-RQ message 1: \(notKept) responses after the first "
                                               + "\(Self.kept) counted but not kept (\(Self.matches + 1) in all)") == true, "\(truncation)")
        }

        let events = try jsonLines(logDir + "/events.jsonl")
        let exchange = try #require(events.first { $0["type"] as? String == "exchange" })
        #expect(exchange["matches"] as? Int == Self.matches)
        #expect(exchange["responseCount"] as? Int == Self.matches + 1)
        #expect((exchange["responses"] as? [Any])?.count == Self.kept + 1)
        // Each response is handed to the logs as it comes: every one is a message event.
        let responses = events.filter { $0["type"] as? String == "message" && $0["command"] as? String == "C-FIND-RSP" }
        #expect(responses.count == Self.matches + 1)
        #expect(events.filter { $0["type"] as? String == "finding" && $0["code"] as? String == "responses-truncated" }.count == 1)
    }
}
