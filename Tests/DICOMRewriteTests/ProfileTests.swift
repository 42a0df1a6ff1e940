import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import Testing
import DICOMPeerSupport
@testable import DICOMRewrite

/// What the confidentiality profile asks beyond plain rules: private attributes (seen into or
/// removed), Patient IDs in their issuer's namespace, command sets that follow their data sets,
/// the de-identification marks, widened queries, collisions and the cap on new pseudonyms.
@Suite struct ProfileTests {
    let pseudonymizer = Pseudonymizer(key: testKey)

    /// The encoded items of a sequence (implicit VR LE, as a private or UN value holds them).
    func implicitItems(_ items: [Dataset]) throws -> ByteBuffer {
        let sequence = DataElement.sequence(Tag(0x0009_1010), items: items, isBigEndian: false)
        var bytes = try DatasetEncoder().encode(Dataset(elements: [sequence], encoding: .implicitLittleEndian))
        bytes.moveReaderIndex(forwardBy: 8)
        return bytes
    }

    /// A data set with identifiers inside a private sequence of defined length, which the
    /// decoder sees as an opaque UN value (implicit VR, or explicit VR UN).
    func privateSequenceDataSet(_ encoding: DatasetEncoding) throws -> ByteBuffer {
        let be = encoding.isBigEndian
        var item = Dataset(encoding: .implicitLittleEndian)
        item.set(element("PatientName", "Hidden^Private^Zq7"))
        item.set(element("PatientID", "PRIV-ID-Qx81"))
        var ds = Dataset(encoding: encoding)
        ds.set(DataElement(tag: Tag(0x0009_0010), vr: .LO, string: "ACME 1.0", isBigEndian: be)!)
        ds.set(DataElement(tag: Tag(0x0009_1010), vr: .UN, value: .bytes(try implicitItems([item])), isBigEndian: be))
        ds.set(element("PatientName", "Doe^John^Kw3", bigEndian: be))
        ds.set(element("PatientID", "TOP-ID-Vb52", bigEndian: be))
        return try DatasetEncoder().encode(ds)
    }

    func rewrite(_ rewriter: Rewriter, _ bytes: ByteBuffer, _ syntax: TransferSyntax, purpose: DataSetPurpose = .other,
                 notes: inout [RewriteNote]) throws -> ByteBuffer {
        var input = bytes
        if syntax.isDeflated { input = try Deflate.deflate(bytes) }
        let out = try rewriter.rewrite(dataSet: input, transferSyntax: syntax, direction: .towardsAcceptor, purpose: purpose,
                                       notes: &notes) ?? input
        return syntax.isDeflated ? try Deflate.inflate(out, maxSize: 1 << 24, offset: 0) : out
    }

    func contains(_ buffer: ByteBuffer, _ text: String) -> Bool {
        Array(buffer.readableBytesView).contains(bytes: Array(text.utf8))
    }

    @Test(arguments: [TransferSyntax.implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian,
                      .deflatedExplicitVRLittleEndian])
    func privateSequencesTheRulesKeepAreRewrittenInside(_ syntax: TransferSyntax) throws {
        let rewriter = try Rewriter(rules: pseudonymRules(["PatientID", "PatientName"]), key: testKey)
        let original = try privateSequenceDataSet(syntax.encoding)
        #expect(contains(original, "PRIV-ID-Qx81"))
        var notes: [RewriteNote] = []
        let out = try rewrite(rewriter, original, syntax, notes: &notes)
        for secret in ["PRIV-ID-Qx81", "Hidden^Private^Zq7", "TOP-ID-Vb52", "Doe^John^Kw3"] { #expect(!contains(out, secret), "\(secret)") }
        #expect(contains(out, pseudonymizer.pseudonym(for: "PRIV-ID-Qx81", vr: .LO)))
        #expect(contains(out, "ACME 1.0"))
        #expect(notes.contains { $0.path == "(0009,1010)[1]>(0010,0020)" })
        // Still a readable data set with the private element in place.
        let decoded = try DatasetDecoder().decode(out, encoding: syntax.encoding)
        #expect(decoded[Tag(0x0009_1010)] != nil)
    }

    @Test(arguments: [TransferSyntax.implicitVRLittleEndian, .explicitVRBigEndian])
    func privateAttributesAreRemovedWhenThePolicySaysSo(_ syntax: TransferSyntax) throws {
        var rules = pseudonymRules(["PatientID", "PatientName"])
        rules.privateAttributes = .remove
        let rewriter = try Rewriter(rules: rules, key: testKey)
        // Inside a public sequence too.
        let be = syntax.encoding.isBigEndian
        var item = Dataset(encoding: syntax.encoding)
        item.set(DataElement(tag: Tag(0x0011_0010), vr: .LO, string: "OTHER CREATOR", isBigEndian: be)!)
        item.set(DataElement(tag: Tag(0x0011_1001), vr: .LO, string: "NESTED-SECRET-Hj4", isBigEndian: be)!)
        var ds = try DatasetDecoder().decode(try privateSequenceDataSet(syntax.encoding), encoding: syntax.encoding)
        ds.set(DataElement.sequence(Tag(0x0008_1140), items: [item], isBigEndian: be))
        var notes: [RewriteNote] = []
        let out = try rewrite(rewriter, try DatasetEncoder().encode(ds), syntax, notes: &notes)
        let decoded = try DatasetDecoder().decode(out, encoding: syntax.encoding)
        #expect(decoded.elements.allSatisfy { !$0.tag.isPrivate })
        #expect(decoded[Tag(0x0008_1140)]?.items?.first?.dataset.elements.isEmpty == true)
        for secret in ["PRIV-ID-Qx81", "ACME 1.0", "NESTED-SECRET-Hj4", "OTHER CREATOR"] { #expect(!contains(out, secret)) }
        #expect(notes.contains { $0.kind == .removed && $0.tag == Tag(0x0009_1010) })
    }

    @Test func keepSafeKeepsOnlyTheListedPrivateAttributes() throws {
        var rules = RewriteRules()
        rules.privateAttributes = .keepSafe
        rules.safePrivate = [SafePrivateAttribute(creator: "Philips PET Private Group", group: 0x7053, element: 0x00)]
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(DataElement(tag: Tag(0x7053_0010), vr: .LO, string: "Philips PET Private Group ", characterSet: .default)!)
        ds.set(DataElement(tag: Tag(0x7053_0011), vr: .LO, string: "SOMEONE ELSE")!)
        ds.set(DataElement(tag: Tag(0x7053_1000), vr: .DS, string: "1.5")!)     // safe: (7053,xx00) of Philips
        ds.set(DataElement(tag: Tag(0x7053_1009), vr: .DS, string: "2.5")!)     // same creator, not listed
        ds.set(DataElement(tag: Tag(0x7053_1100), vr: .DS, string: "3.5")!)     // (7053,xx00) of another creator
        var notes: [RewriteNote] = []
        let out = try #require(try rewriter.rewrite(dataSet: try DatasetEncoder().encode(ds), transferSyntax: .explicitVRLittleEndian,
                                                    direction: .towardsAcceptor, notes: &notes))
        let decoded = try DatasetDecoder().decode(out, encoding: .explicitLittleEndian)
        #expect(decoded.elements.map(\.tag) == [Tag(0x7053_0010), Tag(0x7053_1000)])
    }

    @Test func patientIDsArePseudonymizedInTheirIssuersNamespace() throws {
        var rules = pseudonymRules(["PatientID"])
        rules.defaultIssuers = ["MODALITY_B": "HOSP_B"]
        let rewriter = try Rewriter(rules: rules, key: testKey)
        func pseudonym(issuer: String?) throws -> String? {
            var ds = Dataset(encoding: .explicitLittleEndian)
            ds.set(element("PatientID", "1234"))
            if let issuer { ds.set(element("IssuerOfPatientID", issuer)) }
            ds.set(element("PatientSex", "F"))
            var notes: [RewriteNote] = []
            _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
            #expect(ds[Tag(0x0010_0040)]?.string() == "F")
            return ds[Tag(0x0010_0020)]?.string()
        }
        let a = try pseudonym(issuer: "HOSP_A")
        let b = try pseudonym(issuer: "HOSP_B")
        let none = try pseudonym(issuer: nil)
        #expect(a == pseudonymizer.pseudonym(for: "1234", vr: .LO, issuer: "HOSP_A"))
        #expect(b == pseudonymizer.pseudonym(for: "1234", vr: .LO, issuer: "HOSP_B"))
        #expect(a != b && a != none && b != none)
        // Without an issuer and without a default one: the derivation pseudonyms were made with before.
        #expect(none == pseudonymizer.pseudonym(for: "1234", vr: .LO))
        // Each maps back to its own original, and the store says in which namespace it was made.
        #expect(try rewriter.store.original(of: a!)?.original == "1234")
        #expect(rewriter.store.cachedRecord(of: b!)?.issuer == "HOSP_B")

        // Through an association: the calling AE's default issuer.
        var association = AssociationRewriter(rewriter: rewriter)
        _ = association.associateRequest(AssociateRequest(fields: AssociationPDUFields(calledAETitle: "ARCHIVE",
                                                                                        callingAETitle: "MODALITY_B", items: [])))
        _ = association.associateAccept(accept(.explicitVRLittleEndian))
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientID", "1234"))
        let (command, data) = try send(&association, .cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.1.1")),
                                       try DatasetEncoder().encode(ds))
        #expect(command != nil)
        let sent = try DatasetDecoder().decode(data, encoding: .explicitLittleEndian)
        #expect(sent[Tag(0x0010_0020)]?.string() == b)
    }

    static let contextID: UInt8 = 1

    func accept(_ syntax: TransferSyntax) -> AssociateAccept {
        AssociateAccept(fields: AssociationPDUFields(calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: [
            .presentationContextAccept(PresentationContextAcceptItem(contextID: Self.contextID, result: .acceptance,
                                                                     transferSyntax: syntax.uid))]))
    }

    /// Sends a command and its data set through `association` from the SCU; returns the command set and data set that went on.
    func send(_ association: inout AssociationRewriter, _ command: DIMSECommand, _ dataSet: ByteBuffer?,
              from sender: PeerRole = .requestor) throws -> (ByteBuffer?, ByteBuffer) {
        var pdvs = [PresentationDataValueItem(presentationContextID: Self.contextID,
                                              messageControlHeader: MessageControlHeader(isCommand: true, isLastFragment: true),
                                              fragment: try command.encodedCommandSet())]
        if let dataSet {
            pdvs.append(PresentationDataValueItem(presentationContextID: Self.contextID,
                                                  messageControlHeader: MessageControlHeader(isCommand: false, isLastFragment: true),
                                                  fragment: dataSet))
        }
        var commandOut: ByteBuffer?
        var data = ByteBuffer()
        for pdv in pdvs {
            let result = association.dataTransfer(DataTransfer(items: [pdv]), from: sender)
            if let failure = result.failure { throw RewriteError(.dataSet, failure) }
            if !result.newRecords.isEmpty { try association.rewriter.store.commit(result.newRecords) }
            for item in result.pdus.flatMap(\.items) {
                var fragment = item.fragment
                if item.messageControlHeader.isCommand { commandOut = fragment } else { data.writeBuffer(&fragment) }
            }
        }
        return (commandOut, data)
    }

    @Test func commandSetsFollowTheirDataSetsBothWays() throws {
        var rules = pseudonymRules(["PatientID", "SOPInstanceUID"])
        rules.profile = DeidentificationProfile(code: DeidentificationCode(value: "113100", meaning: "Basic Application Confidentiality Profile"))
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var association = AssociationRewriter(rewriter: rewriter)
        _ = association.associateAccept(accept(.implicitVRLittleEndian))
        let uid = "1.2.826.0.1.3680043.2.1125.777.42"
        var ds = Dataset(encoding: .implicitLittleEndian)
        ds.set(element("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7"))
        ds.set(element("SOPInstanceUID", uid))
        ds.set(element("StudyDate", "20240101"))
        ds.set(element("PatientID", "P-77"))
        let store = DIMSECommand.cStoreRequest(CStoreRequest(messageID: 5, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
                                                             affectedSOPInstanceUID: uid))
        let (command, data) = try send(&association, store, try DatasetEncoder().encode(ds))
        let pseudonym = pseudonymizer.pseudonym(for: uid, vr: .UI)
        let sentCommand = try DatasetDecoder().decode(try #require(command), encoding: .implicitLittleEndian)
        #expect(sentCommand[Tag(0x0000_1000)]?.string() == pseudonym)
        let sent = try DatasetDecoder().decode(data, encoding: .implicitLittleEndian)
        #expect(sent[Tag(0x0008_0018)]?.string() == pseudonym)
        #expect(!contains(command!, uid) && !contains(data, uid))
        // The command's Group Length is the command's length.
        let groupLength = sentCommand[Tag(0x0000_0000)]?.bytes?.getInteger(at: 0, endianness: .little, as: UInt32.self)
        #expect(groupLength.map(Int.init) == command!.readableBytes - 12)
        // The stored instance is marked de-identified, the marks in tag order.
        #expect(sent[Tag(0x0012_0062)]?.string() == "YES")
        #expect(sent[Tag(0x0012_0064)]?.items?.first?.dataset[Tag(0x0008_0100)]?.string() == "113100")
        #expect(sent.elements.map(\.tag) == sent.elements.map(\.tag).sorted())

        // The C-STORE-RSP names the pseudonym: the SCU gets its own UID back.
        let response = DIMSECommand.cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: 5, status: 0,
                                                                  affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
                                                                  affectedSOPInstanceUID: pseudonym))
        let (back, _) = try send(&association, response, nil, from: .acceptor)
        let backCommand = try DatasetDecoder().decode(try #require(back), encoding: .implicitLittleEndian)
        #expect(backCommand[Tag(0x0000_1000)]?.string() == uid)
    }

    @Test func queryKeysTheSCPCannotMatchAreSentAsUniversalMatching() throws {
        var rules = pseudonymRules(["PatientID", "PatientName"])
        rules.add(AttributeRule(tag: Tag(0x0010_0030), action: .empty))
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientName", "Doe*"))
        ds.set(element("PatientID", "1234"))
        ds.set(element("PatientBirthDate", "19700101"))
        var notes: [RewriteNote] = []
        _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, purpose: .query, notes: &notes)
        #expect(ds[Tag(0x0010_0010)]?.valueLength == 0)
        #expect(ds[Tag(0x0010_0030)]?.valueLength == 0)
        #expect(ds[Tag(0x0010_0020)]?.string() == pseudonymizer.pseudonym(for: "1234", vr: .LO))
        #expect(Set(notes.filter { $0.kind == .widened }.map(\.tag)) == [Tag(0x0010_0010), Tag(0x0010_0030)])
    }

    @Test func aPseudonymTakenByAnotherOriginalIsRefused() throws {
        let rewriter = try Rewriter(rules: pseudonymRules(["PatientID"]), key: testKey)
        // The store already maps B's pseudonym to A (as a collision would).
        let taken = pseudonymizer.pseudonym(for: "PATIENT-B", vr: .LO)
        try rewriter.store.commit([PseudonymRecord(pseudonym: taken, original: "PATIENT-A", vr: .LO, tag: Tag(0x0010_0020))])
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("PatientID", "PATIENT-B"))
        var notes: [RewriteNote] = []
        #expect(throws: RewriteError.self) { try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes) }
        #expect(try rewriter.store.original(of: taken)?.original == "PATIENT-A")

        // The store refuses it too, in a file, whatever the cache holds.
        let dir = try TemporaryDirectory()
        let file = try MappingStore(path: dir.file("map.sqlite"))
        try file.commit([PseudonymRecord(pseudonym: "SAME", original: "A", vr: .LO, tag: Tag(0x0010_0020))])
        let reopened = try MappingStore(path: dir.file("map.sqlite"))
        do {
            try reopened.commit([PseudonymRecord(pseudonym: "SAME", original: "B", vr: .LO, tag: Tag(0x0010_0020))])
            Issue.record("a collision was committed")
        } catch {
            #expect(error.code == .collision)
        }
        // The same original again is not a collision.
        try reopened.commit([PseudonymRecord(pseudonym: "SAME", original: "A", vr: .LO, tag: Tag(0x0010_0020))])
        #expect(try reopened.original(of: "SAME")?.original == "A")
    }

    /// A Patient ID last in the identifier (written only when the data set ends) whose pseudonym
    /// collides: the message fails, it does not go on without its Patient ID.
    @Test func aCollisionAtTheEndOfTheDataSetStopsTheMessage() throws {
        let rewriter = try Rewriter(rules: pseudonymRules(["PatientID"]), key: testKey)
        try rewriter.store.commit([PseudonymRecord(pseudonym: pseudonymizer.pseudonym(for: "LAST-ID", vr: .LO), original: "OTHER",
                                                   vr: .LO, tag: Tag(0x0010_0020))])
        var association = AssociationRewriter(rewriter: rewriter)
        _ = association.associateAccept(accept(.explicitVRLittleEndian))
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("QueryRetrieveLevel", "PATIENT"))
        ds.set(element("PatientID", "LAST-ID"))
        #expect(throws: RewriteError.self) {
            _ = try send(&association, .cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.1.1")),
                         try DatasetEncoder().encode(ds))
        }
    }

    /// A pseudonym made in an issuer's namespace, read back from the file after a restart, is the
    /// same original when issued again (not a collision).
    @Test func issuedAgainAfterARestartIsNoCollision() throws {
        let dir = try TemporaryDirectory("issuer-restart")
        defer { dir.remove() }
        var rules = pseudonymRules(["PatientID"])
        rules.defaultIssuers = ["*": "HOSP_A"]
        func rewrite(_ store: MappingStore) throws -> String? {
            let rewriter = try Rewriter(rules: rules, key: testKey, store: store)
            var ds = Dataset(encoding: .explicitLittleEndian)
            ds.set(element("PatientID", "1234"))
            var association = AssociationRewriter(rewriter: rewriter)
            _ = association.associateAccept(accept(.explicitVRLittleEndian))
            let (_, data) = try send(&association, .cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.2.1.1")),
                                     try DatasetEncoder().encode(ds))
            return try DatasetDecoder().decode(data, encoding: .explicitLittleEndian)[Tag(0x0010_0020)]?.string()
        }
        let first = try rewrite(try MappingStore(path: dir.file("map.sqlite")))
        let restarted = try MappingStore(path: dir.file("map.sqlite"))
        // A response mapped back first: the record is read from the file, with its issuer.
        #expect(try restarted.original(of: first!)?.issuer == "HOSP_A")
        #expect(try rewrite(restarted) == first)
    }

    @Test func aMessageWithTooManyNewPseudonymsIsRefused() throws {
        var rules = pseudonymRules(["OtherPatientIDs"])
        rules.maximumNewPseudonyms = 3
        let rewriter = try Rewriter(rules: rules, key: testKey)
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(DataElement(tag: Tag(0x0010_1000), vr: .LO, strings: (1...5).map { "ID-\($0)" })!)
        var notes: [RewriteNote] = []
        do {
            _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
            Issue.record("not refused")
        } catch {
            #expect(error.code == .tooManyPseudonyms)
        }
        #expect(try rewriter.store.count() == 0)
    }

    @Test func shiftedDatesGoBackInResponses() throws {
        var rules = RewriteRules()
        rules.add(AttributeRule(tag: Tag(0x0008_0020), action: .shiftDate))
        rules.dateShiftDays = -400
        let rewriter = try Rewriter(rules: rules, key: nil)
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(element("StudyDate", "20240301"))
        var notes: [RewriteNote] = []
        _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
        #expect(ds[Tag(0x0008_0020)]?.string() == "20230126")
        _ = try rewriter.rewrite(&ds, direction: .towardsRequestor, notes: &notes)
        #expect(ds[Tag(0x0008_0020)]?.string() == "20240301")
    }
}

/// The shipped Basic Profile (tools/rewrite-annex-e.yaml, generated from PS3.15 Table E.1-1).
@Suite struct BasicProfileTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/rewrite-annex-e.yaml").path

    @Test func theProfileAndItsOptionsLoad() throws {
        let rules = try RewriteRulesLoader.load(path: Self.path)
        #expect(rules.attributes.count > 400)
        #expect(rules.privateAttributes == .remove)
        #expect(rules.safePrivate.count > 100)
        #expect(rules.profile?.code.value == "113100")
        #expect(rules.rule(for: Tag(0x0008_0050))?.action.name == "pseudonymize")   // Accession Number
        #expect(rules.rule(for: Tag(0x0008_0090)) != nil)                            // Referring Physician's Name
        #expect(rules.rule(for: Tag(0x0010_2000))?.action.name == "remove")          // Medical Alerts
        #expect(rules.rule(for: Tag(0x5002_3000))?.action.name == "remove")          // a curve group
        for name in ["retain-safe-private", "retain-uids", "retain-device-identity", "retain-institution-identity",
                     "retain-patient-characteristics", "retain-full-dates", "retain-modified-dates", "clean-descriptors",
                     "clean-structured-content", "clean-graphics"] {
            var one = rules
            try one.enable(option: name)
            #expect(one.deidentificationCodes.count == 2, "\(name)")
        }
        var uids = rules
        try uids.enable(option: "retain-uids")
        #expect(uids.rule(for: Tag(0x0008_0018)) == nil)
        var dates = rules
        try dates.enable(option: "retain-modified-dates")
        #expect(dates.rule(for: Tag(0x0008_0020))?.action == .shiftDate)
        #expect(throws: RewriteError.self) { try dates.enable(option: "retain-full-dates") }
        var safe = rules
        try safe.enable(option: "retain-safe-private")
        #expect(safe.privateAttributes == .keepSafe)
        #expect(throws: RewriteError.self) { try safe.enable(option: "retain-everything") }
    }


    /// A value for `vr` unlikely to occur by chance (eight or more random characters), or nil for VRs without one.
    static func original(_ vr: VR, _ g: inout XorShiftGenerator) -> String? {
        func chars(_ n: Int, _ alphabet: String) -> String { String((0..<n).map { _ in alphabet.randomElement(using: &g)! }) }
        let upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        switch vr {
        case .PN: return chars(6, upper) + "^" + chars(6, upper)
        case .LO, .SH, .LT, .ST, .UT, .UC, .AE: return chars(10, upper)
        case .CS: return chars(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        case .UI: return "1.2.826.0.1.3680043.9." + chars(14, "123456789")
        case .DA: return "19" + chars(1, "3456789") + chars(1, "0123456789") + "0" + chars(1, "123456789") + "1" + chars(1, "123456789")
        case .TM: return chars(1, "01") + chars(1, "0123456789") + chars(1, "012345") + chars(1, "0123456789") + "." + chars(6, "0123456789")
        case .DT: return "19" + chars(1, "3456789") + chars(1, "0123456789") + "0612" + chars(6, "0123456789")
        default: return nil
        }
    }

    /// Random data sets of the profile's attributes (at the top, in items, in items of items, in a
    /// private sequence), in every transfer syntax: no original of an attribute the profile
    /// de-identifies is anywhere in what goes to the SCP.
    @Test func noOriginalReachesTheSCP() throws {
        let rules = try RewriteRulesLoader.load(path: Self.path)
        let rewriter = try Rewriter(rules: rules, key: testKey)
        let candidates = rules.orderedRules.compactMap { rule -> (DICOMCore.Tag, VR)? in
            guard let vr = DataDictionary.vr(for: rule.tag), !rule.tag.isGroupLength, rule.tag.group != 0x0002,
                  Self.hasOriginal(vr) else { return nil }
            return (rule.tag, vr)
        }
        #expect(candidates.count > 200)
        let syntaxes: [TransferSyntax] = [.implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian, .deflatedExplicitVRLittleEndian]
        var g = XorShiftGenerator(state: 0x9E37_79B9_7F4A_7C15)
        for round in 0..<60 {
            let syntax = syntaxes[round % syntaxes.count]
            let be = syntax.encoding.isBigEndian
            var originals: [String] = []
            var levels = [Dataset(encoding: syntax.encoding), Dataset(encoding: syntax.encoding), Dataset(encoding: syntax.encoding)]
            var privateItem = Dataset(encoding: .implicitLittleEndian)
            for _ in 0..<40 {
                let (tag, vr) = candidates.randomElement(using: &g)!
                guard let value = Self.original(vr, &g) else { continue }
                let where_ = Int.random(in: 0..<4, using: &g)
                guard let e = DataElement(tag: tag, vr: vr, string: value, isBigEndian: where_ == 3 ? false : be) else { continue }
                originals.append(value)
                if where_ == 3 { privateItem.set(e) } else { levels[where_].set(e) }
            }
            // Items of Referenced Image Sequence (no rule: descended), the deepest inside the middle one.
            levels[1].set(DataElement.sequence(Tag(0x0008_1140), items: [levels[2]], isBigEndian: be))
            levels[0].set(DataElement.sequence(Tag(0x0008_1140), items: [levels[1]], isBigEndian: be))
            let sequence = DataElement.sequence(Tag(0x0009_1010), items: [privateItem], isBigEndian: false)
            var items = try DatasetEncoder().encode(Dataset(elements: [sequence], encoding: .implicitLittleEndian))
            items.moveReaderIndex(forwardBy: 8)
            levels[0].set(DataElement(tag: Tag(0x0009_0010), vr: .LO, string: "ACME 1.0", isBigEndian: be)!)
            levels[0].set(DataElement(tag: Tag(0x0009_1010), vr: .UN, value: .bytes(items), isBigEndian: be))
            var input = try DatasetEncoder().encode(levels[0])
            if syntax.isDeflated { input = try Deflate.deflate(input) }
            var notes: [RewriteNote] = []
            var out = try rewriter.rewrite(dataSet: input, transferSyntax: syntax, direction: .towardsAcceptor, purpose: .store,
                                           notes: &notes) ?? input
            if syntax.isDeflated { out = try Deflate.inflate(out, maxSize: 1 << 24, offset: 0) }
            let bytes = Array(out.readableBytesView)
            for value in originals {
                #expect(!bytes.contains(bytes: Array(value.utf8)), "round \(round) (\(syntax.name)): '\(value)' reached the SCP")
            }
            let decoded = try DatasetDecoder().decode(out, encoding: syntax.encoding)
            #expect(decoded[Tag(0x0012_0062)]?.string() == "YES")
        }
    }

    /// Whether `original` makes values for `vr`.
    static func hasOriginal(_ vr: VR) -> Bool {
        var g = XorShiftGenerator(state: 1)
        return original(vr, &g) != nil
    }
}

/// New pseudonyms are written off the caller's thread (the proxy's event loop), in one transaction per message.
@Suite(.cpuHeavy) struct MappingStoreCommitTests {
    @Test func twoHundredThousandNewPseudonymsDoNotHoldTheCaller() async throws {
        let dir = try TemporaryDirectory("commit")
        defer { dir.remove() }
        let store = try MappingStore(path: dir.file("map.sqlite"))
        let records = (0..<200_000).map {
            PseudonymRecord(pseudonym: "PSEUDONYM-\($0)", original: "ORIGINAL-\($0)", vr: .LO, tag: Tag(0x0010_0020))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let returned = LockedBox<Duration>()
        let written: Duration = try await withCheckedThrowingContinuation { continuation in
            store.commitInBackground(records) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: clock.now - start) }
            }
            returned.value = clock.now - start
        }
        // The caller was free before the rows were written (the write runs on another thread).
        let handedOver = try #require(returned.value)
        #expect(handedOver < written)
        #expect(try store.count() == 200_000)
        #expect(try MappingStore(path: dir.file("map.sqlite")).original(of: "PSEUDONYM-199999")?.original == "ORIGINAL-199999")
    }
}

final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    var value: Value? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
