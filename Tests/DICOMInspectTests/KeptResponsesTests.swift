import DICOMCore
import DICOMPeerSupport
import DICOMUL
import DIMSE
import NIOCore
import Testing
@testable import DICOMInspect

/// An open exchange keeps at most `maximumKeptResponses` responses and the latest: an SCP that
/// streams 70,000 pending C-FIND responses, or one that never sends the final one, does not grow
/// the observer, and the counts it reports stay exact. (100,000 responses in all: enough to be a
/// thousand times the limit, few enough for a debug build; `tools/bench_analyze.sh` runs a million.)
@Suite(.cpuHeavy) struct KeptResponsesTests {
    static let patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
    static let kept = 100

    /// The bytes of one whole C-FIND message (its P-DATA-TF PDUs), made once and fed many times.
    static func pdus(_ command: DIMSECommand, dataSet: ByteBuffer?) throws -> ByteBuffer {
        var out = ByteBuffer()
        for p in try MessageFragmenter(maximumLength: 16384).fragment(command, dataSet: dataSet, presentationContextID: 1) {
            var encoded = PDU.dataTransfer(p).encoded()
            out.writeBuffer(&encoded)
        }
        return out
    }

    static func pending(to id: UInt16, patient: String) throws -> ByteBuffer {
        try pdus(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: id, status: 0xFF00, affectedSOPClassUID: patientRootFind,
                                              hasDataSet: true)),
                 dataSet: SyntheticAssociation.identifier(patientID: patient, withTemplate: false))
    }

    @Test func seventyThousandPendingResponsesThenThirtyThousandThatNeverEnd() throws {
        var configuration = AssociationObserver.Configuration()
        configuration.maximumKeptResponses = Self.kept
        var a = SyntheticAssociation(observer: AssociationObserver(configuration: configuration))
        a.associate()
        a.events = []
        let count = 70_000
        let unfinished = 30_000
        let request = try Self.pdus(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: Self.patientRootFind)),
                                    dataSet: SyntheticAssociation.identifier(patientID: "PAT*", withTemplate: false))
        var ended: [Exchange] = []
        var responseEvents = 0
        var truncations: [Finding] = []
        func consume(_ events: [ObservationEvent]) {
            for event in events {
                switch event {
                case .message(let m, let index) where index != nil && m.commandField == .cFindResponse: responseEvents += 1
                case .exchangeEnded(let ex): ended.append(ex)
                case .finding(let f) where f.code == .responsesTruncated: truncations.append(f)
                default: break
                }
            }
        }

        // Exchange 0: 70,000 matches, then Success.
        consume(a.observer.receive(request, from: .requestor, at: Timestamp(nanoseconds: 1)))
        let response = try Self.pending(to: 1, patient: "PAT-1")
        var boundAfterKept: (messages: Int, bytes: Int)?
        for i in 1...count {
            consume(a.observer.receive(response, from: .acceptor, at: Timestamp(nanoseconds: Int64(i + 1))))
            if i == Self.kept + 1 { boundAfterKept = a.observer.retainedByOpenExchanges }
        }
        // What the open exchange holds stopped growing once it held K responses and the latest.
        let bound = try #require(boundAfterKept)
        #expect(bound.messages == 1 + Self.kept + 1)
        #expect(a.observer.retainedByOpenExchanges.messages == bound.messages)
        #expect(a.observer.retainedByOpenExchanges.bytes == bound.bytes)
        #expect(responseEvents == count, "every response is handed over as it comes")
        #expect(truncations.isEmpty, "said once, when the exchange ends")
        let final = try Self.pdus(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: 1, status: 0, affectedSOPClassUID: Self.patientRootFind)),
                                  dataSet: nil)
        consume(a.observer.receive(final, from: .acceptor, at: Timestamp(nanoseconds: Int64(count + 2))))
        #expect(a.observer.retainedByOpenExchanges.messages == 0)

        let first = try #require(ended.first)
        #expect(first.responseCount == count + 1)
        #expect(first.matchCount == count)
        #expect(first.responseCounts.pending == count)
        #expect(first.responseCounts.count(.success) == 1)
        #expect(first.responseCounts.withDataSet == count && first.responseCounts.withoutDataSet == 1)
        #expect(first.responses.count == Self.kept + 1)
        #expect(first.responsesNotKept == count - Self.kept)
        #expect(first.finalResponse?.status?.code == 0x0000, "the final response is kept")
        #expect(first.firstResponseTime == Timestamp(nanoseconds: 2))
        #expect(truncations.count == 1)
        #expect(truncations.first?.exchangeIndex == 0)
        #expect(truncations.first?.message == "C-FIND-RQ message 1: \(count - Self.kept) responses after the first \(Self.kept) "
                + "counted but not kept (\(count + 1) in all); raise --max-kept-responses to see them")

        // Exchange 1: pending responses and no final one before the connection closes.
        let request2 = try Self.pdus(.cFindRequest(CFindRequest(messageID: 2, affectedSOPClassUID: Self.patientRootFind)),
                                     dataSet: SyntheticAssociation.identifier(patientID: "PAT*", withTemplate: false))
        consume(a.observer.receive(request2, from: .requestor, at: Timestamp(nanoseconds: 1_000_000)))
        let response2 = try Self.pending(to: 2, patient: "PAT-2")
        for i in 1...unfinished {
            consume(a.observer.receive(response2, from: .acceptor, at: Timestamp(nanoseconds: Int64(1_000_000 + i))))
        }
        #expect(a.observer.retainedByOpenExchanges.messages == bound.messages)
        #expect(a.observer.retainedByOpenExchanges.bytes == bound.bytes)
        consume(a.observer.connectionClosed(at: Timestamp(nanoseconds: 2_000_000)))

        try #require(ended.count == 2)
        let open = ended[1]
        #expect(!open.isComplete)
        #expect(open.responseCount == unfinished && open.matchCount == unfinished)
        #expect(open.responsesNotKept == unfinished - Self.kept - 1)
        #expect(open.responses.count == Self.kept + 1)
        #expect(open.responses.last?.time == Timestamp(nanoseconds: Int64(1_000_000 + unfinished)), "the latest response is kept")
        #expect(truncations.map(\.exchangeIndex) == [0, 1], "once per exchange")
        #expect(a.observer.findings.filter { $0.code == .unansweredRequest }.count == 1)
        #expect(a.observer.findings.filter { $0.severity == .error }.isEmpty, "\(a.observer.findings)")
    }

    /// At the limit nothing is dropped and nothing is said: K responses and the final one are all kept.
    @Test func exactlyTheLimitIsKeptWhole() throws {
        var configuration = AssociationObserver.Configuration.keepingExchanges
        configuration.maximumKeptResponses = 3
        var a = SyntheticAssociation(observer: AssociationObserver(configuration: configuration))
        a.associate()
        a.find(id: 5)
        for n in 1...3 { a.respond(to: 5, status: 0xFF00, dataSet: SyntheticAssociation.identifier(patientID: "P\(n)")) }
        a.respond(to: 5, status: 0)
        let ex = try #require(a.observer.exchanges.first)
        #expect(ex.responses.count == 4 && ex.responsesNotKept == 0)
        #expect(!a.codes().contains(.responsesTruncated))
    }

    /// The Relevant Patient Information rule counts pending responses past the limit too.
    @Test func multiplePendingRuleUsesTheCounts() throws {
        var configuration = AssociationObserver.Configuration.keepingExchanges
        configuration.maximumKeptResponses = 1
        var a = SyntheticAssociation(observer: AssociationObserver(configuration: configuration))
        a.associate()
        a.find(id: 9)
        for n in 1...4 { a.respond(to: 9, status: 0xFF00, dataSet: SyntheticAssociation.identifier(patientID: "P\(n)")) }
        a.respond(to: 9, status: 0xC100)
        let ex = try #require(a.observer.exchanges.first)
        #expect(ex.responses.count == 2 && ex.responseCount == 5 && ex.matchCount == 4)
        #expect(a.codes().filter { $0 == .multiplePendingResponses }.count == 1)
        #expect(a.codes().filter { $0 == .responsesTruncated }.count == 1)
    }
}
