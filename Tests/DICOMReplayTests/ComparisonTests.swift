import DICOMCore
import DICOMInspect
import DIMSE
import NIOCore
import Testing
@testable import DICOMReplay

/// A copy of a recorded response with another status and/or data set, as a new peer might answer.
func altered(_ m: RecordedMessage, status: UInt16? = nil, dataSet: Dataset?? = .none) throws -> RecordedMessage {
    var out = m
    if let status {
        guard case .cFindResponse(var r) = m.command else { throw TestFailure("not a C-FIND-RSP") }
        r.status = status
        out.command = .cFindResponse(r)
    }
    if case .some(let ds) = dataSet {
        out.dataSet = ds
        out.dataSetBytes = try ds.map { try DatasetEncoder().encode($0, encoding: $0.encoding) }
    }
    return out
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func pn(_ tag: UInt32, _ value: String) -> DataElement { DataElement(tag: DICOMCore.Tag(tag), vr: .PN, string: value)! }

@Suite struct ComparisonTests {
    let comparer = ResponseComparer()

    func rpi() throws -> RecordedRequest {
        try #require(try Captures.load("rpi_general_one_match.pcapng").associations.first?.requests.first)
    }

    @Test func identicalResponsesMatch() throws {
        let r = try rpi()
        let result = comparer.compare(r, replayedMessageID: 7, replayed: r.responses)
        #expect(result.matched, "\(result.differences)")
        #expect(result.recordedPending == 1 && result.replayedPending == 1)
        #expect(result.recordedFinalStatus == 0x0000)
        #expect(result.replayedMessageID == 7)
    }

    @Test func changedNameIsNamedWithItsPath() throws {
        let r = try rpi()
        var identifier = try #require(r.responses[0].dataSet)
        identifier.set(pn(0x0010_0010, "Doe^Jane"))
        let replayed = [try altered(r.responses[0], dataSet: identifier), r.responses[1]]
        let result = comparer.compare(r, replayedMessageID: 1, replayed: replayed)
        #expect(result.differences.count == 1)
        let d = try #require(result.differences.first)
        #expect(d.kind == .value)
        #expect(d.response == "pending 1")
        #expect(d.path?.steps.map(\.tag) == [DICOMCore.Tag(0x0010_0010)])
        #expect(d.recorded?.contains("Doe^John") == true)
        #expect(d.replayed?.contains("Doe^Jane") == true)
        #expect(d.description.contains("(0010,0010) PatientName"))
    }

    @Test func nestedDifferenceAndIgnoreAtAnyDepth() throws {
        let r = try rpi()
        var identifier = try #require(r.responses[0].dataSet)
        // Change the first content item's value inside Content Sequence (0040,A730).
        let contentTag = DICOMCore.Tag(0x0040_A730)
        var content = try #require(identifier[contentTag])
        guard case .sequence(var items) = content.value, !items.isEmpty else { throw TestFailure("no content items") }
        var changedTag: DICOMCore.Tag?
        for e in items[0].dataset.elements where e.vr == .UT || e.vr == .DT || e.vr == .CS {
            var first = items[0].dataset
            first.set(DataElement(tag: e.tag, vr: e.vr, string: e.vr == .DT ? "20991231235959" : "CHANGED")!)
            items[0].dataset = first
            changedTag = e.tag
            break
        }
        let tag = try #require(changedTag)
        content.value = .sequence(items)
        identifier.set(content)
        let replayed = [try altered(r.responses[0], dataSet: identifier), r.responses[1]]

        let result = comparer.compare(r, replayedMessageID: 1, replayed: replayed)
        let d = try #require(result.differences.first)
        #expect(result.differences.count == 1, "\(result.differences)")
        #expect(d.path?.steps == [ElementPath.Step(tag: contentTag, item: 0), ElementPath.Step(tag: tag)])
        #expect(d.path?.description.hasPrefix("(0040,A730) ContentSequence[1] > ") == true)

        let ignoring = ResponseComparer(options: ComparisonOptions(ignoredTags: [tag]))
        #expect(ignoring.compare(r, replayedMessageID: 1, replayed: replayed).matched)
    }

    @Test func statusAndPendingCount() throws {
        let r = try rpi()
        // The new SCP answers "more than one match" (0xC100) without any pending response.
        let replayed = [try altered(r.responses[1], status: 0xC100, dataSet: .some(nil))]
        let result = comparer.compare(r, replayedMessageID: 1, replayed: replayed)
        let kinds = result.differences.map(\.kind)
        #expect(kinds.contains(.pendingCount))
        #expect(kinds.contains(.missingResponse))
        #expect(kinds.contains(.status))
        #expect(kinds.contains(.dataSetPresence))
        let status = try #require(result.differences.first { $0.kind == .status })
        #expect(status.recorded == "0x0000 Success")
        #expect(status.replayed == "0xC100 Failure")
        #expect(result.replayedFinalStatus == 0xC100)
    }

    @Test func missingAndExtraElements() throws {
        let r = try rpi()
        var identifier = try #require(r.responses[0].dataSet)
        identifier.remove(DICOMCore.Tag(0x0010_0010))
        identifier.set(DataElement(tag: DICOMCore.Tag(0x0010_0040), vr: .CS, string: "M")!)
        let result = comparer.compare(r, replayedMessageID: 1, replayed: [try altered(r.responses[0], dataSet: identifier), r.responses[1]])
        #expect(Set(result.differences.map(\.kind)) == [.missingElement, .extraElement])
    }

    /// Byte order and padding are encoding details: the same values in Explicit VR Big Endian compare equal.
    @Test func transferSyntaxChangeIsNotADifference() throws {
        let r = try rpi()
        let identifier = try #require(r.responses[0].dataSet)
        let bytes = try DatasetEncoder().encode(identifier, encoding: .explicitBigEndian)
        let bigEndian = try DatasetDecoder(options: .lenient).decode(bytes, encoding: .explicitBigEndian)
        #expect(DatasetComparer().differences(recorded: identifier, replayed: bigEndian).isEmpty)
    }

    @Test func matchOrder() throws {
        let r = try #require(try Captures.load("explicit_le.pcapng").associations.first?.requests.first)
        #expect(r.pendingResponses.count == 3)
        let reversed = Array(r.responses.dropLast().reversed()) + [r.responses.last!]
        let ordered = comparer.compare(r, replayedMessageID: 1, replayed: reversed)
        #expect(!ordered.matched)
        #expect(ordered.differences.allSatisfy { $0.kind == .value && $0.response != "pending 2" })
        let unordered = ResponseComparer(options: ComparisonOptions(unorderedMatches: true))
        #expect(unordered.compare(r, replayedMessageID: 1, replayed: reversed).matched)
    }

    @Test func cancelledCountIsNotCompared() throws {
        let r = try #require(try Captures.load("cancel.pcapng").associations.first?.requests.first)
        // The new SCP had sent a second match before it saw the C-CANCEL.
        let replayed = [r.responses[0], r.responses[0], r.responses[1]]
        let result = comparer.compare(r, replayedMessageID: 1, replayed: replayed)
        #expect(result.matched, "\(result.differences)")
        #expect(result.cancelled)
        #expect(result.notes.count == 1)
    }

    @Test func unsentRequestIsADifference() throws {
        let r = try rpi()
        let result = comparer.compare(r, replayedMessageID: nil, replayed: [])
        #expect(result.differences.map(\.kind) == [.requestNotSent])
    }

    @Test func reportTextAndJSON() throws {
        let r = try rpi()
        var identifier = try #require(r.responses[0].dataSet)
        identifier.set(pn(0x0010_0010, "Doe^Jane"))
        var a = AssociationReplayResult(recordedIndex: 1, callingAETitle: "PYNETDICOM", calledAETitle: "ANY-SCP")
        a.exchanges = [comparer.compare(r, replayedMessageID: 1, replayed: [try altered(r.responses[0], dataSet: identifier), r.responses[1]])]
        let report = ReplayReport(capture: "x.pcapng", target: "127.0.0.1:1", pace: "asap", ignoredTags: [], associations: [a])
        #expect(report.outcome == .differences)
        #expect(report.outcome.exitCode == 1)
        let text = report.text()
        #expect(text.contains("#1 C-FIND-RQ"))
        #expect(text.contains("value [pending 1] (0010,0010) PatientName"))
        #expect(text.contains("result: 1 difference in 1 of 1 requests"))
        let json = report.json().serialized()
        #expect(json.contains("\"outcome\":\"differences\""))
        #expect(json.contains("\"kind\":\"value\""))
        #expect(json.contains("\"tag\":\"00100010\""))

        var matched = a
        matched.exchanges = [comparer.compare(r, replayedMessageID: 1, replayed: r.responses)]
        #expect(ReplayReport(capture: "x", target: "t", pace: "asap", ignoredTags: [], associations: [matched]).outcome.exitCode == 0)
        var failed = matched
        failed.error = ReplayError(.associationRejected, "rejected", association: 1)
        let errorReport = ReplayReport(capture: "x", target: "t", pace: "asap", ignoredTags: [], associations: [failed])
        #expect(errorReport.outcome.exitCode == 2)
        #expect(errorReport.text().contains("result: error"))
    }
}

@Suite struct MatcherTests {
    @Test func matchesOnSOPClassAndIdentifierKeys() throws {
        let conversation = try Captures.load("rpi_general_one_match.pcapng")
        let matcher = ResponseMatcher(associations: conversation.associations)
        let r = try #require(conversation.associations.first?.requests.first)
        let identifier = try #require(r.message.dataSet)
        #expect(matcher.candidates(for: r.message.command, identifier: identifier).count == 1)

        // Another patient: no match.
        var other = identifier
        other.set(DataElement(tag: DICOMCore.Tag(0x0010_0020), vr: .LO, string: "7654321")!)
        #expect(matcher.candidates(for: r.message.command, identifier: other).isEmpty)
        #expect(matcher.describeKeys(command: r.message.command, identifier: other).contains("PatientID=7654321"))

        // An extra, empty return key does not change the match.
        var withReturnKey = identifier
        withReturnKey.set(.empty(DICOMCore.Tag(0x0010_0030), vr: .DA))
        #expect(matcher.candidates(for: r.message.command, identifier: withReturnKey).count == 1)

        // Another SOP class: no match.
        guard case .cFindRequest(var find) = r.message.command else { throw TestFailure("not C-FIND") }
        find.affectedSOPClassUID = RelevantPatientInformationQuery.cardiac
        #expect(matcher.candidates(for: .cFindRequest(find), identifier: identifier).isEmpty)
    }

    @Test func explicitKeys() throws {
        let conversation = try Captures.load("rpi_general_one_match.pcapng")
        let r = try #require(conversation.associations.first?.requests.first)
        var identifier = try #require(r.message.dataSet)
        identifier.set(DataElement(tag: DICOMCore.Tag(0x0010_0010), vr: .PN, string: "Somebody^Else")!)
        let byDefault = ResponseMatcher(associations: conversation.associations)
        #expect(byDefault.candidates(for: r.message.command, identifier: identifier).isEmpty)
        let keys = try MatchKeys(parsing: ["PatientID", "(0040,A504)"])
        #expect(keys.tags == [DICOMCore.Tag(0x0010_0020), DICOMCore.Tag(0x0040_A504)])
        let byPatientID = ResponseMatcher(associations: conversation.associations, keys: keys)
        #expect(byPatientID.candidates(for: r.message.command, identifier: identifier).count == 1)
        _ = expectReplayError(.invalidOption) { _ = try MatchKeys(parsing: ["NoSuchKeyword"]) }
    }

    @Test func storeMatchesOnSOPInstanceUID() throws {
        let conversation = try Captures.load("dcmtk_find_store.pcapng")
        let matcher = ResponseMatcher(associations: conversation.associations)
        let stores = conversation.associations[0].requests
        for s in stores {
            let found = matcher.candidates(for: s.message.command, identifier: s.message.dataSet)
            #expect(found.count == 1)
            #expect(found.first?.request.index == s.index)
        }
    }

    @Test func unmatchedStatusDefaults() {
        #expect(UnmatchedPolicy().status(for: .cFindRequest) == 0xC000)
        #expect(UnmatchedPolicy().status(for: .nGetRequest) == 0x0110)
        #expect(UnmatchedPolicy(status: 0xA700).status(for: .cFindRequest) == 0xA700)
    }
}
