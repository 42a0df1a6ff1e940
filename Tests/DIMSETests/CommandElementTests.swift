import DICOMCore
import NIOCore
import Testing
@testable import DIMSE

/// The element tables behind `init(commandSet:)` and `commandSet`: every field a message type
/// has is read and written, required elements are reported in a fixed order, and the status
/// tables built from shared parts keep each service's meanings.
@Suite struct CommandElementTests {
    let tags = [CommandTag.status, CommandTag.errorID]

    /// Re-decodes `built` from its command set and checks every field came back.
    func expectEveryFieldRoundTrips<M: DIMSEMessage>(_ built: M, sourceLocation: SourceLocation = #_sourceLocation)
        throws {
        let wire = try built.encodedCommandSet()
        let set = try DatasetDecoder().decode(wire, encoding: .implicitLittleEndian)
        var decoded = try M(commandSet: set)
        #expect(decoded.decodedCommandSet == set, sourceLocation: sourceLocation)
        #expect(try decoded.encodedCommandSet() == wire, sourceLocation: sourceLocation)
        try clearDecodedCommandSet(&decoded)
        #expect(decoded == built, sourceLocation: sourceLocation)
    }

    func clearDecodedCommandSet<M: DIMSEMessage>(_ message: inout M) throws {
        guard var coded = message as? any CommandSetCoding else {
            Issue.record("\(M.self) is not CommandSetCoding")
            return
        }
        coded.decodedCommandSet = nil
        message = try #require(coded as? M)
    }

    @Test func everyFieldOfEveryRequestRoundTrips() throws {
        try expectEveryFieldRoundTrips(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.2.3",
                                                     priority: .high, moveOriginatorApplicationEntityTitle: "MOVER",
                                                     moveOriginatorMessageID: 77))
        try expectEveryFieldRoundTrips(CFindRequest(messageID: 2, affectedSOPClassUID: "1.2.4", priority: .low))
        try expectEveryFieldRoundTrips(CGetRequest(messageID: 3, affectedSOPClassUID: "1.2.5", priority: .high))
        try expectEveryFieldRoundTrips(CMoveRequest(messageID: 4, affectedSOPClassUID: "1.2.6", moveDestination: "DEST",
                                                    priority: .low))
        try expectEveryFieldRoundTrips(CEchoRequest(messageID: 5, affectedSOPClassUID: "1.2.7"))
        try expectEveryFieldRoundTrips(CCancelRequest(messageIDBeingRespondedTo: 6))
        try expectEveryFieldRoundTrips(NEventReportRequest(messageID: 7, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3",
                                                           eventTypeID: 8, hasDataSet: false))
        try expectEveryFieldRoundTrips(NGetRequest(messageID: 9, requestedSOPClassUID: "1.4", requestedSOPInstanceUID: "1.5",
                                                   attributeIdentifierList: tags))
        try expectEveryFieldRoundTrips(NSetRequest(messageID: 10, requestedSOPClassUID: "1.6", requestedSOPInstanceUID: "1.7"))
        try expectEveryFieldRoundTrips(NActionRequest(messageID: 11, requestedSOPClassUID: "1.8", requestedSOPInstanceUID: "1.9",
                                                      actionTypeID: 12, hasDataSet: false))
        try expectEveryFieldRoundTrips(NCreateRequest(messageID: 13, affectedSOPClassUID: "1.10", affectedSOPInstanceUID: "1.11",
                                                      hasDataSet: false))
        try expectEveryFieldRoundTrips(NDeleteRequest(messageID: 14, requestedSOPClassUID: "1.12", requestedSOPInstanceUID: "1.13"))
    }

    @Test func everyFieldOfEveryResponseRoundTrips() throws {
        try expectEveryFieldRoundTrips(CStoreResponse(messageIDBeingRespondedTo: 1, status: 0xB000, affectedSOPClassUID: "1.2",
                                                      affectedSOPInstanceUID: "1.3", offendingElement: tags, errorComment: "a"))
        try expectEveryFieldRoundTrips(CFindResponse(messageIDBeingRespondedTo: 2, status: 0xFF00, affectedSOPClassUID: "1.4",
                                                     hasDataSet: true, offendingElement: tags, errorComment: "bb"))
        try expectEveryFieldRoundTrips(CGetResponse(messageIDBeingRespondedTo: 3, status: 0xFF00, affectedSOPClassUID: "1.5",
                                                    remaining: 1, completed: 2, failed: 3, warning: 4, hasDataSet: true,
                                                    offendingElement: tags, errorComment: "c"))
        try expectEveryFieldRoundTrips(CMoveResponse(messageIDBeingRespondedTo: 4, status: 0xB000, affectedSOPClassUID: "1.6",
                                                     remaining: 5, completed: 6, failed: 7, warning: 8, hasDataSet: true,
                                                     offendingElement: tags, errorComment: "dd"))
        try expectEveryFieldRoundTrips(CEchoResponse(messageIDBeingRespondedTo: 5, status: 0x0122, affectedSOPClassUID: "1.7",
                                                     errorComment: "e"))
        try expectEveryFieldRoundTrips(NEventReportResponse(messageIDBeingRespondedTo: 6, status: 0, affectedSOPClassUID: "1.8",
                                                            affectedSOPInstanceUID: "1.9", eventTypeID: 1, hasDataSet: true,
                                                            errorID: 2, errorComment: "f"))
        try expectEveryFieldRoundTrips(NGetResponse(messageIDBeingRespondedTo: 7, status: 0x0107, affectedSOPClassUID: "1.10",
                                                    affectedSOPInstanceUID: "1.11", hasDataSet: false,
                                                    attributeIdentifierList: tags, errorID: 3, errorComment: "g"))
        try expectEveryFieldRoundTrips(NSetResponse(messageIDBeingRespondedTo: 8, status: 0x0116, affectedSOPClassUID: "1.12",
                                                    affectedSOPInstanceUID: "1.13", hasDataSet: true,
                                                    attributeIdentifierList: tags, errorID: 4, errorComment: "h"))
        try expectEveryFieldRoundTrips(NActionResponse(messageIDBeingRespondedTo: 9, status: 0x0123, affectedSOPClassUID: "1.14",
                                                       affectedSOPInstanceUID: "1.15", actionTypeID: 2, hasDataSet: true,
                                                       errorID: 5, errorComment: "i"))
        try expectEveryFieldRoundTrips(NCreateResponse(messageIDBeingRespondedTo: 10, status: 0, affectedSOPClassUID: "1.16",
                                                       affectedSOPInstanceUID: "1.17", hasDataSet: true, errorID: 6,
                                                       errorComment: "j"))
        try expectEveryFieldRoundTrips(NDeleteResponse(messageIDBeingRespondedTo: 11, status: 0x0112, affectedSOPClassUID: "1.18",
                                                       affectedSOPInstanceUID: "1.19", errorID: 7, errorComment: "k"))
    }

    /// A command set of `message` without the elements `removed`.
    func commandSet<M: DIMSEMessage>(of message: M, without removed: [DICOMCore.Tag]) -> Dataset {
        var set = message.commandSet
        for tag in removed { set[tag] = nil }
        return set
    }

    @Test func theFirstRequiredElementMissingIsTheOneReported() {
        let find = CFindResponse(messageIDBeingRespondedTo: 1, status: 0)
        let both = [CommandTag.commandDataSetType, CommandTag.status]
        // In tag order: Command Data Set Type (0000,0800) before Status (0000,0900)...
        #expect(dimseError { _ = try CFindResponse(commandSet: commandSet(of: find, without: both)) }?.tag
            == CommandTag.commandDataSetType)
        // ...except in C-GET-RSP and C-MOVE-RSP, which check Status first.
        let get = CGetResponse(messageIDBeingRespondedTo: 1, status: 0)
        #expect(dimseError { _ = try CGetResponse(commandSet: commandSet(of: get, without: both)) }?.tag == CommandTag.status)
        let move = CMoveResponse(messageIDBeingRespondedTo: 1, status: 0)
        #expect(dimseError { _ = try CMoveResponse(commandSet: commandSet(of: move, without: both)) }?.tag
            == CommandTag.status)
        let moveAll = commandSet(of: move, without: both + [CommandTag.messageIDBeingRespondedTo])
        #expect(dimseError { _ = try CMoveResponse(commandSet: moveAll) }?.tag == CommandTag.messageIDBeingRespondedTo)
        // Requests: SOP Class UID, Message ID, (Move Destination,) Priority, Command Data Set Type, SOP Instance UID.
        let store = CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3")
        let storeTags = [CommandTag.affectedSOPInstanceUID, CommandTag.commandDataSetType, CommandTag.priority,
                         CommandTag.messageID, CommandTag.affectedSOPClassUID]
        for n in 1...storeTags.count {
            let e = dimseError { _ = try CStoreRequest(commandSet: commandSet(of: store, without: Array(storeTags.prefix(n)))) }
            #expect(e?.code == .missingElement)
            #expect(e?.tag == storeTags[n - 1])
        }
        let move2 = CMoveRequest(messageID: 1, affectedSOPClassUID: "1.2", moveDestination: "DEST")
        #expect(dimseError {
            _ = try CMoveRequest(commandSet: commandSet(of: move2, without: [CommandTag.priority, CommandTag.moveDestination]))
        }?.tag == CommandTag.moveDestination)
        let action = NActionRequest(messageID: 1, requestedSOPClassUID: "1.2", requestedSOPInstanceUID: "1.3", actionTypeID: 1)
        #expect(dimseError {
            _ = try NActionRequest(commandSet: commandSet(of: action, without: [CommandTag.actionTypeID,
                                                                                CommandTag.requestedSOPInstanceUID]))
        }?.tag == CommandTag.requestedSOPInstanceUID)
    }

    @Test func optionalElementsMayBeAbsent() throws {
        let full = NCreateResponse(messageIDBeingRespondedTo: 1, status: 0x0110, affectedSOPClassUID: "1.2",
                                   affectedSOPInstanceUID: "1.3", errorID: 4, errorComment: "x")
        let bare = try NCreateResponse(commandSet: commandSet(of: full, without: [
            CommandTag.affectedSOPClassUID, CommandTag.affectedSOPInstanceUID, CommandTag.errorID, CommandTag.errorComment,
        ]))
        #expect(bare.affectedSOPClassUID == nil)
        #expect(bare.affectedSOPInstanceUID == nil)
        #expect(bare.errorID == nil)
        #expect(bare.errorComment == nil)
        #expect(bare.status == 0x0110)
        let request = try NCreateRequest(commandSet: commandSet(of: NCreateRequest(messageID: 2, affectedSOPClassUID: "1.2",
                                                                                   affectedSOPInstanceUID: "1.4"),
                                                                without: [CommandTag.affectedSOPInstanceUID]))
        #expect(request.affectedSOPInstanceUID == nil)
    }

    @Test func changingAFieldToNilRemovesItsElement() throws {
        var response = try NGetResponse(commandSet: NGetResponse(messageIDBeingRespondedTo: 1, status: 0, errorID: 3).commandSet)
        response.errorID = nil
        #expect(response.commandSet[CommandTag.errorID] == nil)
        let rebuilt = NGetResponse(messageIDBeingRespondedTo: 1, status: 0)
        #expect(try response.encodedCommandSet() == rebuilt.encodedCommandSet())
    }

    @Test func retrieveTablesShareAllButTheirOwnCodes() {
        for code in [UInt16(0xA701), 0xA702, 0xA900, 0xAA00, 0xAA01, 0xAA02, 0xAA03, 0xAA04, 0xFE00, 0xFF00, 0xC123] {
            let get = DIMSEStatus.lookup(code, service: .cGet)
            let move = DIMSEStatus.lookup(code, service: .cMove)
            #expect(get == move)
            #expect(get.isDefined)
            #expect(get.source == "Query/Retrieve")
        }
        #expect(DIMSEStatus.lookup(0x0000, service: .cGet).meaning == "sub-operations complete, no failures or warnings")
        #expect(DIMSEStatus.lookup(0x0000, service: .cMove).meaning == "sub-operations complete, no failures")
        #expect(DIMSEStatus.lookup(0xB000, service: .cGet).meaning == "sub-operations complete, one or more failures or warnings")
        #expect(DIMSEStatus.lookup(0xB000, service: .cMove).meaning == "sub-operations complete, one or more failures")
        #expect(DIMSEStatus.lookup(0xA801, service: .cMove).isDefined)
        #expect(!DIMSEStatus.lookup(0xA801, service: .cGet).isDefined)
        #expect(DIMSEStatus.lookup(0x0110, service: .cGet).source == "PS3.7 Annex C")
    }

    @Test func findTablesShareAllButTheirOwnCodesAndName() {
        let worklist = StatusTable.modalityWorklistSOPClassUID
        for code in [UInt16(0xA700), 0xA900, 0xFE00, 0xFF00, 0xFF01, 0xC001] {
            let find = DIMSEStatus.lookup(code, service: .cFind)
            let mwl = DIMSEStatus.lookup(code, service: .cFind, sopClassUID: worklist)
            #expect(find.meaning == mwl.meaning)
            #expect(find.category == mwl.category)
            #expect(find.source == "Query/Retrieve")
            #expect(mwl.source == "Modality Worklist")
        }
        for code in [UInt16(0xA710), 0xB001] {
            #expect(DIMSEStatus.lookup(code, service: .cFind).isDefined)
            #expect(!DIMSEStatus.lookup(code, service: .cFind, sopClassUID: worklist).isDefined)
        }
    }
}
