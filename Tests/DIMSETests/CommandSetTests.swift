import DICOMCore
import NIOCore
import Testing
@testable import DIMSE

/// pynetdicom command sets: decode, check every field, re-encode byte for byte, and build the
/// same message from its fields to the same bytes (so the group length is right too).
@Suite struct PynetdicomCommandSetTests {
    let rpi = "1.2.840.10008.5.1.4.37.1"

    func decode(_ hex: String) throws -> (DIMSECommand, ByteBuffer) {
        let wire = bytes(hex)
        return (try DIMSECommand(decoding: wire), wire)
    }

    @Test func cEchoRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cEchoRQ)
        let m = try #require(command.message as? CEchoRequest)
        #expect(command.commandField == .cEchoRequest)
        #expect(m.messageID == 1)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.1.1")
        #expect(m.commandDataSetType == 0x0101)
        #expect(!command.hasDataSet)
        #expect(command.messageID == 1)
        #expect(try command.encodedCommandSet() == wire)
        #expect(try CEchoRequest(messageID: 1).encodedCommandSet() == wire)
    }

    @Test func cEchoResponse() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cEchoRSP)
        let m = try #require(command.message as? CEchoResponse)
        #expect(m.messageIDBeingRespondedTo == 1)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.1.1")
        #expect(m.status == 0x0000)
        #expect(m.errorComment == nil)
        #expect(!m.hasDataSet)
        #expect(m.dimseStatus.category == .success)
        #expect(try command.encodedCommandSet() == wire)
        #expect(try CEchoResponse(messageIDBeingRespondedTo: 1).encodedCommandSet() == wire)
    }

    @Test func cFindRequestRelevantPatient() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cFindRQ)
        let m = try #require(command.message as? CFindRequest)
        #expect(m.messageID == 7)
        #expect(m.affectedSOPClassUID == rpi)
        #expect(m.priority == .low)
        #expect(m.commandDataSetType == 0x0001)
        #expect(command.hasDataSet)
        #expect(command.sopClassUID == rpi)
        #expect(try command.encodedCommandSet() == wire)
        #expect(try CFindRequest(messageID: 7, affectedSOPClassUID: rpi, priority: .low).encodedCommandSet() == wire)
    }

    @Test func cFindResponsePending() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cFindRSPPending)
        let m = try #require(command.message as? CFindResponse)
        #expect(m.messageIDBeingRespondedTo == 7)
        #expect(m.affectedSOPClassUID == rpi)
        #expect(m.status == 0xFF00)
        #expect(m.hasDataSet)
        #expect(m.offendingElement == nil)
        #expect(m.errorComment == nil)
        #expect(m.dimseStatus.category == .pending)
        #expect(m.dimseStatus.meaning == "current match is supplied")
        #expect(try command.encodedCommandSet() == wire)
        let built = CFindResponse(messageIDBeingRespondedTo: 7, status: 0xFF00, affectedSOPClassUID: rpi, hasDataSet: true)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func cFindResponseSuccess() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cFindRSPSuccess)
        let m = try #require(command.message as? CFindResponse)
        #expect(m.messageIDBeingRespondedTo == 7)
        #expect(m.status == 0x0000)
        #expect(!m.hasDataSet)
        #expect(command.dimseStatus?.meaning == "matching is complete")
        #expect(try command.encodedCommandSet() == wire)
        #expect(try CFindResponse(messageIDBeingRespondedTo: 7, status: 0, affectedSOPClassUID: rpi).encodedCommandSet() == wire)
    }

    @Test func cFindResponseMoreThanOneMatch() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cFindRSPMoreThanOneMatch)
        let m = try #require(command.message as? CFindResponse)
        #expect(m.status == 0xC100)
        #expect(m.errorComment == "More than one match")
        #expect(!m.hasDataSet)
        #expect(m.dimseStatus.description == "0xC100 Failure: more than one match found (Relevant Patient Information Query)")
        #expect(m.dimseStatus.isDefined)
        #expect(try command.encodedCommandSet() == wire)
        let built = CFindResponse(messageIDBeingRespondedTo: 7, status: 0xC100, affectedSOPClassUID: rpi,
                                  errorComment: "More than one match")
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func cStoreRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cStoreRQ)
        let m = try #require(command.message as? CStoreRequest)
        #expect(m.messageID == 3)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2")
        #expect(m.affectedSOPInstanceUID == "1.2.826.0.1.3680043.2.1125.1.1")
        #expect(m.priority == .medium)
        #expect(m.moveOriginatorApplicationEntityTitle == "MOVESCU")
        #expect(m.moveOriginatorMessageID == 9)
        #expect(m.hasDataSet)
        #expect(try command.encodedCommandSet() == wire)
        let built = CStoreRequest(messageID: 3, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                  affectedSOPInstanceUID: "1.2.826.0.1.3680043.2.1125.1.1", priority: .medium,
                                  moveOriginatorApplicationEntityTitle: "MOVESCU", moveOriginatorMessageID: 9)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func cStoreResponse() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cStoreRSP)
        let m = try #require(command.message as? CStoreResponse)
        #expect(m.messageIDBeingRespondedTo == 3)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2")
        #expect(m.affectedSOPInstanceUID == "1.2.826.0.1.3680043.2.1125.1.1")
        #expect(m.status == 0xB000)
        #expect(m.offendingElement == [DICOMCore.Tag(0x0010_0010), DICOMCore.Tag(0x0010_0020)])
        #expect(m.errorComment == "coerced")
        #expect(!m.hasDataSet)
        #expect(m.dimseStatus.description == "0xB000 Warning: coercion of data elements (Storage)")
        #expect(try command.encodedCommandSet() == wire)
        let built = CStoreResponse(messageIDBeingRespondedTo: 3, status: 0xB000,
                                   affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                   affectedSOPInstanceUID: "1.2.826.0.1.3680043.2.1125.1.1",
                                   offendingElement: [DICOMCore.Tag(0x0010_0010), DICOMCore.Tag(0x0010_0020)],
                                   errorComment: "coerced")
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func cCancelRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cCancelRQ)
        let m = try #require(command.message as? CCancelRequest)
        #expect(m.messageIDBeingRespondedTo == 7)
        #expect(!m.hasDataSet)
        #expect(command.messageIDBeingRespondedTo == 7)
        #expect(command.messageID == nil)
        #expect(command.status == nil)
        #expect(try command.encodedCommandSet() == wire)
        #expect(try CCancelRequest(messageIDBeingRespondedTo: 7).encodedCommandSet() == wire)
    }

    @Test func cMoveRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cMoveRQ)
        let m = try #require(command.message as? CMoveRequest)
        #expect(m.messageID == 5)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.5.1.4.1.2.2.2")
        #expect(m.priority == .high)
        #expect(m.moveDestination == "STORESCP")
        #expect(m.hasDataSet)
        #expect(try command.encodedCommandSet() == wire)
        let built = CMoveRequest(messageID: 5, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.2.2",
                                 moveDestination: "STORESCP", priority: .high)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func cMoveResponseWithSuboperationCounts() throws {
        let (command, wire) = try decode(PynetdicomFixtures.cMoveRSP)
        let m = try #require(command.message as? CMoveResponse)
        #expect(m.messageIDBeingRespondedTo == 5)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.5.1.4.1.2.2.2")
        #expect(m.status == 0xFF00)
        #expect(m.numberOfRemainingSuboperations == 10)
        #expect(m.numberOfCompletedSuboperations == 3)
        #expect(m.numberOfFailedSuboperations == 1)
        #expect(m.numberOfWarningSuboperations == 2)
        #expect(!m.hasDataSet)
        #expect(m.dimseStatus.meaning == "sub-operations are continuing")
        #expect(try command.encodedCommandSet() == wire)
        let built = CMoveResponse(messageIDBeingRespondedTo: 5, status: 0xFF00,
                                  affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.2.2",
                                  remaining: 10, completed: 3, failed: 1, warning: 2)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func nActionRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.nActionRQ)
        let m = try #require(command.message as? NActionRequest)
        #expect(m.messageID == 11)
        #expect(m.requestedSOPClassUID == "1.2.840.10008.1.20.1")
        #expect(m.requestedSOPInstanceUID == "1.2.840.10008.1.20.1.1")
        #expect(m.actionTypeID == 1)
        #expect(m.hasDataSet)
        #expect(command.sopClassUID == "1.2.840.10008.1.20.1")
        #expect(try command.encodedCommandSet() == wire)
        let built = NActionRequest(messageID: 11, requestedSOPClassUID: "1.2.840.10008.1.20.1",
                                   requestedSOPInstanceUID: "1.2.840.10008.1.20.1.1", actionTypeID: 1)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func nEventReportRequest() throws {
        let (command, wire) = try decode(PynetdicomFixtures.nEventReportRQ)
        let m = try #require(command.message as? NEventReportRequest)
        #expect(m.messageID == 12)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.1.20.1")
        #expect(m.affectedSOPInstanceUID == "1.2.840.10008.1.20.1.1")
        #expect(m.eventTypeID == 2)
        #expect(m.hasDataSet)
        #expect(try command.encodedCommandSet() == wire)
        let built = NEventReportRequest(messageID: 12, affectedSOPClassUID: "1.2.840.10008.1.20.1",
                                        affectedSOPInstanceUID: "1.2.840.10008.1.20.1.1", eventTypeID: 2)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func nGetRequestWithAttributeIdentifierList() throws {
        let (command, wire) = try decode(PynetdicomFixtures.nGetRQ)
        let m = try #require(command.message as? NGetRequest)
        let list = [DICOMCore.Tag(0x2110_0010), DICOMCore.Tag(0x2110_0020), DICOMCore.Tag(0x2110_0030)]
        #expect(m.messageID == 13)
        #expect(m.requestedSOPClassUID == "1.2.840.10008.5.1.1.16")
        #expect(m.requestedSOPInstanceUID == "1.2.840.10008.5.1.1.17")
        #expect(m.attributeIdentifierList == list)
        #expect(!m.hasDataSet)
        #expect(try command.encodedCommandSet() == wire)
        let built = NGetRequest(messageID: 13, requestedSOPClassUID: "1.2.840.10008.5.1.1.16",
                                requestedSOPInstanceUID: "1.2.840.10008.5.1.1.17", attributeIdentifierList: list)
        #expect(try built.encodedCommandSet() == wire)
    }

    @Test func nGetResponseFailure() throws {
        let (command, wire) = try decode(PynetdicomFixtures.nGetRSP)
        let m = try #require(command.message as? NGetResponse)
        #expect(m.messageIDBeingRespondedTo == 13)
        #expect(m.status == 0x0112)
        #expect(m.errorID == 0x1234)
        #expect(m.errorComment == "gone")
        #expect(m.affectedSOPInstanceUID == "1.2.840.10008.5.1.1.17")
        #expect(!m.hasDataSet)
        #expect(m.dimseStatus.description == "0x0112 Failure: no such SOP instance (PS3.7 Annex C)")
        #expect(try command.encodedCommandSet() == wire)
        let built = NGetResponse(messageIDBeingRespondedTo: 13, status: 0x0112, affectedSOPClassUID: "1.2.840.10008.5.1.1.16",
                                 affectedSOPInstanceUID: "1.2.840.10008.5.1.1.17", hasDataSet: false,
                                 errorID: 0x1234, errorComment: "gone")
        #expect(try built.encodedCommandSet() == wire)
    }
}

/// Editing decoded messages, non-canonical input, errors, unknown commands.
@Suite struct CommandSetEditingTests {
    /// Implicit VR LE element bytes.
    func element(_ tag: UInt32, _ value: [UInt8]) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(UInt16(tag >> 16), endianness: .little)
        b.writeInteger(UInt16(tag & 0xFFFF), endianness: .little)
        b.writeInteger(UInt32(value.count), endianness: .little)
        b.writeBytes(value)
        return Array(b.readableBytesView)
    }

    func us(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    /// A command set from element bytes, with a group length element in front (`groupLength` overrides it).
    func commandSet(_ elements: [[UInt8]], groupLength: UInt32? = nil) -> ByteBuffer {
        let body = elements.flatMap { $0 }
        let length = groupLength ?? UInt32(body.count)
        let gl = element(0x0000_0000, [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF),
                                       UInt8(length >> 24)])
        return ByteBuffer(bytes: gl + body)
    }

    @Test func editingAResponseRewritesOnlyWhatChangedAndFixesTheGroupLength() throws {
        // Success → 0xC100 with an error comment: exactly pynetdicom's 0xC100 response (group length 0x48 → 0x64).
        var m = try #require(try DIMSECommand(decoding: bytes(PynetdicomFixtures.cFindRSPSuccess)).message as? CFindResponse)
        m.status = 0xC100
        m.errorComment = "More than one match"
        #expect(try m.encodedCommandSet() == bytes(PynetdicomFixtures.cFindRSPMoreThanOneMatch))
        // Pending → success without an identifier.
        var p = try #require(try DIMSECommand(decoding: bytes(PynetdicomFixtures.cFindRSPPending)).message as? CFindResponse)
        p.status = 0x0000
        p.hasDataSet = false
        #expect(try p.encodedCommandSet() == bytes(PynetdicomFixtures.cFindRSPSuccess))
    }

    @Test func elementsTheTypeDoesNotModelAreKept() throws {
        // C-ECHO-RQ plus the retired (0000,0850) Number of Matches.
        let wire = commandSet([
            element(0x0000_0002, Array("1.2.840.10008.1.1\0".utf8)),
            element(0x0000_0100, us(0x0030)),
            element(0x0000_0110, us(1)),
            element(0x0000_0800, us(0x0101)),
            element(0x0000_0850, us(4)),
        ])
        var m = try CEchoRequest(commandSet: DatasetDecoder().decode(wire, encoding: .implicitLittleEndian))
        #expect(try m.encodedCommandSet() == wire)
        m.messageID = 2
        let edited = m.commandSet
        #expect(edited[DICOMCore.Tag(0x0000_0850)] != nil)
        let expected = commandSet([
            element(0x0000_0002, Array("1.2.840.10008.1.1\0".utf8)),
            element(0x0000_0100, us(0x0030)),
            element(0x0000_0110, us(2)),
            element(0x0000_0800, us(0x0101)),
            element(0x0000_0850, us(4)),
        ])
        #expect(try m.encodedCommandSet() == expected)
    }

    @Test func nonCanonicalPaddingAndAWrongGroupLengthSurviveAnUnmodifiedRoundTrip() throws {
        // UID padded with a space, AE with leading spaces, group length off by 2.
        let elements = [
            element(0x0000_0002, Array("1.2.840.10008.5.1.4.1.2.2.2 ".utf8)),
            element(0x0000_0100, us(0x0021)),
            element(0x0000_0110, us(5)),
            element(0x0000_0600, Array("  STORESCP".utf8)),
            element(0x0000_0700, us(0)),
            element(0x0000_0800, us(1)),
        ]
        let wire = commandSet(elements, groupLength: 200)
        let command = try DIMSECommand(decoding: wire)
        var m = try #require(command.message as? CMoveRequest)
        #expect(m.affectedSOPClassUID == "1.2.840.10008.5.1.4.1.2.2.2")
        #expect(m.moveDestination == "STORESCP")
        #expect(try command.encodedCommandSet() == wire)
        // A change elsewhere keeps those elements' bytes and corrects the group length.
        m.priority = .high
        var expectedElements = elements
        expectedElements[4] = element(0x0000_0700, us(1))
        #expect(try m.encodedCommandSet() == commandSet(expectedElements))
    }

    @Test func missingRequiredElementNamesTheTagAndTheCommand() throws {
        let wire = commandSet([
            element(0x0000_0002, Array("1.2.840.10008.5.1.4.37.1".utf8)),
            element(0x0000_0100, us(0x0020)),
            element(0x0000_0110, us(7)),
            element(0x0000_0800, us(1)),
        ])
        let e = dimseError { _ = try DIMSECommand(decoding: wire) }
        #expect(e?.code == .missingElement)
        #expect(e?.tag == DICOMCore.Tag(0x0000_0700))
        #expect(e?.commandField == 0x0020)
        #expect(e?.description.contains("C-FIND-RQ") == true)
        #expect(e?.description.contains("(0000,0700) Priority") == true)
    }

    @Test func missingCommandFieldAndUnusableValues() throws {
        let noField = commandSet([element(0x0000_0110, us(7))])
        #expect(dimseError { _ = try DIMSECommand(decoding: noField) }?.tag == CommandTag.commandField)
        let emptyMessageID = commandSet([
            element(0x0000_0002, Array("1.2.840.10008.1.1\0".utf8)),
            element(0x0000_0100, us(0x0030)),
            element(0x0000_0110, []),
            element(0x0000_0800, us(0x0101)),
        ])
        let e = dimseError { _ = try DIMSECommand(decoding: emptyMessageID) }
        #expect(e?.code == .invalidElementValue)
        #expect(e?.tag == CommandTag.messageID)
        let badPriority = commandSet([
            element(0x0000_0002, Array("1.2.840.10008.5.1.4.37.1".utf8)),
            element(0x0000_0100, us(0x0020)),
            element(0x0000_0110, us(7)),
            element(0x0000_0700, us(7)),
            element(0x0000_0800, us(1)),
        ])
        #expect(dimseError { _ = try DIMSECommand(decoding: badPriority) }?.code == .invalidElementValue)
    }

    @Test func commandFieldMismatch() throws {
        let echo = try DatasetDecoder().decode(bytes(PynetdicomFixtures.cEchoRQ), encoding: .implicitLittleEndian)
        let e = dimseError { _ = try CFindRequest(commandSet: echo) }
        #expect(e?.code == .commandFieldMismatch)
        #expect(e?.commandField == 0x0030)
    }

    @Test func unknownCommandFieldIsNotAnError() throws {
        let wire = commandSet([
            element(0x0000_0100, us(0x0FF0)),
            element(0x0000_0110, us(9)),
            element(0x0000_0800, us(0x0001)),
        ])
        let command = try DIMSECommand(decoding: wire)
        guard case .unknown(let field, let set) = command else {
            Issue.record("expected .unknown, got \(command)")
            return
        }
        #expect(field == 0x0FF0)
        #expect(set.count == 4)
        #expect(command.commandField == nil)
        #expect(command.hasDataSet)
        #expect(try command.encodedCommandSet() == wire)
        #expect(command.description.hasPrefix("0x0FF0 (unknown command)"))
    }

    @Test func undecodableBytes() {
        var truncated = bytes(PynetdicomFixtures.cEchoRQ)
        truncated.moveWriterIndex(to: truncated.writerIndex - 3)
        let e = dimseError { _ = try DIMSECommand(decoding: truncated) }
        #expect(e?.code == .commandSetNotDecodable)
        #expect(e?.underlying != nil)
    }

    @Test func commandFieldValues() {
        #expect(CommandField.allCases.count == 23)
        for field in CommandField.allCases where field != .cCancelRequest {
            if field.isRequest {
                #expect(field.response?.rawValue == field.rawValue | 0x8000)
                #expect(field.response?.request == field)
                #expect(field.response?.service == field.service)
            }
        }
        #expect(CommandField.cCancelRequest.rawValue == 0x0FFF)
        #expect(CommandField.cCancelRequest.isRequest)
        #expect(CommandField.cCancelRequest.response == nil)
        #expect(CommandField.cFindRequest.serviceName == "C-FIND")
        #expect(CommandField.cFindResponse.description == "C-FIND-RSP")
        #expect(CommandField.nEventReportRequest.description == "N-EVENT-REPORT-RQ")
        #expect(CommandField.cStoreRequest.rawValue == 0x0001)
        #expect(CommandField.cGetRequest.rawValue == 0x0010)
        #expect(CommandField.cMoveRequest.rawValue == 0x0021)
        #expect(CommandField.nDeleteResponse.rawValue == 0x8150)
        #expect(CommandField.name(of: 0x1234) == "0x1234 (unknown command)")
    }

    @Test func everyMessageTypeRoundTripsThroughDIMSECommand() throws {
        let messages: [DIMSECommand] = [
            .cStoreRequest(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.2.3")),
            .cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: 1, status: 0)),
            .cGetRequest(CGetRequest(messageID: 2, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.2.3")),
            .cGetResponse(CGetResponse(messageIDBeingRespondedTo: 2, status: 0xFF00, remaining: 1, completed: 0, failed: 0, warning: 0)),
            .cFindRequest(CFindRequest(messageID: 3, affectedSOPClassUID: "1.2.840.10008.5.1.4.37.2")),
            .cFindResponse(CFindResponse(messageIDBeingRespondedTo: 3, status: 0xFF00, hasDataSet: true)),
            .cMoveRequest(CMoveRequest(messageID: 4, affectedSOPClassUID: "1.2", moveDestination: "DEST")),
            .cMoveResponse(CMoveResponse(messageIDBeingRespondedTo: 4, status: 0xB000, offendingElement: [CommandTag.status])),
            .cEchoRequest(CEchoRequest(messageID: 5)),
            .cEchoResponse(CEchoResponse(messageIDBeingRespondedTo: 5, status: 0x0122, errorComment: "no")),
            .cCancelRequest(CCancelRequest(messageIDBeingRespondedTo: 3)),
            .nEventReportRequest(NEventReportRequest(messageID: 6, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3", eventTypeID: 1)),
            .nEventReportResponse(NEventReportResponse(messageIDBeingRespondedTo: 6, status: 0, eventTypeID: 1)),
            .nGetRequest(NGetRequest(messageID: 7, requestedSOPClassUID: "1.2", requestedSOPInstanceUID: "1.3")),
            .nGetResponse(NGetResponse(messageIDBeingRespondedTo: 7, status: 0x0107, attributeIdentifierList: [CommandTag.status])),
            .nSetRequest(NSetRequest(messageID: 8, requestedSOPClassUID: "1.2", requestedSOPInstanceUID: "1.3")),
            .nSetResponse(NSetResponse(messageIDBeingRespondedTo: 8, status: 0x0116)),
            .nActionRequest(NActionRequest(messageID: 9, requestedSOPClassUID: "1.2", requestedSOPInstanceUID: "1.3", actionTypeID: 2, hasDataSet: false)),
            .nActionResponse(NActionResponse(messageIDBeingRespondedTo: 9, status: 0x0123, actionTypeID: 2, errorID: 1)),
            .nCreateRequest(NCreateRequest(messageID: 10, affectedSOPClassUID: "1.2")),
            .nCreateResponse(NCreateResponse(messageIDBeingRespondedTo: 10, status: 0, affectedSOPInstanceUID: "1.2.3.4")),
            .nDeleteRequest(NDeleteRequest(messageID: 11, requestedSOPClassUID: "1.2", requestedSOPInstanceUID: "1.3")),
            .nDeleteResponse(NDeleteResponse(messageIDBeingRespondedTo: 11, status: 0x0112, errorComment: "gone")),
        ]
        #expect(Set(messages.compactMap(\.commandField)) == Set(CommandField.allCases))
        for built in messages {
            let wire = try built.encodedCommandSet()
            let set = try DatasetDecoder().decode(wire, encoding: .implicitLittleEndian)
            // Group length = bytes after the group length element.
            #expect(set[CommandTag.commandGroupLength]?.integers == [Int64(wire.readableBytes - 12)])
            let decoded = try DIMSECommand(decoding: wire)
            #expect(decoded.commandField == built.commandField)
            #expect(decoded.hasDataSet == built.hasDataSet)
            #expect(decoded.messageID == built.messageID)
            #expect(decoded.messageIDBeingRespondedTo == built.messageIDBeingRespondedTo)
            #expect(decoded.status == built.status)
            #expect(try decoded.encodedCommandSet() == wire)
        }
    }
}

/// A refusal of a C-GET or C-MOVE before any sub-operation (what a replayed SCP answers when it cannot
/// perform them): the counts say so on the wire, 0 completed, 0 failed, 0 warning, no Number of Remaining.
@Suite struct RefusalResponseTests {
    @Test func refusedMoveCarriesZeroCountsAndTheComment() throws {
        let request = DIMSECommand.cMoveRequest(CMoveRequest(messageID: 7, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.1.2",
                                                             moveDestination: "STORESCP"))
        let refusal = try #require(request.failureResponse(status: RetrieveStatus.moveDestinationUnknown,
                                                           comment: "Move Destination STORESCP unknown to replay",
                                                           subOperations: .noneAttempted))
        let decoded = try DIMSECommand(decoding: try refusal.encodedCommandSet())
        #expect(decoded.commandField == .cMoveResponse)
        #expect(decoded.messageIDBeingRespondedTo == 7)
        #expect(decoded.status == 0xA801)
        #expect(decoded.subOperationCounts == SubOperationCounts(remaining: nil, completed: 0, failed: 0, warning: 0))
        #expect(decoded.subOperationCounts?.description == "0 completed, 0 failed, 0 warning")
        guard case .cMoveResponse(let rsp) = decoded else { Issue.record("not a C-MOVE-RSP: \(decoded)"); return }
        #expect(rsp.errorComment == "Move Destination STORESCP unknown to replay")
        // Without counts (a C-FIND, or a caller that gives none) nothing is added.
        let get = DIMSECommand.cGetRequest(CGetRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.1.3"))
        #expect(get.failureResponse(status: RetrieveStatus.unableToPerformSubOperations)?.subOperationCounts
                == SubOperationCounts(completed: nil, failed: nil, warning: nil))
    }
}
