import DICOMCore
import DICOMUL
import DIMSE
import NIOCore
import Testing
@testable import DICOMInspect

@Suite struct AssociationObserverTests {
    // MARK: Real peers

    @Test func pynetdicomRelevantPatientQuery() throws {
        let (observer, _) = PeerStreams.observe("pynetdicom_rpi_find")
        #expect(observer.info.callingAETitle != nil)
        #expect(observer.info.acceptedContexts.contains { $0.abstractSyntax == RelevantPatientInformationQuery.general })
        #expect(observer.info.maximumLength[.requestor] == 16382)
        #expect(observer.info.implementationVersionName[.requestor] == "PYNETDICOM_304")
        #expect(observer.info.outcome == .released)
        let finds = observer.exchanges.filter { $0.service == .cFind }
        #expect(finds.count == 1)
        let find = try #require(finds.first)
        #expect(find.isComplete)
        #expect(find.responses.count == 2)
        #expect(find.finalResponse?.status?.code == 0x0000)
        // pynetdicom 3.0.4 repeats the identifier with its final Success: still one match, flagged.
        #expect(find.matches.count == 1)
        #expect(find.matches.first?[Tag(0x0010_0020)]?.string() == "1234567")
        #expect(find.request.dataSet?[Tag.contentTemplateSequence] != nil)
        #expect(observer.findings.map(\.code) == [.finalResponseWithDataSet])
        #expect(find.duration != nil && find.timeToFirstResponse != nil)
    }

    @Test func relevantPatientQueryFailuresAndTwoPendings() throws {
        let (observer, _) = PeerStreams.observe("pynetdicom_rpi_find_multiple")
        let finds = observer.exchanges.filter { $0.service == .cFind }
        #expect(finds.count == 4)
        #expect(finds.map { $0.finalResponse?.status?.code } == [0xC100, 0xC200, 0x0000, 0x0000])
        #expect(finds[0].finalResponse?.status?.description.contains("more than one match") == true)
        #expect(finds[3].pendingResponses.count == 2)
        #expect(observer.findings.contains { $0.code == .multiplePendingResponses && $0.exchangeIndex == finds[3].index })
    }

    @Test func dcmtkPatientRootFindWithThreeMatches() throws {
        let (observer, _) = PeerStreams.observe("dcmtk_find_patient_root")
        let find = try #require(observer.exchanges.first { $0.service == .cFind })
        #expect(find.matches.count == 3)
        #expect(find.finalResponse?.status?.code == 0x0000)
        #expect(find.finalResponse?.dataSetBytes == nil)
        #expect(observer.findings.filter { $0.severity == .error }.isEmpty)
    }

    @Test func cancelledFinds() throws {
        for name in ["pynetdicom_find_cancel", "dcmtk_find_cancel", "pynetdicom_rpi_find_cancel"] {
            let (observer, _) = PeerStreams.observe(name)
            let find = try #require(observer.exchanges.first { $0.service == .cFind }, "\(name)")
            #expect(find.cancel != nil, "\(name): C-CANCEL not paired")
            #expect(find.finalResponse?.status?.code == 0xFE00, "\(name)")
        }
    }

    @Test func deflatedDataSetsAreDecoded() throws {
        for name in ["dcmtk_find_deflated", "pynetdicom_deflated_find"] {
            let (observer, _) = PeerStreams.observe(name)
            let find = try #require(observer.exchanges.first { $0.service == .cFind }, "\(name)")
            #expect(find.request.transferSyntax?.isDeflated == true, "\(name)")
            #expect(find.request.dataSet != nil, "\(name)")
            #expect(find.matches.count == 3, "\(name)")
            #expect(!observer.findings.contains { $0.code == .dataSetNotDecodable }, "\(name)")
        }
    }

    @Test func fragmentedStoresReassemble() throws {
        for name in ["pynetdicom_store_fragmented", "dcmtk_store_fragmented_user_identity", "dcmtk_store", "pynetdicom_store"] {
            let (observer, _) = PeerStreams.observe(name)
            let store = try #require(observer.exchanges.first { $0.service == .cStore }, "\(name)")
            #expect(store.request.dataSet?[Tag.pixelData] != nil, "\(name)")
            #expect(store.finalResponse?.status?.category == .success, "\(name)")
            #expect(!observer.findings.contains { $0.severity == .error }, "\(name): \(observer.findings)")
        }
    }

    @Test func cGetWithStoreSubOperationFromTheAcceptor() throws {
        let (observer, _) = PeerStreams.observe("dcmtk_get")
        #expect(observer.exchanges.contains { $0.service == .cGet && $0.isComplete })
        let subStore = try #require(observer.exchanges.first { $0.service == .cStore })
        #expect(subStore.request.sender == .acceptor)
        #expect(subStore.finalResponse?.sender == .requestor)
        #expect(observer.info.roleSelection[.requestor]?.isEmpty == false)
    }

    @Test func rejectsAndAborts() {
        if case .rejected(let rj) = PeerStreams.observe("pynetdicom_reject_called_aet").0.info.outcome {
            #expect(rj.reasonDescription == "called-AE-title-not-recognized")
        } else {
            Issue.record("not rejected")
        }
        if case .aborted(_, let by) = PeerStreams.observe("dcmtk_echo_abort").0.info.outcome {
            #expect(by == .requestor)
        } else {
            Issue.record("not aborted")
        }
    }

    /// Whole PDUs, one byte at a time and 7-byte pieces give the same picture.
    @Test(arguments: PeerStreams.scenarios())
    func chunkingDoesNotChangeTheResult(_ scenario: PeerStreams.Scenario) {
        let whole = PeerStreams.observe(scenario.name).0
        for chunk in [1, 7] {
            let cut = PeerStreams.observe(scenario.name, chunk: chunk).0
            #expect(cut.exchanges.count == whole.exchanges.count)
            #expect(cut.exchanges.map(\.responses.count) == whole.exchanges.map(\.responses.count))
            #expect(cut.findings.map(\.code) == whole.findings.map(\.code))
            #expect(cut.info == whole.info)
        }
        #expect(!whole.findings.contains { $0.code == .malformedPDU || $0.code == .framingLost || $0.code == .dimseAssemblyError })
    }

    // MARK: Findings on synthetic associations

    @Test func pduLargerThanTheReceiversMaximum() {
        var a = SyntheticAssociation()
        a.associate(maximumLength: 64)
        // The requestor ignores the acceptor's 64 bytes and fills PDUs up to 4 KB.
        a.message(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: SyntheticAssociation.rpi)),
                  dataSet: SyntheticAssociation.identifier(patientID: String(repeating: "9", count: 60)),
                  from: .requestor, maximumLength: 4096)
        a.message(.cEchoRequest(CEchoRequest(messageID: 2, affectedSOPClassUID: "1.2.840.10008.1.1")), dataSet: nil,
                  from: .requestor, maximumLength: 8)
        #expect(!a.codes().isEmpty && a.codes().allSatisfy { $0 == .pduExceedsMaximumLength })
        #expect(a.observer.exchangeCount == 2)
    }

    @Test func pdvOnAContextThatWasNotAccepted() {
        var a = SyntheticAssociation()
        a.associate()
        a.message(.cEchoRequest(CEchoRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.1.1")), dataSet: nil,
                  from: .requestor, contextID: 3)
        #expect(a.codes().contains(.pdvOnUnacceptedContext))
    }

    @Test func responseToAnUnknownMessageID() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1)
        a.respond(to: 7, status: 0x0000)
        #expect(a.codes() == [.responseToUnknownMessage])
        // The request stays open: it ends, unanswered, with the association.
        #expect(a.observer.exchanges.isEmpty)
        a.events += a.observer.connectionClosed(at: Timestamp(nanoseconds: 1 << 40))
        #expect(a.observer.exchanges.first?.isComplete == false)
    }

    /// A request reusing an open request's Message ID: the earlier exchange ends there (it can no
    /// longer be told apart), the responses go to the new one; nothing stays open for ever.
    @Test func duplicateMessageIDEndsTheEarlierExchange() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 5, patientID: "FIRST")
        a.find(id: 5, patientID: "SECOND")
        #expect(a.codes() == [.duplicateMessageID])
        #expect(a.observer.exchanges.count == 1)
        #expect(a.observer.exchanges.first?.isComplete == false)
        #expect(a.observer.exchanges.first?.request.dataSet?[Tag(0x0010_0020)]?.string() == "FIRST")
        a.respond(to: 5, status: 0x0000)
        #expect(a.observer.exchanges.count == 2)
        #expect(a.observer.exchanges.last?.isComplete == true)
        #expect(a.observer.exchanges.last?.request.dataSet?[Tag(0x0010_0020)]?.string() == "SECOND")
        a.events += a.observer.connectionClosed(at: Timestamp(nanoseconds: 1 << 40))
        #expect(!a.codes().contains(.unansweredRequest))
    }

    @Test func relevantPatientQueryWithoutContentTemplateSequence() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1, withTemplate: false)
        a.respond(to: 1, status: 0xA900)
        #expect(a.codes() == [.missingContentTemplateSequence])
    }

    @Test func statusNotDefinedForTheService() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1)
        a.respond(to: 1, status: 0xB000)   // a C-STORE warning, not an Annex Q status
        #expect(a.codes().contains(.statusNotDefinedForService))
    }

    @Test func dataAfterRelease() {
        var a = SyntheticAssociation()
        a.associate()
        a.send(.releaseRequest(ReleasePDU()), from: .requestor)
        a.find(id: 1)
        #expect(a.codes().contains(.dataAfterRelease))
    }

    @Test func unansweredRequestAtTheEnd() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1)
        a.events += a.observer.connectionClosed(at: Timestamp(nanoseconds: 10_000_000))
        #expect(a.codes() == [.unansweredRequest])
        #expect(a.observer.info.outcome == .connectionClosed)
    }

    @Test func garbageInTheStreamIsSkippedAndFramingRecovers() {
        var a = SyntheticAssociation()
        a.associate()
        a.events += a.observer.receive(ByteBuffer(bytes: [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01, 0x02]), from: .requestor,
                                       at: Timestamp(nanoseconds: 5))
        a.find(id: 1)
        a.respond(to: 1, status: 0xFF00, dataSet: SyntheticAssociation.identifier(patientID: "1234567"))
        a.respond(to: 1, status: 0x0000)
        #expect(a.codes() == [.framingLost, .resynchronized])
        #expect(a.observer.exchanges.first?.matches.count == 1)
    }

    @Test func malformedPDUIsReportedAndTheNextOneStillDecodes() {
        var a = SyntheticAssociation()
        a.associate()
        // An A-ABORT with a 6-byte body frames fine but does not decode.
        a.events += a.observer.receive(ByteBuffer(bytes: [0x07, 0x00, 0x00, 0x00, 0x00, 0x06, 0, 0, 0, 0, 0, 0]),
                                       from: .acceptor, at: Timestamp(nanoseconds: 5))
        a.find(id: 1)
        a.respond(to: 1, status: 0x0000)
        #expect(a.codes() == [.malformedPDU])
        #expect(a.observer.exchanges.first?.isComplete == true)
    }

    @Test func midStreamCaptureInfersTheTransferSyntax() {
        var a = SyntheticAssociation()
        // No A-ASSOCIATE: the capture started late.
        a.find(id: 5)
        a.respond(to: 5, status: 0xFF00, dataSet: SyntheticAssociation.identifier(patientID: "1234567"))
        a.respond(to: 5, status: 0x0000)
        #expect(a.codes() == [.startedMidAssociation, .transferSyntaxInferred])
        #expect(a.observer.info.contexts[1]?.isInferred == true)
        #expect(a.observer.exchanges.first?.matches.first?[Tag(0x0010_0020)]?.string() == "1234567")
    }
}
