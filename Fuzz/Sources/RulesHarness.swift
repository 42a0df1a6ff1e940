import DICOMCore
import DICOMRewrite
import Foundation
import NIOCore

/// The rewrite-rules YAML loader (Yams, then our own reading of the document): the input is the
/// text of a rules file. When it loads, every option it defines is switched on in turn (each on
/// its own, a conflict being an error, not a crash), and a rewriter is made from the rules with a
/// key and run on a small data set. Oracle: no crash.
enum RulesHarness {
    static let sample: ByteBuffer = {
        var dataset = Dataset(encoding: .explicitLittleEndian)
        for (tag, vr, value) in [(Tag(0x0008_0018), VR.UI, "1.2.3.4"), (Tag(0x0008_0020), .DA, "20240101"),
                                 (Tag(0x0010_0010), .PN, "DOE^JOHN"), (Tag(0x0010_0020), .LO, "12345")] {
            if let element = DataElement(tag: tag, vr: vr, string: value) { dataset.append(element) }
        }
        return (try? DatasetEncoder().encode(dataset)) ?? ByteBuffer()
    }()

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        let text = String(decoding: data, as: UTF8.self)
        guard let rules = try? RewriteRulesLoader.parse(text, name: "fuzz.yaml", baseDirectory: "/nonexistent") else { return }
        for name in rules.optionSets.keys.sorted() {
            var one = rules
            try? one.enable(option: name)
        }
        _ = rules.orderedRules.count
        guard let rewriter = try? Rewriter(rules: rules, key: RewriteHarness.key, store: MappingStore()) else { return }
        var notes: [RewriteNote] = []
        _ = try? rewriter.rewrite(dataSet: sample, transferSyntax: .explicitVRLittleEndian, direction: .towardsAcceptor, notes: &notes)
        _ = try? rewriter.rewrite(dataSet: sample, transferSyntax: .explicitVRLittleEndian, direction: .towardsRequestor, notes: &notes)
    }

    /// The shipped profile, and the loader's documented example.
    static func seeds(root: String) throws -> [[UInt8]] {
        let example = """
            reverse-map: true
            attributes:
              - attribute: PatientID
                action: pseudonymize
                prefix: "P"
              - { attribute: PatientName, action: pseudonymize }
              - { attribute: PatientBirthDate, action: replace, value: "19000101" }
              - { attribute: "(0008,0020)", action: shift-date }
            aeTitles:
              called: { ARCHIVE: RESEARCH }
              calling: { MODALITY: GATEWAY }
            repeating-groups:
              - { pattern: "(50xx,xxxx)", action: remove }
            private-attributes: keep-safe
            safe-private:
              - { creator: "Philips PET Private Group", tag: "(7053,xx00)" }
            profile:
              code: { value: "113100", scheme: DCM, meaning: "Basic Application Confidentiality Profile" }
            options:
              retain-uids:
                code: { value: "113110", scheme: DCM, meaning: "Retain UIDs Option" }
                excludes: []
                private-attributes: keep-safe
                attributes: [ { attribute: SOPInstanceUID, action: retain } ]
                repeating-groups: []
            enable-options: [retain-uids]
            default-issuers: { MODALITY: HOSP_A, "*": HOSP_DEFAULT }
            date-shift-days: -400
            max-new-pseudonyms: 10000

            """
        return [try readFile((root as NSString).appendingPathComponent("tools/rewrite-annex-e.yaml")), Array(example.utf8)]
    }
}
