import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import Testing
@testable import DICOMRewrite

/// The fixed test key: bytes 0...31.
let testKey = try! SecretKey(bytes: Array(0..<32))

func writeKeyFile(_ directory: TemporaryDirectory, bytes: [UInt8] = Array(0..<32), mode: mode_t = 0o600) throws -> String {
    let path = directory.file("key-\(UUID().uuidString.prefix(6))")
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    chmod(path, mode)
    return path
}

func pseudonymRules(_ attributes: [String], prefix: String = "") -> RewriteRules {
    var rules = RewriteRules()
    for attribute in attributes {
        rules.add(AttributeRule(tag: RewriteRules.tag(named: attribute)!, action: .pseudonymize(PseudonymFormat(prefix: prefix))))
    }
    return rules
}

func element(_ keyword: String, _ text: String, characterSet: SpecificCharacterSet = .default,
             bigEndian: Bool = false) -> DataElement {
    let tag = RewriteRules.tag(named: keyword)!
    return DataElement(tag: tag, vr: DataDictionary.vr(for: tag)!, string: text, characterSet: characterSet,
                       isBigEndian: bigEndian)!
}

@Suite struct PseudonymizerTests {
    /// The encoding is the documented one: the expected values were computed with Python's hmac
    /// and base64 modules from the description in `Pseudonymizer`, not with this code.
    @Test func matchesTheDocumentedEncoding() {
        let p = Pseudonymizer(key: testKey)
        #expect(p.pseudonym(for: "1234567", vr: .LO) == "YYWAWDVSJ4GVA6LG")
        #expect(p.pseudonym(for: "Doe^John", vr: .PN) == "ODB5PPOKEDOTOM6B")
        #expect(p.pseudonym(for: "Müller^Jürgen", vr: .PN) == "5IFUQAGA623K2VUP")
        // SH holds 16 characters: the prefix leaves 13 of the keyed part.
        #expect(p.pseudonym(for: "1234567", vr: .SH, format: PseudonymFormat(prefix: "RS-")) == "RS-YYWAWDVSJ4GVA")
        #expect(p.pseudonym(for: "1.2.3.4", vr: .UI) == "2.25.47913055405808192614495281118615364750")
        #expect(p.pseudonym(for: "", vr: .LO) == "")
        // Deterministic, and a different key gives a different pseudonym.
        #expect(p.pseudonym(for: "1234567", vr: .LO) == Pseudonymizer(key: testKey).pseudonym(for: "1234567", vr: .LO))
        let other = Pseudonymizer(key: try! SecretKey(bytes: Array((0..<32).reversed())))
        #expect(other.pseudonym(for: "1234567", vr: .LO) != "YYWAWDVSJ4GVA6LG")
    }

    @Test func formatsThatDoNotFitAreRefused() {
        #expect(Pseudonymizer.problem(with: PseudonymFormat(prefix: "ABCDEFGHIJ"), vr: .SH) != nil)
        #expect(Pseudonymizer.problem(with: PseudonymFormat(), vr: .DA) != nil)
        #expect(Pseudonymizer.problem(with: PseudonymFormat(prefix: "x"), vr: .CS) != nil)
        #expect(Pseudonymizer.problem(with: PseudonymFormat(prefix: "X"), vr: .UI) != nil)
        #expect(Pseudonymizer.problem(with: PseudonymFormat(prefix: "P-"), vr: .LO) == nil)
    }

    @Test func pseudonymizingNeedsAKey() {
        // Refused before anything starts (the key files themselves: SecretKeyTests).
        #expect(throws: RewriteError.self) { try Rewriter(rules: pseudonymRules(["PatientID"]), key: nil) }
    }

    /// What makes `dicomtap proxy` warn, without --allow, that any client can get originals back.
    @Test func mapsOriginalsBack() {
        #expect(pseudonymRules(["PatientID"]).mapsOriginalsBack)
        var oneWay = pseudonymRules(["PatientID"])
        oneWay.reverseMap = false
        #expect(!oneWay.mapsOriginalsBack)
        var emptied = RewriteRules()
        emptied.add(AttributeRule(tag: RewriteRules.tag(named: "PatientName")!, action: .empty))
        emptied.aeTitles.calling = ["MODALITY": "ALIAS"]
        #expect(!emptied.mapsOriginalsBack)
    }
}

@Suite struct RulesFileTests {
    func error(_ yaml: String) -> RewriteError? {
        do {
            _ = try RewriteRulesLoader.parse(yaml, name: "rules.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func aFullRulesFile() throws {
        let dir = try TemporaryDirectory("rules")
        defer { dir.remove() }
        try "original,replacement\nHOSP-A,SITE-1\n\"HOSP,B\",SITE-2\n".write(toFile: dir.file("issuers.csv"), atomically: true, encoding: .utf8)
        let yaml = """
            reverse-map: true
            key-file: secret.key
            mapping-store: map.sqlite
            attributes:
              - attribute: PatientID
                action: pseudonymize
                prefix: "P-"
              - { attribute: "(0010,0010)", action: pseudonymize }
              - { attribute: PatientBirthDate, action: replace, value: "19000101" }
              - { attribute: IssuerOfPatientID, action: map, file: issuers.csv }
              - { attribute: OtherPatientIDsSequence, action: remove }
              - { attribute: PatientSex, action: empty }
              - { attribute: PatientAge, action: keep }
            aeTitles:
              called: { ARCHIVE: RESEARCH }
              calling: { MODALITY: GATEWAY }
            """
        try yaml.write(toFile: dir.file("rules.yaml"), atomically: true, encoding: .utf8)
        let rules = try RewriteRulesLoader.load(path: dir.file("rules.yaml"))
        #expect(rules.keyFile == dir.path + "/secret.key")
        #expect(rules.mappingStore == dir.path + "/map.sqlite")
        #expect(rules.attributes[Tag(0x0010_0020)]?.action == .pseudonymize(PseudonymFormat(prefix: "P-")))
        #expect(rules.attributes[Tag(0x0010_0010)]?.action == .pseudonymize(PseudonymFormat()))
        #expect(rules.attributes[Tag(0x0010_0030)]?.action == .replace("19000101"))
        #expect(rules.attributes[Tag(0x0010_1002)]?.action == .remove)
        #expect(rules.attributes[Tag(0x0010_0040)]?.action == .empty)
        #expect(rules.attributes[Tag(0x0010_1010)]?.action == .keep)
        guard case .map(let map)? = rules.attributes[Tag(0x0010_0021)]?.action else {
            Issue.record("no map rule")
            return
        }
        #expect(map.forward == ["HOSP-A": "SITE-1", "HOSP,B": "SITE-2"])
        #expect(rules.aeTitles.called == ["ARCHIVE": "RESEARCH"])
        #expect(rules.aeTitles.calling == ["MODALITY": "GATEWAY"])
        #expect(rules.attributes[Tag(0x0010_0020)]?.source == dir.file("rules.yaml") + ":5")
    }

    /// The shipped example (tools/rewrite-annex-e.yaml) loads.
    @Test func theShippedExampleLoads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/rewrite-annex-e.yaml").path
        let rules = try RewriteRulesLoader.load(path: path)
        #expect(rules.attributes[Tag(0x0010_0020)]?.action.name == "pseudonymize")
        #expect(rules.attributes[Tag(0x0010_0010)]?.action.name == "pseudonymize")
        #expect(rules.attributes.count >= 15)
    }

    /// Every mistake is reported with the file and line it is on.
    @Test func badRulesNameTheLine() {
        let cases: [(String, String)] = [
            ("attributes:\n  - attribute: PatientID\n    action: pseudonymise\n", "rules.yaml:3: unknown action 'pseudonymise'"),
            ("attributes:\n  PatientID: pseudonymize\n  PatientIdentifier: remove\n", "rules.yaml:3: unknown attribute 'PatientIdentifier'"),
            ("attributes: [\n", "rules.yaml:2:1: not valid YAML"),
            ("reverse-map: true\nattribute:\n  - {}\n", "rules.yaml:2: unknown key 'attribute'"),
            ("attributes:\n  - attribute: PatientID\n", "rules.yaml:2: the rule for PatientID has no 'action:'"),
            ("attributes:\n  - { attribute: PatientName, action: pseudonymize, value: x }\n", "rules.yaml:2: 'value' does not apply"),
            ("attributes:\n  - attribute: IssuerOfPatientID\n    action: pseudonymize\n    prefix: \"0123456789012345678901234567890123456789012345678901234567\"\n",
             "rules.yaml:3: cannot pseudonymize IssuerOfPatientID: the prefix"),
            ("attributes:\n  - { attribute: PatientBirthDate, action: pseudonymize }\n", "rules.yaml:2: cannot pseudonymize PatientBirthDate: VR DA"),
            ("attributes:\n  - { attribute: IssuerOfPatientID, action: map, file: /nonexistent/map.csv }\n",
             "rules.yaml:2: /nonexistent/map.csv: cannot read the map file: there is no such file"),
            ("attributes:\n  - { attribute: IssuerOfPatientID, action: map, file: /dev/zero }\n",
             "rules.yaml:2: /dev/zero: cannot read the map file: it is a device, not a regular file"),
            ("reverse-map: maybe\n", "rules.yaml:1: reverse-map must be true or false"),
            ("aeTitles:\n  called:\n    ARCHIVE: THIS-TITLE-IS-TOO-LONG\n", "rules.yaml:3: 'THIS-TITLE-IS-TOO-LONG' is not an AE title"),
            ("", "rules.yaml: the rules file is empty"),
        ]
        for (yaml, expected) in cases {
            let message = error(yaml)?.description ?? "(accepted)"
            #expect(message.hasPrefix(expected), "\(yaml) gave: \(message)")
        }
    }

    @Test func badMapFilesNameTheLine() throws {
        let dir = try TemporaryDirectory("map")
        defer { dir.remove() }
        try "A,1\nB,2\nC,1\n".write(toFile: dir.file("dup.csv"), atomically: true, encoding: .utf8)
        try "A,1\nB\n".write(toFile: dir.file("short.csv"), atomically: true, encoding: .utf8)
        #expect(throws: RewriteError.self) { try ValueMap(contentsOfFile: dir.file("dup.csv")) }
        do { _ = try ValueMap(contentsOfFile: dir.file("dup.csv")) } catch {
            #expect(error.description.hasPrefix(dir.file("dup.csv") + ":3: the replacement '1' is given for two values"))
        }
        do { _ = try ValueMap(contentsOfFile: dir.file("short.csv")) } catch {
            #expect(error.description.hasPrefix(dir.file("short.csv") + ":2: expected two fields"))
        }
    }
}

@Suite struct DatasetRewriterTests {
    let rewriter = try! Rewriter(rules: pseudonymRules(["PatientID", "PatientName"]), key: testKey)

    /// An identifier-like data set: group lengths, a nested sequence with a Patient ID, values around the rewritten ones.
    func sampleDataset(bigEndian: Bool, patientID: String = "1234567", name: String = "Doe^John",
                       characterSet: SpecificCharacterSet = .default, charsetTerm: String? = nil) -> Dataset {
        var ds = Dataset(encoding: bigEndian ? .explicitBigEndian : .explicitLittleEndian)
        if let charsetTerm {
            ds.set(DataElement(tag: .specificCharacterSet, vr: .CS, string: charsetTerm, isBigEndian: bigEndian)!)
        }
        ds.set(element("Modality", "OT", bigEndian: bigEndian))
        ds.set(DataElement.integers(Tag(0x0010_0000), vr: .UL, [UInt32(0)], isBigEndian: bigEndian))
        ds.set(element("PatientName", name, characterSet: characterSet, bigEndian: bigEndian))
        ds.set(element("PatientID", patientID, bigEndian: bigEndian))
        ds.set(element("PatientBirthDate", "19700101", bigEndian: bigEndian))
        var item = Dataset(encoding: ds.encoding)
        item.set(element("PatientID", "OTHER-1", bigEndian: bigEndian))
        item.set(element("TypeOfPatientID", "TEXT", bigEndian: bigEndian))
        ds.set(DataElement.sequence(Tag(0x0010_1002), items: [item], isBigEndian: bigEndian))
        ds.set(DataElement.integers(Tag(0x0028_0010), vr: .US, [UInt16(64)], isBigEndian: bigEndian))
        // A correct group length for group 0010 to start with.
        var scratch = ByteBuffer()
        for e in ds.elements where e.tag.group == 0x0010 && !e.tag.isGroupLength {
            try! DatasetEncoder().encode(e, encoding: ds.encoding, into: &scratch)
        }
        ds.set(DataElement.integers(Tag(0x0010_0000), vr: .UL, [UInt32(scratch.readableBytes)], isBigEndian: bigEndian))
        return ds
    }

    func encodedElements(_ ds: Dataset) -> [DICOMCore.Tag: ByteBuffer] {
        var out: [DICOMCore.Tag: ByteBuffer] = [:]
        for e in ds.elements { out[e.tag] = try! DatasetEncoder().encode(Dataset(elements: [e], encoding: ds.encoding)) }
        return out
    }

    func roundTrip(_ syntax: TransferSyntax, bigEndian: Bool) throws {
        let original = sampleDataset(bigEndian: bigEndian)
        var plain = try DatasetEncoder().encode(original)
        let wire = syntax.isDeflated ? try Deflate.deflate(plain) : plain
        var notes: [RewriteNote] = []
        let rewritten = try #require(try rewriter.rewrite(dataSet: wire, transferSyntax: syntax, direction: .towardsAcceptor,
                                                          notes: &notes))
        let rewrittenPlain = syntax.isDeflated ? try Deflate.inflate(rewritten, maxSize: 1 << 20, offset: 0) : rewritten
        let decoded = try DatasetDecoder().decode(rewrittenPlain, encoding: syntax.encoding)
        let p = Pseudonymizer(key: testKey)
        #expect(decoded[Tag(0x0010_0020)]?.string() == p.pseudonym(for: "1234567", vr: .LO))
        #expect(decoded[Tag(0x0010_0010)]?.string() == p.pseudonym(for: "Doe^John", vr: .PN))
        // Inside the sequence too.
        let item = try #require(decoded[Tag(0x0010_1002)]?.items?.first)
        #expect(item.dataset[Tag(0x0010_0020)]?.string() == p.pseudonym(for: "OTHER-1", vr: .LO))
        #expect(item.dataset[Tag(0x0010_0022)]?.string() == "TEXT")
        // Every element not rewritten keeps its bytes; the group length is the new group's length.
        let before = encodedElements(original)
        let after = encodedElements(decoded)
        for tag in [Tag(0x0008_0060), Tag(0x0010_0030), Tag(0x0028_0010)] { #expect(before[tag] == after[tag]) }
        var groupLength = 0
        for e in decoded.elements where e.tag.group == 0x0010 && !e.tag.isGroupLength {
            groupLength += try DatasetEncoder().encode(Dataset(elements: [e], encoding: decoded.encoding)).readableBytes
        }
        #expect(decoded[Tag(0x0010_0000)]?.integers == [Int64(groupLength)])
        #expect(notes.filter { $0.kind == .rewritten }.count == 3)
        #expect(notes.contains { $0.path == "(0010,1002)[1]>(0010,0020)" })

        // Back towards the SCU: byte for byte the original data set.
        var back: [RewriteNote] = []
        let restored = try #require(try rewriter.rewrite(dataSet: rewritten, transferSyntax: syntax, direction: .towardsRequestor,
                                                         notes: &back))
        let restoredPlain = syntax.isDeflated ? try Deflate.inflate(restored, maxSize: 1 << 20, offset: 0) : restored
        #expect(restoredPlain == plain)
        #expect(back.filter { $0.kind == .restored }.count == 3)
        plain = ByteBuffer()
    }

    @Test func explicitVRLittleEndian() throws { try roundTrip(.explicitVRLittleEndian, bigEndian: false) }
    @Test func explicitVRBigEndian() throws { try roundTrip(.explicitVRBigEndian, bigEndian: true) }
    @Test func deflated() throws { try roundTrip(.deflatedExplicitVRLittleEndian, bigEndian: false) }

    @Test func implicitVRLittleEndian() throws {
        var ds = sampleDataset(bigEndian: false)
        ds.encoding = .implicitLittleEndian
        // The sample's group length was computed for explicit VR.
        ds.remove(Tag(0x0010_0000))
        let wire = try DatasetEncoder().encode(ds)
        var notes: [RewriteNote] = []
        let out = try #require(try rewriter.rewrite(dataSet: wire, transferSyntax: .implicitVRLittleEndian,
                                                    direction: .towardsAcceptor, notes: &notes))
        let back = try #require(try rewriter.rewrite(dataSet: out, transferSyntax: .implicitVRLittleEndian,
                                                     direction: .towardsRequestor, notes: &notes))
        #expect(back == wire)
    }

    /// An identifier at the VR's maximum length (LO: 64) and a name in UTF-8 (ISO_IR 192).
    @Test func maximumLengthAndNonASCII() throws {
        let longID = String(repeating: "9876543210", count: 6) + "ABCD"
        #expect(longID.count == 64)
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        let ds = sampleDataset(bigEndian: false, patientID: longID, name: "Müller^Jürgen=ミュラー^ユルゲン", characterSet: utf8,
                               charsetTerm: "ISO_IR 192")
        let wire = try DatasetEncoder().encode(ds)
        var notes: [RewriteNote] = []
        let out = try #require(try rewriter.rewrite(dataSet: wire, transferSyntax: .explicitVRLittleEndian,
                                                    direction: .towardsAcceptor, notes: &notes))
        let decoded = try DatasetDecoder().decode(out, encoding: .explicitLittleEndian)
        let id = try #require(decoded[Tag(0x0010_0020)]?.string())
        #expect(id.count <= 64 && id != longID)
        let name = try #require(decoded[Tag(0x0010_0010)]?.string(characterSet: utf8))
        #expect(name.allSatisfy { $0.isASCII })
        #expect(!(Array(out.readableBytesView).contains(bytes: Array("Müller".utf8))))
        let back = try #require(try rewriter.rewrite(dataSet: out, transferSyntax: .explicitVRLittleEndian,
                                                     direction: .towardsRequestor, notes: &notes))
        #expect(back == wire)
    }

    @Test func unknownPseudonymsPassAndAreFlagged() throws {
        var ds = Dataset()
        ds.set(element("PatientID", "NOT-ISSUED"))
        ds.set(element("PatientName", ""))
        var notes: [RewriteNote] = []
        #expect(try rewriter.rewrite(&ds, direction: .towardsRequestor, notes: &notes) == false)
        #expect(ds[Tag(0x0010_0020)]?.string() == "NOT-ISSUED")
        #expect(notes.map(\.kind) == [.unknownPseudonym])
    }

    @Test func otherActions() throws {
        let dir = try TemporaryDirectory("actions")
        defer { dir.remove() }
        try "HOSP-A,SITE-1\n".write(toFile: dir.file("map.csv"), atomically: true, encoding: .utf8)
        var rules = RewriteRules()
        rules.add(AttributeRule(tag: Tag(0x0010_0021), action: .map(try ValueMap(contentsOfFile: dir.file("map.csv")))))
        rules.add(AttributeRule(tag: Tag(0x0010_0030), action: .replace("19000101")))
        rules.add(AttributeRule(tag: Tag(0x0010_0040), action: .empty))
        rules.add(AttributeRule(tag: Tag(0x0010_1002), action: .remove))
        rules.add(AttributeRule(tag: Tag(0x0010_1000), action: .map(try ValueMap(contentsOfFile: dir.file("map.csv")))))
        let rewriter = try Rewriter(rules: rules, key: nil)
        var ds = sampleDataset(bigEndian: false)
        ds.set(element("IssuerOfPatientID", "HOSP-A"))
        ds.set(element("PatientSex", "M"))
        ds.set(element("OtherPatientIDs", "NOT-IN-MAP"))
        var notes: [RewriteNote] = []
        #expect(try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes))
        #expect(ds[Tag(0x0010_0021)]?.string() == "SITE-1")
        #expect(ds[Tag(0x0010_0030)]?.string() == "19000101")
        #expect(ds[Tag(0x0010_0040)]?.valueLength == 0)
        #expect(ds[Tag(0x0010_1002)] == nil)
        // Not in the map: emptied, never passed on.
        #expect(ds[Tag(0x0010_1000)]?.valueLength == 0)
        #expect(notes.contains { $0.kind == .emptied && $0.tag == Tag(0x0010_1000) })
        var back: [RewriteNote] = []
        #expect(try rewriter.rewrite(&ds, direction: .towardsRequestor, notes: &back))
        #expect(ds[Tag(0x0010_0021)]?.string() == "HOSP-A")
    }

    /// The mapping store is created 0600 and remembers across instances.
    @Test func mappingStorePersists() throws {
        let dir = try TemporaryDirectory("store")
        defer { dir.remove() }
        let path = dir.file("map.sqlite")
        do {
            let store = try MappingStore(path: path)
            let rewriter = try Rewriter(rules: pseudonymRules(["PatientID"]), key: testKey, store: store)
            var ds = Dataset()
            ds.set(element("PatientID", "1234567"))
            var notes: [RewriteNote] = []
            _ = try rewriter.rewrite(&ds, direction: .towardsAcceptor, notes: &notes)
        }
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let reopened = try MappingStore(path: path)
        #expect(try reopened.original(of: "YYWAWDVSJ4GVA6LG")?.original == "1234567")
        #expect(try reopened.original(of: "UNKNOWN") == nil)
        #expect(try reopened.count() == 1)
    }
}
