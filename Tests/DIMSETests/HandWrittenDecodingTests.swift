import DICOMCore
import NIOCore
import Testing
@testable import DIMSE

/// The C- messages decode their command sets by hand (`init(commandSet:)`, one read per field)
/// instead of through their element tables. This checks that, for every such message type, the
/// hand-written decoding gives exactly what the table-driven `CommandSetCoding.init(decoding:)`
/// gives (the same fields, or the same error with the same text): on complete command sets, on
/// every command set with one or two elements removed, and with element values cut short or
/// replaced by a sequence.
@Suite struct HandWrittenDecodingTests {
    /// The table-driven decoding, with the C-GET-RSP / C-MOVE-RSP rule (Status checked before Command Data Set Type).
    func tableDecoded<M: CommandSetCoding>(_ type: M.Type, _ set: Dataset) -> Result<M, DIMSEError> {
        do throws(DIMSEError) {
            if M.self == CGetResponse.self || M.self == CMoveResponse.self {
                let reader = try CommandSetReader(set, expecting: M.commandField)
                _ = try reader.uint16(CommandTag.messageIDBeingRespondedTo)
                _ = try reader.uint16(CommandTag.status)
            }
            return .success(try M(decoding: set))
        } catch {
            return .failure(error)
        }
    }

    func handDecoded<M: CommandSetCoding>(_ type: M.Type, _ set: Dataset) -> Result<M, DIMSEError> {
        do throws(DIMSEError) {
            return .success(try M(commandSet: set))
        } catch {
            return .failure(error)
        }
    }

    /// Variants of `set`: itself, each element removed, each value cut to one byte, each value a sequence,
    /// each pair of elements removed or emptied, Command Field changed to another message's.
    func variants(of set: Dataset) -> [Dataset] {
        var out = [set]
        for element in set.elements {
            var removed = set
            removed[element.tag] = nil
            out.append(removed)
            var cut = set
            var b = ByteBuffer()
            b.writeInteger(UInt8(0x31))
            cut[element.tag] = DataElement(tag: element.tag, vr: element.vr, value: .bytes(b))
            out.append(cut)
            var sequence = set
            sequence[element.tag] = DataElement(tag: element.tag, vr: .SQ, value: .sequence([]))
            out.append(sequence)
        }
        // Two elements broken at once: which one is reported depends on the order they are read in.
        for (i, first) in set.elements.enumerated() {
            for second in set.elements[(i + 1)...] {
                var both = set
                both[first.tag] = nil
                both[second.tag] = nil
                out.append(both)
                var cutBoth = set
                for tag in [first.tag, second.tag] {
                    cutBoth[tag] = DataElement(tag: tag, vr: .US, value: .bytes(ByteBuffer()))
                }
                out.append(cutBoth)
            }
        }
        var otherField = set
        otherField[CommandTag.commandField] = CommandValue.element(CommandTag.commandField, uint16: 0x8FFF)
        out.append(otherField)
        var badPriority = set
        if badPriority[CommandTag.priority] != nil {
            badPriority[CommandTag.priority] = CommandValue.element(CommandTag.priority, uint16: 7)
            out.append(badPriority)
        }
        return out
    }

    func expectSameDecoding<M: CommandSetCoding>(_ message: M, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let wire = try message.encodedCommandSet()
        let set = try DatasetDecoder().decode(wire, encoding: .implicitLittleEndian)
        for variant in variants(of: set) {
            switch (tableDecoded(M.self, variant), handDecoded(M.self, variant)) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "\(M.self)", sourceLocation: sourceLocation)
                #expect(b.decodedCommandSet == variant, sourceLocation: sourceLocation)
            case (.failure(let a), .failure(let b)):
                #expect(a == b, "\(M.self)", sourceLocation: sourceLocation)
                #expect(a.description == b.description, sourceLocation: sourceLocation)
            case (let a, let b):
                Issue.record("\(M.self): the table gives \(a), the hand-written decoding \(b)", sourceLocation: sourceLocation)
            }
        }
    }

    let tags = [CommandTag.status, CommandTag.errorID]

    @Test func requestsDecodeAsTheirElementTables() throws {
        try expectSameDecoding(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.2.3",
                                             priority: .high, moveOriginatorApplicationEntityTitle: " MOVER",
                                             moveOriginatorMessageID: 77))
        try expectSameDecoding(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                             affectedSOPInstanceUID: "1.2.3.4.5.6.7.8.9.10.11.12.13"))
        try expectSameDecoding(CFindRequest(messageID: 2, affectedSOPClassUID: "1.2.4", priority: .low))
        try expectSameDecoding(CGetRequest(messageID: 3, affectedSOPClassUID: "1.2.5", priority: .high))
        try expectSameDecoding(CMoveRequest(messageID: 4, affectedSOPClassUID: "1.2.6", moveDestination: "DEST", priority: .low))
        try expectSameDecoding(CEchoRequest(messageID: 5))
        try expectSameDecoding(CCancelRequest(messageIDBeingRespondedTo: 6))
    }

    @Test func responsesDecodeAsTheirElementTables() throws {
        try expectSameDecoding(CStoreResponse(messageIDBeingRespondedTo: 1, status: 0xB000, affectedSOPClassUID: "1.2",
                                              affectedSOPInstanceUID: "1.3", offendingElement: tags, errorComment: " a "))
        try expectSameDecoding(CStoreResponse(messageIDBeingRespondedTo: 1, status: 0))
        try expectSameDecoding(CFindResponse(messageIDBeingRespondedTo: 2, status: 0xFF00, affectedSOPClassUID: "1.4",
                                             hasDataSet: true, offendingElement: tags, errorComment: "bb"))
        try expectSameDecoding(CFindResponse(messageIDBeingRespondedTo: 2, status: 0))
        try expectSameDecoding(CGetResponse(messageIDBeingRespondedTo: 3, status: 0xFF00, affectedSOPClassUID: "1.5",
                                            remaining: 1, completed: 2, failed: 3, warning: 4, hasDataSet: true,
                                            offendingElement: tags, errorComment: "c"))
        try expectSameDecoding(CMoveResponse(messageIDBeingRespondedTo: 4, status: 0xB000, affectedSOPClassUID: "1.6",
                                             remaining: 0, completed: 5, failed: 1, warning: 1, errorComment: "d"))
        try expectSameDecoding(CMoveResponse(messageIDBeingRespondedTo: 4, status: 0))
        try expectSameDecoding(CEchoResponse(messageIDBeingRespondedTo: 5, status: 0x0110, errorComment: "e"))
        try expectSameDecoding(CEchoResponse(messageIDBeingRespondedTo: 5, affectedSOPClassUID: nil))
    }

    /// An unchanged decoded message gives back its command set as it came, whatever the padding
    /// or bytes of its text values (also bytes that are not UTF-8, which the string comparison
    /// `CommandValue.holds` cannot confirm); a changed field is rewritten.
    @Test func unchangedTextFieldsKeepTheirBytes() throws {
        func element(_ tag: DICOMCore.Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
            DataElement(tag: tag, vr: vr, value: .bytes(ByteBuffer(bytes: bytes)))
        }
        let wire = try CFindResponse(messageIDBeingRespondedTo: 9, status: 0xA700, affectedSOPClassUID: "1.2.3").encodedCommandSet()
        var set = try DatasetDecoder().decode(wire, encoding: .implicitLittleEndian)
        set[CommandTag.affectedSOPClassUID] = element(CommandTag.affectedSOPClassUID, .UI, Array("1.2.3 \0\0".utf8))
        set[CommandTag.errorComment] = element(CommandTag.errorComment, .LO, [0x20, 0x61, 0xFF, 0x62, 0x20, 0x20])
        var response = try CFindResponse(commandSet: set)
        #expect(response.errorComment == "a\u{FFFD}b")
        #expect(response.commandSet == set)
        response.affectedSOPClassUID = "1.2.4"
        #expect(response.commandSet[CommandTag.affectedSOPClassUID]?.bytes == ByteBuffer(bytes: Array("1.2.4\0".utf8)))
        #expect(response.commandSet[CommandTag.errorComment] == set[CommandTag.errorComment])
    }

    /// `CommandValue.string` trims as before: trailing NULs and spaces, leading spaces except for UI.
    @Test func stringValuesAreTrimmedPerVR() {
        func element(_ text: String, _ vr: VR) -> DataElement {
            var b = ByteBuffer()
            b.writeString(text)
            return DataElement(tag: CommandTag.errorComment, vr: vr, value: .bytes(b))
        }
        #expect(CommandValue.string(element("  a b \0 ", .LO)) == "a b")
        #expect(CommandValue.string(element(" 1.2\0", .UI)) == " 1.2")
        #expect(CommandValue.string(element("\0\0", .UI)) == "")
        #expect(CommandValue.string(element("", .AE)) == "")
        #expect(CommandValue.string(element("    ", .AE)) == "")
    }
}
