import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import Testing
@testable import DICOMCapture

/// `analyze` of a C-FIND with more responses than `--max-kept-responses`: the counts stay exact in
/// every format, and each says what was not kept.
@Suite struct KeptResponsesAnalyzeTests {
    static let kept = 5
    static let matches = 25

    /// One association: C-FIND msg 3 answered by `matches` pending responses (patients P-1 ... P-25), then Success.
    static func manyMatches() -> [UInt8] {
        let capture = SyntheticCapture()
        let leg = capture.connection(client: 1, clientPort: 40010, server: 2)
        let find = SyntheticCaptures.patientRootFind
        leg.associate(calling: "FINDSCU", called: "QRSCP", abstractSyntax: find)
        leg.message(.cFindRequest(CFindRequest(messageID: 3, affectedSOPClassUID: find)),
                    dataSet: SyntheticLeg.dataSet([(0x0008_0052, .CS, "PATIENT"), (0x0010_0020, .LO, "P-*")]), from: .requestor)
        for n in 1...matches {
            leg.message(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: 3, status: 0xFF00, affectedSOPClassUID: find, hasDataSet: true)),
                        dataSet: SyntheticLeg.dataSet([(0x0008_0052, .CS, "PATIENT"), (0x0010_0020, .LO, "P-\(n)")]), from: .acceptor)
        }
        leg.message(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: 3, status: 0, affectedSOPClassUID: find)), from: .acceptor)
        leg.release()
        return capture.bytes
    }

    static func analyze(_ format: AnalysisReportWriter.Format, filter: AnalysisReportWriter.Filter = .init(),
                        kept: Int = kept) throws -> String {
        let dir = try TemporaryDirectory()
        let path = try dir.write("capture.pcap", manyMatches())
        final class Out: @unchecked Sendable { var text = "" }
        let out = Out()
        let writer = AnalysisReportWriter(format: format, filter: filter) { out.text += $0 }
        var configuration = CaptureAnalyzer.Configuration()
        configuration.observer.maximumKeptResponses = kept
        writer.begin(inputs: [path])
        _ = try writer.analyze(path: path, configuration: configuration)
        writer.end()
        return out.text
    }

    static let notKept = matches + 1 - (kept + 1)
    static let finding = "responses-truncated: C-FIND-RQ message 3: \(notKept) responses after the first \(kept) counted but not kept "
        + "(\(matches + 1) in all); raise --max-kept-responses to see them"

    @Test func textCountsEveryMatchAndSaysWhatWasNotKept() throws {
        let text = try Self.analyze(.text)
        #expect(text.contains("C-FIND msg 3 Patient Root Query/Retrieve Information Model - FIND: 0x0000 Success: success (PS3.7 Annex C), "
                              + "\(Self.matches) matches, \(Self.matches + 1) responses (\(Self.notKept) not kept), "), "\(text)")
        #expect(text.contains("warning " + Self.finding), "\(text)")
        // The dump is written as the responses come: every one is in it.
        #expect(text.components(separatedBy: "C-FIND-RSP").count - 1 == Self.matches + 1, "\(text)")
    }

    @Test func jsonCountsEveryMatchAndListsTheKeptOnes() throws {
        let json = try Self.analyze(.json)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let association = try #require((document["associations"] as? [[String: Any]])?.first)
        let exchange = try #require((association["exchanges"] as? [[String: Any]])?.first)
        #expect(exchange["matches"] as? Int == Self.matches)
        #expect(exchange["responseCount"] as? Int == Self.matches + 1)
        #expect(exchange["responsesNotKept"] as? Int == Self.notKept)
        #expect(exchange["pendingResponses"] as? Int == Self.matches)
        let responses = try #require(exchange["responses"] as? [[String: Any]])
        #expect(responses.count == Self.kept + 1)
        #expect(responses.last?["status"] as? String == "0x0000")
        #expect(exchange["finalStatus"] as? String == "0x0000")
        let findings = (association["findings"] as? [[String: Any]]) ?? []
        #expect(findings.filter { $0["code"] as? String == "responses-truncated" }.count == 1, "\(findings)")
    }

    @Test func summaryAndHTMLCountEveryResponse() throws {
        let summary = try Self.analyze(.summary)
        #expect(summary.contains("responses-truncated"), "\(summary)")
        let html = try Self.analyze(.html)
        #expect(html.contains("\(Self.notKept) more responses"), "the ladder says what is missing")
        #expect(html.contains("counted, not kept: raise --max-kept-responses to see them"))
        #expect(html.contains("\(Self.matches) match"), "\(html.count)")
    }

    /// The patient filter sees every response as it comes, also those not kept (P-20 is past the kept ones).
    @Test func patientFilterFindsAResponseThatWasNotKept() throws {
        let text = try Self.analyze(.text, filter: .init(patientID: "P-20"))
        #expect(text.contains("=== Association 1"), "\(text)")
        let json = try Self.analyze(.json, filter: .init(patientID: "P-20"))
        #expect(json.contains("\"responsesNotKept\""))
        let none = try Self.analyze(.json, filter: .init(patientID: "P-99"))
        #expect(!none.contains("\"exchanges\""))
    }

    /// Under the limit the output is what it always was: no new keys, no new words.
    @Test func underTheLimitNothingChanges() throws {
        let text = try Self.analyze(.text, kept: 1000)
        #expect(!text.contains("not kept") && !text.contains("responses-truncated"))
        let json = try Self.analyze(.json, kept: 1000)
        #expect(!json.contains("responsesNotKept") && !json.contains("responseCount"))
    }
}
