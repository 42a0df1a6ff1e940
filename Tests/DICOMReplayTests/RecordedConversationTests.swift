import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import Testing
@testable import DICOMReplay

/// The committed captures (see `captures/manifest.json`).
enum Captures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("captures")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    static func load(_ name: String) throws -> RecordedConversation { try RecordedConversation.load(path: path(name)) }
}

func expectReplayError(_ code: ReplayError.Code, _ body: () throws -> Void,
                       sourceLocation: SourceLocation = #_sourceLocation) -> ReplayError? {
    do {
        try body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ReplayError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ReplayError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct RecordedConversationTests {
    @Test func rpiGeneralOneMatch() throws {
        let conversation = try Captures.load("rpi_general_one_match.pcapng")
        #expect(conversation.skipped.isEmpty)
        let a = try #require(conversation.associations.first)
        #expect(conversation.associations.count == 1)
        #expect(a.index == 1)
        #expect(a.callingAETitle == "PYNETDICOM")
        #expect(a.calledAETitle == "ANY-SCP")
        #expect(a.server == "127.0.0.1:11112")
        #expect(!a.requestorAborted)
        // The negotiation is kept as PDUs and as contexts in request order.
        #expect(a.associateRequest.presentationContexts.count == a.contexts.count)
        let general = try #require(a.acceptedContexts.first { $0.abstractSyntax == RelevantPatientInformationQuery.general })
        #expect(general.acceptedTransferSyntax != nil)
        #expect(a.associateAccept.presentationContexts.contains { $0.contextID == general.id && $0.result == .acceptance })

        #expect(a.requests.count == 1)
        let r = a.requests[0]
        #expect(r.commandField == .cFindRequest)
        #expect(r.sopClassUID == RelevantPatientInformationQuery.general)
        #expect(r.abstractSyntax == RelevantPatientInformationQuery.general)
        #expect(r.sender == .requestor)
        #expect(r.waitsFor.isEmpty)
        #expect(r.cancel == nil)
        // Command set and identifier bytes as sent, decoded identifier beside them.
        #expect(r.message.commandBytes.readableBytes > 0)
        let identifier = try #require(r.message.dataSet)
        #expect(identifier[Tag(0x0010_0020)]?.string() == "1234567")
        #expect(r.message.dataSetBytes != nil)
        #expect(r.responses.map(\.status) == [0xFF00, 0x0000])
        #expect(r.pendingResponses.count == 1)
        #expect(r.pendingResponses[0].dataSet?[Tag(0x0010_0010)]?.string() == "Doe^John")
        #expect(r.finalResponse?.status == 0x0000)
        #expect(r.responseDelays.count == 2)
        #expect(r.responses[0].time >= r.message.time)
    }

    @Test func cancelKeepsItsMoment() throws {
        let a = try #require(try Captures.load("cancel.pcapng").associations.first)
        let r = try #require(a.requests.first)
        let cancel = try #require(r.cancel)
        // Sent after the first Pending response (manifest: "after the first Pending response").
        #expect(cancel.afterResponses == 1)
        #expect(cancel.message.command.messageIDBeingRespondedTo == r.messageID)
        #expect(r.finalResponse?.status == 0xFE00)
        #expect(cancel.delay >= .zero && cancel.delay < .seconds(1))
    }

    @Test func concurrentAssociationsInStartOrder() throws {
        let conversation = try Captures.load("concurrent.pcapng")
        #expect(conversation.associations.count == 4)
        #expect(conversation.associations.map(\.index) == [1, 2, 3, 4])
        #expect(Set(conversation.associations.map(\.callingAETitle)) == ["SCU_1", "SCU_2", "SCU_3", "SCU_4"])
        for a in conversation.associations {
            #expect(a.requests.map(\.commandField) == [.cFindRequest, .cEchoRequest])
            // The C-ECHO was sent after the C-FIND was answered: the replay waits for it.
            #expect(a.requests[1].waitsFor == [0])
        }
    }

    @Test func dcmtkStoreThenFind() throws {
        let conversation = try Captures.load("dcmtk_find_store.pcapng")
        #expect(conversation.associations.count == 2)
        let store = conversation.associations[0], find = conversation.associations[1]
        #expect(store.requests.map(\.commandField) == [.cStoreRequest, .cStoreRequest, .cStoreRequest])
        #expect(store.requests.allSatisfy { $0.finalResponse?.status == 0x0000 })
        #expect(find.requests.count == 1)
        #expect(find.requests[0].pendingResponses.count == 2)
    }

    @Test func abortedByTheRequestorIsReplayable() throws {
        let a = try #require(try Captures.load("aborted.pcapng").associations.first)
        #expect(a.requestorAborted)
        #expect(a.requests.map(\.commandField) == [.cEchoRequest])
    }

    @Test func midStreamCaptureIsRefused() throws {
        let error = expectReplayError(.noCompleteAssociation) { _ = try Captures.load("mid_stream.pcapng") }
        #expect(error?.message.contains("A-ASSOCIATE-RQ") == true)
    }

    @Test func missingAssociateRequestNamesTheAssociation() throws {
        let error = expectReplayError(.noCompleteAssociation) { _ = try Captures.load("mid_stream.pcapng") }
        #expect(error?.message.contains("mid-association") == true)
        #expect(error?.capture?.hasSuffix("mid_stream.pcapng") == true)
    }

    @Test func rejectedAssociationIsRefused() throws {
        let error = expectReplayError(.noCompleteAssociation) { _ = try Captures.load("rejected.pcapng") }
        #expect(error?.message.contains("rejected") == true)
    }

    @Test func captureWithoutDICOM() throws {
        let error = expectReplayError(.noCompleteAssociation) { _ = try Captures.load("no_dicom.pcapng") }
        #expect(error?.message.contains("no DICOM association") == true)
    }

    @Test func truncatedAndDamagedCapturesAreRefused() throws {
        for name in ["truncated.pcapng", "lost_segment.pcapng", "snaplen.pcap"] {
            let error = expectReplayError(.noCompleteAssociation) { _ = try Captures.load(name) }
            #expect(error?.message.contains("association 1") == true, "\(name): \(String(describing: error))")
        }
    }

    @Test func unreadableFile() throws {
        let error = expectReplayError(.unreadableCapture) { _ = try RecordedConversation.load(path: "/nonexistent/capture.pcap") }
        // The path once, as the error's capture.
        #expect(error?.description == "/nonexistent/capture.pcap: cannot open capture: no such file or directory",
                "\(String(describing: error))")
    }

    @Test func selection() throws {
        let conversation = try Captures.load("concurrent.pcapng")
        #expect(try conversation.selected(nil).count == 4)
        #expect(try conversation.selected(3).map(\.index) == [3])
        let error = expectReplayError(.noSuchAssociation) { _ = try conversation.selected(9) }
        #expect(error?.message.contains("1, 2, 3, 4") == true)
    }

    /// Every usable capture of the manifest loads with as many associations as it records.
    @Test func everyCompleteCaptureLoads() throws {
        let complete = ["rpi_general_one_match.pcapng", "rpi_no_match.pcapng", "rpi_multiple_matches.pcapng",
                        "rpi_breast.pcapng", "rpi_cardiac.pcapng", "rpi_unsupported_template.pcapng", "rpi_small_pdu.pcapng",
                        "explicit_be.pcapng", "explicit_le.pcapng", "utf8_names.pcapng", "deflated.pcapng", "ipv6.pcapng",
                        "nonstandard_port.pcapng", "reordered.pcapng", "vlan.pcap", "sll.pcap", "null.pcap", "dcmtk_echo.pcapng"]
        for name in complete {
            let conversation = try Captures.load(name)
            #expect(conversation.associations.count == 1, "\(name)")
            #expect(conversation.associations.allSatisfy { $0.requests.allSatisfy { $0.finalResponse != nil } }, "\(name)")
        }
    }
}
