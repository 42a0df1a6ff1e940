import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import Testing
import DICOMPeerSupport
@testable import DICOMRewrite

/// The streaming rewrite where a data set is not simply a run of elements: sequences sent as
/// UN, encapsulated pixel data, Group Lengths around values past the hold limit, a fallback
/// after part of a data set was rewritten.
@Suite struct RewriteStreamTests {
    let rewriter = try! Rewriter(rules: pseudonymRules(["PatientID", "PatientName"]), key: testKey)
    let pseudonymizer = Pseudonymizer(key: testKey)

    /// Other Patient IDs Sequence (0010,1002) as a CP-246 UN: explicit VR outside, its items implicit VR LE.
    func unknownSequenceDataSet() throws -> ByteBuffer {
        var item = Dataset(encoding: .implicitLittleEndian)
        item.set(element("PatientID", "OTHER-1"))
        item.set(element("TypeOfPatientID", "TEXT"))
        let sequence = DataElement.sequence(Tag(0x0010_1002), items: [item], isBigEndian: false)
        var items = try DatasetEncoder().encode(Dataset(elements: [sequence], encoding: .implicitLittleEndian))
        items.moveReaderIndex(forwardBy: 8)  // the implicit VR header: tag and length
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientName", "Doe^John"))
        ds.set(element("PatientID", "1234567"))
        ds.set(DataElement(tag: Tag(0x0010_1002), vr: .UN, value: .bytes(items), isBigEndian: false))
        ds.set(element("PatientSex", "M"))
        return try DatasetEncoder().encode(ds)
    }

    @Test func sequencesSentAsUNAreRewrittenInside() throws {
        let original = try unknownSequenceDataSet()
        #expect(Array(original.readableBytesView).contains(bytes: Array("OTHER-1".utf8)))
        var notes: [RewriteNote] = []
        let out = try #require(try rewriter.rewrite(dataSet: original, transferSyntax: .explicitVRLittleEndian,
                                                    direction: .towardsAcceptor, notes: &notes))
        #expect(!Array(out.readableBytesView).contains(bytes: Array("OTHER-1".utf8)))
        let decoded = try DatasetDecoder().decode(out, encoding: .explicitLittleEndian)
        let sequence = try #require(decoded[Tag(0x0010_1002)])
        #expect(sequence.vr == .UN)
        let item = try #require(sequence.items?.first)
        #expect(item.dataset[Tag(0x0010_0020)]?.string() == pseudonymizer.pseudonym(for: "OTHER-1", vr: .LO))
        #expect(item.dataset[Tag(0x0010_0022)]?.string() == "TEXT")
        #expect(decoded[Tag(0x0010_0040)]?.string() == "M")
        #expect(notes.contains { $0.path == "(0010,1002)[1]>(0010,0020)" && $0.kind == .rewritten })

        // Back towards the SCU: the data set as it was, byte for byte.
        var back: [RewriteNote] = []
        let restored = try #require(try rewriter.rewrite(dataSet: out, transferSyntax: .explicitVRLittleEndian,
                                                         direction: .towardsRequestor, notes: &back))
        #expect(restored == original)
    }

    /// A UN value under a sequence's tag that is not a sequence: emptied towards the SCP (it is not
    /// known what it holds), unchanged towards the SCU.
    @Test func unreadableUNSequencesAreEmptiedTowardsTheSCP() throws {
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientID", "1234567"))
        ds.set(DataElement(tag: Tag(0x0010_1002), vr: .UN, value: .bytes(ByteBuffer(string: "Doe^Jane+7654321")), isBigEndian: false))
        let original = try DatasetEncoder().encode(ds)
        var notes: [RewriteNote] = []
        let out = try #require(try rewriter.rewrite(dataSet: original, transferSyntax: .explicitVRLittleEndian,
                                                    direction: .towardsAcceptor, notes: &notes))
        #expect(!Array(out.readableBytesView).contains(bytes: Array("Doe^Jane".utf8)))
        let decoded = try DatasetDecoder().decode(out, encoding: .explicitLittleEndian)
        // Empty: read as a sequence of no items.
        let emptied = try #require(decoded[Tag(0x0010_1002)])
        #expect(emptied.items?.isEmpty == true || emptied.valueLength == 0)
        #expect(notes.contains { $0.tag == Tag(0x0010_1002) && $0.kind == .emptied })
        #expect(try rewriter.rewrite(dataSet: original, transferSyntax: .explicitVRLittleEndian, direction: .towardsRequestor,
                                     notes: &notes) == nil)
    }

    /// Encapsulated pixel data under `empty`, or a rule that would put text in it: an empty Basic
    /// Offset Table item and the delimiter (PS3.5 A.4), no fragment.
    @Test func encapsulatedPixelDataIsEmptiedWithItsOffsetTable() throws {
        for action in [RewriteAction.empty, .replace("X"), .pseudonymize(PseudonymFormat(prefix: ""))] {
            var rules = RewriteRules()
            rules.add(AttributeRule(tag: .pixelData, action: action))
            let rewriter = try Rewriter(rules: rules, key: testKey)
            var wire = ByteBuffer()
            wire.writeBytes([0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
            wire.writeBytes([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0])  // empty offset table
            wire.writeBytes([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4])  // one fragment
            wire.writeBytes([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0])
            var notes: [RewriteNote] = []
            let out = try #require(try rewriter.rewrite(dataSet: wire, transferSyntax: .explicitVRLittleEndian,
                                                        direction: .towardsAcceptor, notes: &notes))
            #expect(Array(out.readableBytesView) == [0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                                                     0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0,
                                                     0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0], "\(action)")
            #expect(notes.count == 1)
        }
    }

    // MARK: Through the association rewriter, in pieces

    static let contextID: UInt8 = 1

    func association(_ rewriter: Rewriter) -> AssociationRewriter {
        var association = AssociationRewriter(rewriter: rewriter)
        _ = association.associateAccept(AssociateAccept(fields: AssociationPDUFields(
            calledAETitle: "A", callingAETitle: "B",
            items: [.presentationContextAccept(PresentationContextAcceptItem(contextID: Self.contextID, result: .acceptance,
                                                                              transferSyntax: TransferSyntax.explicitVRLittleEndian.uid))])))
        return association
    }

    func pdv(command: Bool, last: Bool, _ bytes: ByteBuffer) -> DataTransfer {
        DataTransfer(items: [PresentationDataValueItem(presentationContextID: Self.contextID,
                                                       messageControlHeader: MessageControlHeader(isCommand: command, isLastFragment: last),
                                                       fragment: bytes)])
    }

    struct Sent {
        var dataSet = ByteBuffer()
        /// Data set bytes handed on before its last fragment arrived.
        var beforeLast = 0
        var failure: String?
    }

    /// A C-STORE-RQ with `dataSet` from the SCU in 64 KiB pieces.
    func store(_ dataSet: ByteBuffer, through association: inout AssociationRewriter, from sender: PeerRole = .requestor) throws -> Sent {
        var sent = Sent()
        let command = try DIMSECommand.cStoreRequest(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
                                                                   affectedSOPInstanceUID: "1.2.3")).encodedCommandSet()
        var pdus = [pdv(command: true, last: true, command)]
        var rest = dataSet
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(1 << 16, rest.readableBytes))!
            pdus.append(pdv(command: false, last: rest.readableBytes == 0, piece))
        }
        for (i, pdu) in pdus.enumerated() {
            let result = association.dataTransfer(pdu, from: sender)
            if let failure = result.failure {
                sent.failure = failure
                return sent
            }
            for item in result.pdus.flatMap(\.items) where !item.messageControlHeader.isCommand {
                var f = item.fragment
                if i < pdus.count - 1 { sent.beforeLast += f.readableBytes }
                sent.dataSet.writeBuffer(&f)
            }
        }
        return sent
    }

    func groupLength(_ group: UInt16, of ds: Dataset) throws -> Int {
        var n = 0
        for e in ds.elements where e.tag.group == group && !e.tag.isGroupLength {
            n += try DatasetEncoder().encode(Dataset(elements: [e], encoding: ds.encoding)).readableBytes
        }
        return n
    }

    /// Pixel data with its own Group Length (7FE0,0000), far past the hold limit, streams: the group
    /// goes on with its length as received while a Patient ID before it is rewritten.
    @Test(.cpuHeavy) func anUnchangedGroupWithAGroupLengthStreams() throws {
        let pixels = ByteBuffer(bytes: (0..<3_000_000).map { UInt8($0 % 251) })
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientID", "1234567"))
        ds.set(DataElement.integers(Tag(0x7FE0_0000), vr: .UL, [UInt32(12 + pixels.readableBytes)], isBigEndian: false))
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes(pixels), isBigEndian: false))
        var association = association(rewriter)
        let sent = try store(try DatasetEncoder().encode(ds), through: &association)
        #expect(sent.failure == nil)
        #expect(sent.beforeLast > 2_000_000)
        let decoded = try DatasetDecoder().decode(sent.dataSet, encoding: .explicitLittleEndian)
        #expect(decoded[Tag(0x0010_0020)]?.string() == pseudonymizer.pseudonym(for: "1234567", vr: .LO))
        #expect(decoded[Tag(0x7FE0_0000)]?.integers == [Int64(12 + pixels.readableBytes)])
        #expect(decoded[.pixelData]?.bytes == pixels)
    }

    /// A group with a Group Length holding a sequence of defined length past the hold limit: the
    /// sequence and its item are written with undefined length, and the group's length grows by
    /// their delimiters (unchanged group) or is recomputed (a Patient ID in it rewritten).
    @Test(.cpuHeavy) func groupLengthsFollowSequencesConvertedPastTheHoldLimit() throws {
        for rewritesInside in [false, true] {
            var item = Dataset(encoding: .explicitLittleEndian)
            item.set(element(rewritesInside ? "PatientID" : "TypeOfPatientID", rewritesInside ? "OTHER-1" : "TEXT"))
            item.set(DataElement(tag: Tag(0x0042_0011), vr: .OB, value: .bytes(ByteBuffer(bytes: [UInt8](repeating: 7, count: 2_500_000))),
                                 isBigEndian: false))
            var ds = Dataset(encoding: .explicitLittleEndian)
            ds.set(element("PatientID", "1234567"))
            let sequence = DataElement.sequence(Tag(0x0040_0275), items: [item], isBigEndian: false)
            ds.set(sequence)
            ds.set(DataElement.integers(Tag(0x0040_0000), vr: .UL, [UInt32(try groupLength(0x0040, of: ds))], isBigEndian: false))
            var association = association(rewriter)
            let sent = try store(try DatasetEncoder().encode(ds), through: &association)
            #expect(sent.failure == nil)
            let decoded = try DatasetDecoder().decode(sent.dataSet, encoding: .explicitLittleEndian)
            let out = try #require(decoded[Tag(0x0040_0275)])
            #expect(out.hasUndefinedLength)
            #expect(decoded[Tag(0x0040_0000)]?.integers == [Int64(try groupLength(0x0040, of: decoded))], "\(rewritesInside)")
            if rewritesInside {
                #expect(out.items?.first?.dataset[Tag(0x0010_0020)]?.string() == pseudonymizer.pseudonym(for: "OTHER-1", vr: .LO))
            } else {
                // Nothing in the group changed: it streamed.
                #expect(sent.beforeLast > 1_000_000)
            }
        }
    }

    /// A value in a group changes after that group's Group Length went on unchanged: it cannot be
    /// rewritten, and nothing of the data set past that point goes on.
    @Test func aChangeAfterTheGroupLengthWentOnFails() throws {
        var rules = RewriteRules()
        rules.add(AttributeRule(tag: Tag(0x0042_0012), action: .replace("application/octet-stream")))
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(DataElement(tag: Tag(0x0042_0011), vr: .OB, value: .bytes(ByteBuffer(bytes: [UInt8](repeating: 1, count: 3_000_000))),
                           isBigEndian: false))
        ds.set(element("MIMETypeOfEncapsulatedDocument", "application/pdf"))
        ds.set(DataElement.integers(Tag(0x0042_0000), vr: .UL, [UInt32(try groupLength(0x0042, of: ds))], isBigEndian: false))
        var association = association(rewriter)
        let sent = try store(try DatasetEncoder().encode(ds), through: &association)
        #expect(sent.failure?.contains("changed after its Group Length went on") == true)
    }

    /// Towards the SCU, a data set that fails part-way goes on exactly as received, nothing of the
    /// rewritten part before it (held in the fragmenter) mixed in.
    @Test func theFallbackTowardsTheSCUSendsOnlyTheOriginal() throws {
        // The pseudonym is issued first, so that the SCP's data set has something to restore.
        var notes: [RewriteNote] = []
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientID", "1234567"))
        _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
        var good = try DatasetEncoder().encode(ds)
        // Then (0010,0021) LO with a length running past the end, in a second fragment.
        let garbage = ByteBuffer(bytes: [0x10, 0x00, 0x21, 0x00, 0x4C, 0x4F, 0x40, 0x00, 0x31, 0x32])
        var association = association(rewriter)
        let command = try DIMSECommand.cStoreRequest(CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3"))
            .encodedCommandSet()
        _ = association.dataTransfer(pdv(command: true, last: true, command), from: .acceptor)
        let first = association.dataTransfer(pdv(command: false, last: false, good), from: .acceptor)
        #expect(first.pdus.isEmpty)
        let second = association.dataTransfer(pdv(command: false, last: true, garbage), from: .acceptor)
        #expect(second.failure == nil)
        #expect(second.problems.count == 1)
        var expected = ByteBuffer()
        expected.writeBuffer(&good)
        expected.writeImmutableBuffer(garbage)
        var dataSet = ByteBuffer()
        for item in second.pdus.flatMap(\.items) where !item.messageControlHeader.isCommand {
            var f = item.fragment
            dataSet.writeBuffer(&f)
        }
        #expect(dataSet == expected)
    }
}
