import DICOMCore
import DIMSE
import Foundation
import Testing
@testable import DICOMCapture

/// Retrieval links with the filters on, and C-GET sub-operations counted within each C-GET's time
/// (in process: the synthetic captures of SyntheticCaptures).
@Suite struct RetrievalFilterTests {
    static func analyze(_ bytes: [UInt8], _ format: AnalysisReportWriter.Format, filter: AnalysisReportWriter.Filter = .init(),
                        workers: Int = 1) throws -> String {
        let dir = try TemporaryDirectory()
        let path = try dir.write("capture.pcap", bytes)
        final class Out: @unchecked Sendable { var text = "" }
        let out = Out()
        let writer = AnalysisReportWriter(format: format, filter: filter) { out.text += $0 }
        writer.begin(inputs: [path])
        _ = try writer.analyze(path: path, configuration: CaptureAnalyzer.Configuration(), workers: workers)
        writer.end()
        return out.text
    }

    /// `--association 1` shows the C-MOVE with its link to association 2 (left out); `--association 2` shows
    /// the sub-association and the C-MOVE it carried; other filters keep the links of what they show.
    @Test(arguments: [1, 3])
    func moveLinkSurvivesTheAssociationFilter(workers: Int) throws {
        let move = SyntheticCaptures.move()
        let first = try Self.analyze(move, .text, filter: .init(association: 1), workers: workers)
        #expect(!first.contains("=== Association 2"))
        #expect(first.contains(#"association 1 C-MOVE msg 7 "MOVESCU" -> "QRSCP" to "STORESCP", 0x0000: sub-operations to STORESCP on association 2 (2 C-STOREs)"#),
                "\(first)")
        #expect(first.contains("association 1 C-MOVE msg 8") && first.contains("no association to NOWHERE was seen"))

        let second = try Self.analyze(move, .text, filter: .init(association: 2), workers: workers)
        #expect(!second.contains("=== Association 1"))
        #expect(second.contains("association 1 C-MOVE msg 7") && second.contains("on association 2 (2 C-STOREs)"), "\(second)")
        #expect(!second.contains("msg 8"), "the C-MOVE to NOWHERE has no end in association 2")

        let json = try Self.analyze(move, .json, filter: .init(association: 2), workers: workers)
        let retrievals = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["retrievals"] as? [[String: Any]]
        #expect(retrievals?.count == 1)
        #expect((retrievals?.first?["carriedOn"] as? [[String: Any]])?.first?["association"] as? Int == 2)

        let summary = try Self.analyze(move, .summary, filter: .init(service: "C-MOVE"), workers: workers)
        #expect(summary.contains("C-MOVE          2   linked to their sub-operations' association 1, "
                                 + "refused 0xA801 with no association to the destination 1"), "\(summary)")

        let none = try Self.analyze(move, .text, filter: .init(association: 3), workers: workers)
        #expect(!none.contains("Retrievals across associations"), "no link has an end in association 3")
    }

    /// Two C-GETs on one association, two and one C-STOREs during each: each counts its own.
    @Test func getCountsTheStoresWithinItsTime() throws {
        let text = try Self.analyze(SyntheticCaptures.twoGets(), .text)
        #expect(text.contains(#"association 1 C-GET msg 1 "GETSCU" -> "QRSCP", 0x0000: sub-operations on the same association"#), "\(text)")
        let json = try Self.analyze(SyntheticCaptures.twoGets(), .json)
        let retrievals = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["retrievals"] as? [[String: Any]] ?? []
        try #require(retrievals.count == 2, "\(json)")
        let stores = retrievals.map { (($0["carriedOn"] as? [[String: Any]])?.first?["stores"] as? Int) ?? 0 }
        #expect(stores == [2, 1], "each C-GET counts the C-STOREs between its request and its final response")
        let failed = retrievals.map { (($0["carriedOn"] as? [[String: Any]])?.first?["failed"] as? Int) ?? -1 }
        #expect(failed == [0, 1])
    }
}

extension SyntheticCaptures {
    static let patientRootGet = "1.2.840.10008.5.1.4.1.2.1.3"

    /// One association (GETSCU -> QRSCP): C-GET msg 1 answered by two C-STOREs from the SCP, then C-GET msg 2
    /// by one C-STORE that the SCU refuses (0xA700), each C-GET's final response after its C-STOREs.
    static func twoGets() -> [UInt8] {
        let capture = SyntheticCapture()
        let leg = capture.connection(client: 1, clientPort: 40004, server: 2)
        leg.associate(calling: "GETSCU", called: "QRSCP", abstractSyntax: patientRootGet)
        let key = SyntheticLeg.dataSet([(0x0008_0052, .CS, "PATIENT"), (0x0010_0020, .LO, "PAT-9")])
        var storeID: UInt16 = 100
        for (get, count) in [(UInt16(1), 2), (UInt16(2), 1)] {
            leg.message(.cGetRequest(CGetRequest(messageID: get, affectedSOPClassUID: patientRootGet)), dataSet: key, from: .requestor)
            for _ in 0..<count {
                storeID += 1
                let uid = "1.2.3.9.\(storeID)"
                let image = SyntheticLeg.dataSet([(0x0008_0016, .UI, secondaryCapture), (0x0008_0018, .UI, uid), (0x0010_0020, .LO, "PAT-9")])
                leg.message(.cStoreRequest(CStoreRequest(messageID: storeID, affectedSOPClassUID: secondaryCapture, affectedSOPInstanceUID: uid)),
                            dataSet: image, from: .acceptor)
                leg.message(.cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: storeID, status: get == 1 ? 0 : 0xA700,
                                                           affectedSOPClassUID: secondaryCapture, affectedSOPInstanceUID: uid)),
                            from: .requestor)
            }
            leg.message(.cGetResponse(CGetResponse(messageIDBeingRespondedTo: get, status: get == 1 ? 0 : 0xA702,
                                                   affectedSOPClassUID: patientRootGet, completed: get == 1 ? 2 : 0,
                                                   failed: get == 1 ? 0 : 1, warning: 0)), from: .acceptor)
            capture.wait(milliseconds: 10)
        }
        leg.release()
        return capture.bytes
    }
}
