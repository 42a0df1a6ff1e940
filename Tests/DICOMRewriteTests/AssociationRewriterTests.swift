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
        #expect(sent == expected)
        #expect(Set(notes.map(\.path)) == Set(expectedNotes.map(\.path)))
        #expect(notes.contains { $0.tag == Tag(0x0070_0084) && $0.kind == .rewritten })
    }

    @Test func explicitLittleEndian() throws { try check(.explicitVRLittleEndian) }
    @Test func explicitBigEndian() throws { try check(.explicitVRBigEndian, pieces: 998) }
    @Test func implicitLittleEndian() throws { try check(.implicitVRLittleEndian, pieces: 4096) }
    @Test func undefinedLengthSequence() throws { try check(.explicitVRLittleEndian, undefinedSequence: true, pieces: 10) }
    @Test func deflated() throws { try check(.deflatedExplicitVRLittleEndian, pieces: 1000) }

    /// A data set fragment with no command before it, and a command fragment inside a data set, stop the association.
    @Test func brokenFragmentSequences() throws {
        var association = AssociationRewriter(rewriter: try rewriter())
        let data = PresentationDataValueItem(presentationContextID: 1, messageControlHeader: MessageControlHeader(isCommand: false, isLastFragment: true),
                                             fragment: ByteBuffer(bytes: [0, 0]))
        #expect(association.dataTransfer(DataTransfer(items: [data]), from: .requestor).failure != nil)
    }
}
