import NIOCore
import Testing
@testable import DICOMCore

// The ASCII fast paths of `DataElement.strings` and of the text dump's values must give what the
// character-set decoder (with `trimPadding`) and `valueText(_:decoded:)` give: checked on many
// pseudo-random values built from the bytes that matter (padding, delimiters, controls, CR LF).

/// A small deterministic generator (SplitMix64), so a failure is reproducible.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let stringVRs: [VR] = [.AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT]
private let pieces: [UInt8] = [0x20, 0x20, 0x00, 0x5C, 0x5C, 0x0D, 0x0A, 0x09, 0x5E, 0x3D, 0x7E, 0x41, 0x7A, 0x31, 0x2E]

/// `strings(characterSet:)` as the decoder computes it (no fast path).
private func decoderStrings(_ e: DataElement, _ cs: SpecificCharacterSet) -> DecodedText {
    let raw = Array(e.bytes!.readableBytesView)
    let decoded = (e.vr.usesSpecificCharacterSet ? cs : .default).decode(raw, vr: e.vr.code)
    guard case .values(let values) = decoded else { return decoded }
    return .values(values.map { e.trimPadding($0) })
}

@Suite struct TextFastPathTests {
    @Test func asciiStringsMatchTheDecoder() {
        var rng = SplitMix64(state: 42)
        let sets = [SpecificCharacterSet.default, SpecificCharacterSet(terms: ["ISO_IR 100"]),
                    SpecificCharacterSet(terms: ["ISO_IR 192"]), SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"]),
                    SpecificCharacterSet(terms: ["GB18030"]), SpecificCharacterSet(terms: ["ISO_IR 13"])]
        for _ in 0..<4000 {
            let vr = stringVRs.randomElement(using: &rng)!
            let length = Int.random(in: 1...12, using: &rng)
            let bytes = (0..<length).map { _ in pieces.randomElement(using: &rng)! }
            let element = DataElement(tag: DICOMCore.Tag(0x0010_0010), vr: vr, value: .bytes(ByteBuffer(bytes: bytes)))
            for cs in sets {
                #expect(element.strings(characterSet: cs) == decoderStrings(element, cs), "\(vr) \(bytes) \(cs)")
                // The dump's value written in place equals the text made from the decoded values.
                let renderer = TextDumpRenderer()
                var out = TextBuffer()
                renderer.appendValueText(element, charset: cs, into: &out)
                #expect(out.string == renderer.valueText(element, decoded: decoderStrings(element, cs)), "\(vr) \(bytes) \(cs)")
            }
        }
    }

    @Test func dumpLinesKeepTheirLayout() {
        // Long values are shortened to 64 characters; registered UIDs are named; the column is 55.
        let uid = DataElement(tag: DICOMCore.Tag(0x0008_0016), vr: .UI, value: .bytes(ByteBuffer(bytes: Array("1.2.840.10008.5.1.4.1.2.1.1\0".utf8))))
        let long = DataElement(tag: DICOMCore.Tag(0x0010_4000), vr: .LT, value: .bytes(ByteBuffer(bytes: Array(String(repeating: "ab\\", count: 30).utf8))))
        let us = DataElement(tag: DICOMCore.Tag(0x0028_0010), vr: .US, value: .bytes(ByteBuffer(bytes: [0x00, 0x02, 0xFF, 0xFF])))
        let ss = DataElement(tag: DICOMCore.Tag(0x0018_9219), vr: .SS, value: .bytes(ByteBuffer(bytes: [0xFF, 0xFF])))
        let text = TextDumpRenderer().render(Dataset(elements: [uid, long, us, ss]), prefix: "  ")
        let lines = [
            "  (0008,0016) UI [1.2.840.10008.5.1.4.1.2.1.1] =PatientRootQueryRetrieveInformationModelFind #  28, 1 SOPClassUID",
            "  (0010,4000) LT [" + String(String(repeating: "ab\\", count: 30).prefix(64)) + "...] #  90, 1 PatientComments",
            "  (0028,0010) US 512\\65535" + String(repeating: " ", count: 55 - 26) + " #   4, 2 Rows",
            "  (0018,9219) SS -1" + String(repeating: " ", count: 55 - 19) + " #   2, 1 TagAngleSecondAxis",
        ]
        #expect(text == lines.map { $0 + "\n" }.joined())
    }
}
