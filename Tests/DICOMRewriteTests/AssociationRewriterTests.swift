import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import Testing
@testable import DICOMRewrite

/// The association rewriter streams data sets element by element; what it sends must be
/// exactly what rewriting the whole data set at once gives, however the data set is cut into PDVs.
@Suite struct AssociationRewriterTests {
    static let contextID: UInt8 = 3

    func rewriter() throws -> Rewriter {
        var rules = pseudonymRules(["PatientID", "PatientName", "ContentCreatorName"])
        rules.aeTitles = AETitleRules(called: ["ARCHIVE": "RESEARCH"], calling: ["MODALITY": "GATEWAY"])
        return try Rewriter(rules: rules, key: testKey)
    }

    /// A C-STORE data set: UTF-8 names, a sequence (of defined or undefined length), a 100 kB
    /// document before a PN with a rule, and 300 kB of pixel data at the end.
    func dataSet(_ encoding: DatasetEncoding, undefinedSequence: Bool) throws -> ByteBuffer {
        let be = encoding.isBigEndian
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        var ds = Dataset(encoding: encoding)
        ds.set(DataElement(tag: .specificCharacterSet, vr: .CS, string: "ISO_IR 192", isBigEndian: be)!)
        ds.set(element("Modality", "OT", bigEndian: be))
        ds.set(element("PatientName", "Müller^Jürgen", characterSet: utf8, bigEndian: be))
        ds.set(element("PatientID", "1234567", bigEndian: be))
        var item = Dataset(encoding: encoding)
        item.set(element("PatientID", "OTHER-1", bigEndian: be))
        var sequence = DataElement.sequence(Tag(0x0010_1002), items: [item], isBigEndian: be)
        sequence.hasUndefinedLength = undefinedSequence
        ds.set(sequence)
        ds.set(DataElement(tag: Tag(0x0042_0011), vr: .OB, value: .bytes(ByteBuffer(bytes: (0..<100_000).map { UInt8($0 % 251) })),
                           isBigEndian: be))
        ds.set(element("ContentCreatorName", "Jürgen^Ärztin", characterSet: utf8, bigEndian: be))
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes(ByteBuffer(bytes: (0..<300_000).map { UInt8($0 % 253) })),
                           isBigEndian: be))
        return try DatasetEncoder().encode(ds)
    }

    func check(_ syntax: TransferSyntax, undefinedSequence: Bool = false, pieces: Int = 1234) throws {
        let rewriter = try rewriter()
        var original = try dataSet(syntax.encoding, undefinedSequence: undefinedSequence)
        if syntax.isDeflated { original = try Deflate.deflate(original) }
        var expectedNotes: [RewriteNote] = []
        let expected = try #require(try rewriter.rewrite(dataSet: original, transferSyntax: syntax, direction: .towardsAcceptor,
                                                         notes: &expectedNotes))

        var association = AssociationRewriter(rewriter: rewriter)
        var request = AssociateRequest(fields: AssociationPDUFields(calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: []))
        request = association.associateRequest(request)
        #expect(request.fields.calledAETitle.value == "RESEARCH")
        #expect(request.fields.callingAETitle.value == "GATEWAY")
        let accept = association.associateAccept(AssociateAccept(fields: AssociationPDUFields(
            calledAETitle: "RESEARCH", callingAETitle: "GATEWAY",
            items: [.presentationContextAccept(PresentationContextAcceptItem(contextID: Self.contextID, result: .acceptance,
                                                                              transferSyntax: syntax.uid))])))
        #expect(accept.fields.calledAETitle.value == "ARCHIVE")
        #expect(accept.fields.callingAETitle.value == "MODALITY")

        let command = DIMSECommand.cStoreRequest(CStoreRequest(messageID: 7, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
                                                               affectedSOPInstanceUID: "1.2.3"))
        var pdvs = [PresentationDataValueItem(presentationContextID: Self.contextID,
                                              messageControlHeader: MessageControlHeader(isCommand: true, isLastFragment: true),
                                              fragment: try command.encodedCommandSet())]
        var rest = original
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(pieces, rest.readableBytes))!
            pdvs.append(PresentationDataValueItem(presentationContextID: Self.contextID,
                                                  messageControlHeader: MessageControlHeader(isCommand: false,
                                                                                             isLastFragment: rest.readableBytes == 0),
                                                  fragment: piece))
        }
        var out: [PresentationDataValueItem] = []
        var notes: [RewriteNote] = []
        for pdv in pdvs {
            let result = association.dataTransfer(DataTransfer(items: [pdv]), from: .requestor)
            #expect(result.failure == nil)
            notes += result.notes
            out += result.pdus.flatMap(\.items)
        }
        #expect(out.first?.messageControlHeader == MessageControlHeader(isCommand: true, isLastFragment: true))
        #expect(out.first?.fragment == pdvs.first?.fragment)
        var sent = ByteBuffer()
        for (index, pdv) in out.dropFirst().enumerated() {
            #expect(!pdv.messageControlHeader.isCommand)
            #expect(pdv.messageControlHeader.isLastFragment == (index == out.count - 2))
            #expect(pdv.fragment.readableBytes <= 1 << 16)
            var fragment = pdv.fragment
            sent.writeBuffer(&fragment)
        }
        if syntax.isDeflated {
            // Deflated again as it streams: the same data set, not necessarily the same compressed bytes.
            #expect(try Deflate.inflate(sent, maxSize: 1 << 24, offset: 0) == Deflate.inflate(expected, maxSize: 1 << 24, offset: 0))
            #expect(sent.readableBytes % 2 == 0)
        } else {
            #expect(sent == expected)
        }
        #expect(Set(notes.map(\.path)) == Set(expectedNotes.map(\.path)))
        #expect(notes.contains { $0.tag == Tag(0x0070_0084) && $0.kind == .rewritten })
    }

    @Test func explicitLittleEndian() throws { try check(.explicitVRLittleEndian) }
    @Test func explicitBigEndian() throws { try check(.explicitVRBigEndian, pieces: 998) }
    @Test func implicitLittleEndian() throws { try check(.implicitVRLittleEndian, pieces: 4096) }
    @Test func undefinedLengthSequence() throws { try check(.explicitVRLittleEndian, undefinedSequence: true, pieces: 10) }
    @Test func deflated() throws { try check(.deflatedExplicitVRLittleEndian, pieces: 1000) }

    func accepted(_ syntax: TransferSyntax) throws -> AssociationRewriter {
        var association = AssociationRewriter(rewriter: try rewriter())
        _ = association.associateAccept(AssociateAccept(fields: AssociationPDUFields(
            calledAETitle: "A", callingAETitle: "B",
            items: [.presentationContextAccept(PresentationContextAcceptItem(contextID: Self.contextID, result: .acceptance,
                                                                              transferSyntax: syntax.uid))])))
        return association
    }

    func pdv(command: Bool, last: Bool, _ bytes: ByteBuffer) -> DataTransfer {
        DataTransfer(items: [PresentationDataValueItem(presentationContextID: Self.contextID,
                                                       messageControlHeader: MessageControlHeader(isCommand: command, isLastFragment: last),
                                                       fragment: bytes)])
    }

    /// Fragments out of order stop the association.
    @Test func brokenFragmentSequences() throws {
        var association = try accepted(.explicitVRLittleEndian)
        let data = pdv(command: false, last: true, ByteBuffer(bytes: [0, 0]))
        #expect(association.dataTransfer(data, from: .requestor).failure?.contains("no command set was received") == true)

        let command = try DIMSECommand.cStoreRequest(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3"))
            .encodedCommandSet()
        association = try accepted(.explicitVRLittleEndian)
        #expect(association.dataTransfer(pdv(command: true, last: true, command), from: .requestor).failure == nil)
        #expect(association.dataTransfer(pdv(command: true, last: true, command), from: .requestor).failure?
            .contains("arrived without the last one") == true)
    }

    /// A data set that cannot be decoded is not sent to the SCP (the association must be
    /// aborted: it might hold identifiers); towards the SCU it goes on unchanged, with a problem noted.
    @Test func undecodableDataSets() throws {
        let command = try DIMSECommand.cStoreRequest(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3"))
            .encodedCommandSet()
        // (0010,0020) LO with a length running past the end.
        let garbage = ByteBuffer(bytes: [0x10, 0x00, 0x20, 0x00, 0x4C, 0x4F, 0x40, 0x00, 0x31, 0x32])
        var towardsSCP = try accepted(.explicitVRLittleEndian)
        _ = towardsSCP.dataTransfer(pdv(command: true, last: true, command), from: .requestor)
        let refused = towardsSCP.dataTransfer(pdv(command: false, last: true, garbage), from: .requestor)
        #expect(refused.failure?.contains("runs past the end of the input") == true)
        // Not even the command set went on: the message is held until its data set is rewritten.
        #expect(refused.pdus.isEmpty)

        var towardsSCU = try accepted(.explicitVRLittleEndian)
        _ = towardsSCU.dataTransfer(pdv(command: true, last: true, command), from: .acceptor)
        let passed = towardsSCU.dataTransfer(pdv(command: false, last: true, garbage), from: .acceptor)
        #expect(passed.failure == nil)
        #expect(passed.problems.count == 1)
        // The whole message goes on as it came: its command set (held with it), then the data set.
        #expect(passed.pdus.flatMap(\.items).map(\.fragment) == [command, garbage])
    }
}
