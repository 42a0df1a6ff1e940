import Testing
import DICOMPeerSupport
@testable import DICOMCore

// Byte strings of the PS3.5 Annex H/I/J/K examples are the values of (0010,0010) in pydicom 3.0.2's
// charset_files (chrH31, chrH32, chrI2, chrX1, chrX2, ...); the ISO 2022 IR 58 one follows Annex K, and
// the others were produced with Python's codecs / pydicom.charset.encode_string.

private func scsDecode(_ terms: [String], _ vr: String, _ bytes: [UInt8]) -> DecodedText {
    SpecificCharacterSet(terms: terms).decode(bytes, vr: vr)
}

private func undecodableReason(of text: DecodedText) -> String? {
    if case .undecodable(let reason, _) = text { return reason }
    return nil
}

private func asciiBytes(_ ascii: String) -> [UInt8] { Array(ascii.utf8) }

@Suite struct SpecificCharacterSetTests {
    // MARK: Annex H (Japanese)

    static let annexH1: [UInt8] = [
        0x59, 0x61, 0x6D, 0x61, 0x64, 0x61, 0x5E, 0x54, 0x61, 0x72, 0x6F, 0x75, 0x3D, 0x1B, 0x24, 0x42, 0x3B, 0x33,
        0x45, 0x44, 0x1B, 0x28, 0x42, 0x5E, 0x1B, 0x24, 0x42, 0x42, 0x40, 0x4F, 0x3A, 0x1B, 0x28, 0x42, 0x3D, 0x1B,
        0x24, 0x42, 0x24, 0x64, 0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x42, 0x5E, 0x1B, 0x24, 0x42, 0x24, 0x3F, 0x24,
        0x6D, 0x24, 0x26, 0x1B, 0x28, 0x42,
    ]

    @Test func annexH1JISX0208() {
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"])
        #expect(scs.unsupportedTerms.isEmpty)
        #expect(scs.decode(Self.annexH1, vr: "PN") == .values(["Yamada^Tarou=山田^太郎=やまだ^たろう"]))
        #expect(scs.encode(["Yamada^Tarou=山田^太郎=やまだ^たろう"], vr: "PN") == Self.annexH1)
    }

    static let annexH2: [UInt8] = [
        0xD4, 0xCF, 0xC0, 0xDE, 0x5E, 0xC0, 0xDB, 0xB3, 0x3D, 0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28,
        0x4A, 0x5E, 0x1B, 0x24, 0x42, 0x42, 0x40, 0x4F, 0x3A, 0x1B, 0x28, 0x4A, 0x3D, 0x1B, 0x24, 0x42, 0x24, 0x64,
        0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x4A, 0x5E, 0x1B, 0x24, 0x42, 0x24, 0x3F, 0x24, 0x6D, 0x24, 0x26, 0x1B,
        0x28, 0x4A,
    ]

    @Test func annexH2KatakanaAndJISX0208() {
        let scs = SpecificCharacterSet(terms: ["ISO 2022 IR 13", "ISO 2022 IR 87"])
        #expect(scs.unsupportedTerms.isEmpty)
        #expect(scs.decode(Self.annexH2, vr: "PN") == .values(["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"]))
        #expect(scs.encode(["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"], vr: "PN") == Self.annexH2)
    }

    @Test func japaneseMultiValuedAndLT() {
        // chrJapMulti.dcm (0010,1001) and (0010,21B0).
        let yamada: [UInt8] = [0x1B, 0x24, 0x42, 0x24, 0x64, 0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x42, 0x5E, 0x1B, 0x24,
                               0x42, 0x24, 0x3F, 0x24, 0x6D, 0x24, 0x26, 0x1B, 0x28, 0x42]
        let pn = yamada + [0x5C] + yamada + [0x20]
        for first in ["", "ISO 2022 IR 6"] {
            let scs = SpecificCharacterSet(terms: [first, "ISO 2022 IR 87"])
            #expect(scs.decode(pn, vr: "PN") == .values(["やまだ^たろう", "やまだ^たろう "]))
            let lt: [UInt8] = [0x1B, 0x24, 0x42, 0x24, 0x3F, 0x24, 0x6D, 0x24, 0x26, 0x1B, 0x28, 0x42]
            #expect(scs.decode(lt, vr: "LT") == .values(["たろう"]))
            #expect(scs.encode(["たろう"], vr: "LT") == lt)
        }
    }

    @Test func backslashByteInsideTwoByteCharacterIsNotADelimiter() {
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"])
        // JIS X 0208 0x245C = ぼ, 0x3D5C = 旬.
        let value: [UInt8] = [0x1B, 0x24, 0x42, 0x24, 0x5C, 0x3D, 0x5C, 0x1B, 0x28, 0x42, 0x5C, 0x41]
        #expect(scs.decode(value, vr: "LO") == .values(["ぼ旬", "A"]))
        #expect(scs.encode(["ぼ旬", "A"], vr: "LO") == value)
        // GBK / GB18030 trail byte 0x5C: 0x905C = 怽, 0x815C = 乗.
        #expect(scsDecode(["GBK"], "LO", [0x90, 0x5C, 0x5C, 0x81, 0x5C]) == .values(["怽", "乗"]))
        #expect(scsDecode(["GB18030"], "SH", [0x90, 0x5C, 0x5C, 0x81, 0x5C]) == .values(["怽", "乗"]))
    }

    @Test func jisX0212() {
        // pydicom.charset.encode_string("鷗外", [iso8859, iso2022_jp, iso2022_jp_2])
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 87", "ISO 2022 IR 159"])
        let value: [UInt8] = asciiBytes("Hanako^") + [0x1B, 0x24, 0x28, 0x44, 0x6C, 0x3F, 0x1B, 0x24, 0x42, 0x33, 0x30,
                                                 0x1B, 0x28, 0x42]
        #expect(scs.decode(value, vr: "PN") == .values(["Hanako^鷗外"]))
        #expect(scs.encode(["Hanako^鷗外"], vr: "PN") == value)
    }

    @Test func isoIR13RomajiYenAndOverline() {
        let scs = SpecificCharacterSet(terms: ["ISO_IR 13"])
        #expect(scs.decode([0x43, 0x3A, 0x5C, 0x7E, 0xB1], vr: "LT") == .values(["C:¥‾ｱ"]))
        #expect(scs.decode([0x41, 0x5C, 0xB1], vr: "LO") == .values(["A", "ｱ"]))
        #expect(scs.encode(["C:¥‾ｱ"], vr: "LT") == [0x43, 0x3A, 0x5C, 0x7E, 0xB1])
        #expect(scs.encode(["¥"], vr: "LO") == nil) // 0x5C would be a delimiter
        #expect(scs.encode(["山"], vr: "LO") == nil) // no code extensions
    }

    // MARK: Annex I (Korean)

    static let annexI: [UInt8] = [
        0x48, 0x6F, 0x6E, 0x67, 0x5E, 0x47, 0x69, 0x6C, 0x64, 0x6F, 0x6E, 0x67, 0x3D, 0x1B, 0x24, 0x29, 0x43, 0xFB,
        0xF3, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xD1, 0xCE, 0xD4, 0xD7, 0x3D, 0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E,
        0x1B, 0x24, 0x29, 0x43, 0xB1, 0xE6, 0xB5, 0xBF,
    ]

    @Test func annexIKSX1001() {
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 149"])
        #expect(scs.decode(Self.annexI, vr: "PN") == .values(["Hong^Gildong=洪^吉洞=홍^길동"]))
        #expect(scs.encode(["Hong^Gildong=洪^吉洞=홍^길동"], vr: "PN") == Self.annexI)
    }

    @Test func koreanMultiValuedAndLT() {
        // chrKoreanMulti.dcm (0010,1001), (0010,21B0).
        let kim: [UInt8] = [0x1B, 0x24, 0x29, 0x43, 0xB1, 0xE8, 0xC8, 0xF1, 0xC1, 0xDF, 0x1B, 0x28, 0x42]
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 149"])
        #expect(scs.decode(kim + [0x5C] + kim + [0x20], vr: "PN") == .values(["김희중", "김희중 "]))
        #expect(scs.decode(kim + [0x20], vr: "LT") == .values(["김희중 "]))
    }

    @Test func koreanDesignatedOnlyOnceIsDecodedLeniently() {
        // Non-conformant but common: ESC $ ) C once, no re-designation after "^".
        let value: [UInt8] = [0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E, 0xB1, 0xE6, 0xB5, 0xBF]
        #expect(scsDecode(["", "ISO 2022 IR 149"], "PN", value) == .values(["홍^길동"]))
    }

    // MARK: Annex J (GB18030) and K (GB 2312)

    @Test func annexJGB18030() {
        let scs = SpecificCharacterSet(terms: ["GB18030"])
        // chrX2.dcm
        let simplified: [UInt8] = asciiBytes("Wang^XiaoDong=") + [0xCD, 0xF5, 0x5E, 0xD0, 0xA1, 0xB6, 0xAB, 0x3D]
        #expect(scs.decode(simplified, vr: "PN") == .values(["Wang^XiaoDong=王^小东="]))
        #expect(scs.encode(["Wang^XiaoDong=王^小东="], vr: "PN") == simplified)
        // "小東" with the traditional character, GBK area 0x967C ("...".encode("gb18030")).
        let traditional: [UInt8] = asciiBytes("Wang^XiaoDong=") + [0xCD, 0xF5, 0x5E, 0xD0, 0xA1, 0x96, 0x7C, 0x3D]
        #expect(scs.decode(traditional, vr: "PN") == .values(["Wang^XiaoDong=王^小東="]))
        #expect(scs.encode(["Wang^XiaoDong=王^小東="], vr: "PN") == traditional)
        #expect(scsDecode(["GBK"], "PN", traditional) == .values(["Wang^XiaoDong=王^小東="]))
    }

    @Test func gb18030FourByteSequences() {
        // Python: "X".encode("gb18030")
        let cases: [(String, [UInt8])] = [
            ("é", [0xA8, 0xA6]), ("€", [0xA2, 0xE3]), ("😀", [0x94, 0x39, 0xFC, 0x36]), ("ㄱ", [0x81, 0x39, 0xA9, 0x33]),
            ("\u{80}", [0x81, 0x30, 0x81, 0x30]), ("\u{FFFF}", [0x84, 0x31, 0xA4, 0x39]), ("䶶", [0x82, 0x35, 0x87, 0x39]),
        ]
        let scs = SpecificCharacterSet(terms: ["GB18030"])
        for (text, encoded) in cases {
            #expect(scs.decode(encoded, vr: "LO") == .values([text]))
            #expect(scs.encode([text], vr: "LO") == encoded)
        }
        // GBK has no four-byte sequences.
        #expect(undecodableReason(of: scsDecode(["GBK"], "LO", [0x81, 0x39, 0xA9, 0x33])) != nil)
        #expect(SpecificCharacterSet(terms: ["GBK"]).encode(["😀"], vr: "LO") == nil)
        // Beyond U+10FFFF and in the unassigned BMP four-byte area.
        #expect(undecodableReason(of: scsDecode(["GB18030"], "LO", [0xE3, 0x32, 0x9A, 0x36])) != nil)
        #expect(undecodableReason(of: scsDecode(["GB18030"], "LO", [0x84, 0x31, 0xA5, 0x30])) != nil)
    }

    static let annexK: [UInt8] = asciiBytes("Wang^XiaoDong=") + [
        0x1B, 0x24, 0x29, 0x41, 0xCD, 0xF5, 0x5E, 0x1B, 0x24, 0x29, 0x41, 0xD0, 0xA1, 0xB6, 0xAB, 0x3D,
    ]

    @Test func annexKGB2312() {
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 58"])
        #expect(scs.decode(Self.annexK, vr: "PN") == .values(["Wang^XiaoDong=王^小东="]))
        #expect(scs.encode(["Wang^XiaoDong=王^小东="], vr: "PN") == Self.annexK)
    }

    @Test func utf8() {
        // chrX1.dcm
        let value: [UInt8] = asciiBytes("Wang^XiaoDong=") + [0xE7, 0x8E, 0x8B, 0x5E, 0xE5, 0xB0, 0x8F, 0xE6, 0x9D, 0xB1, 0x3D,
                                                        0x20]
        let scs = SpecificCharacterSet(terms: ["ISO_IR 192"])
        #expect(scs.decode(value, vr: "PN") == .values(["Wang^XiaoDong=王^小東= "]))
        #expect(scs.encode(["Wang^XiaoDong=王^小東= "], vr: "PN") == value)
        #expect(scs.decode([0xF0, 0x9F, 0x98, 0x80, 0x5C, 0x41], vr: "LO") == .values(["😀", "A"]))
    }

    // MARK: Single-byte sets (PS3.5 Annex examples and Python codecs)

    @Test func singleByteSets() {
        let cases: [(String, String, [UInt8])] = [
            ("ISO_IR 100", "Buc^Jérôme", [0x42, 0x75, 0x63, 0x5E, 0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65]),
            ("ISO_IR 100", "Äneas^Rüdiger", [0xC4, 0x6E, 0x65, 0x61, 0x73, 0x5E, 0x52, 0xFC, 0x64, 0x69, 0x67, 0x65, 0x72]),
            ("ISO_IR 101", "Wałęsa", [0x57, 0x61, 0xB3, 0xEA, 0x73, 0x61]),
            ("ISO_IR 109", "Ħġ", [0xA1, 0xF5]),
            ("ISO_IR 110", "Ķļ", [0xD3, 0xB6]),
            ("ISO_IR 144", "Люкceмбypг", [0xBB, 0xEE, 0xDA, 0x63, 0x65, 0xDC, 0xD1, 0x79, 0x70, 0xD3]),
            ("ISO_IR 127", "قباني^لنزار", [0xE2, 0xC8, 0xC7, 0xE6, 0xEA, 0x5E, 0xE4, 0xE6, 0xD2, 0xC7, 0xD1]),
            ("ISO_IR 126", "Διονυσιος", [0xC4, 0xE9, 0xEF, 0xED, 0xF5, 0xF3, 0xE9, 0xEF, 0xF2]),
            ("ISO_IR 138", "שרון^דבורה", [0xF9, 0xF8, 0xE5, 0xEF, 0x5E, 0xE3, 0xE1, 0xE5, 0xF8, 0xE4]),
            ("ISO_IR 148", "Çavuşoğlu", [0xC7, 0x61, 0x76, 0x75, 0xFE, 0x6F, 0xF0, 0x6C, 0x75]),
            ("ISO_IR 203", "Œuvre€", [0xBC, 0x75, 0x76, 0x72, 0x65, 0xA4]),
            ("ISO_IR 166", "สวัสดี", [0xCA, 0xC7, 0xD1, 0xCA, 0xB4, 0xD5]),
            ("ISO_IR 13", "ﾔﾏﾀﾞ^ﾀﾛｳ", [0xD4, 0xCF, 0xC0, 0xDE, 0x5E, 0xC0, 0xDB, 0xB3]),
        ]
        for (term, text, encoded) in cases {
            let scs = SpecificCharacterSet(terms: [term])
            #expect(scs.unsupportedTerms.isEmpty)
            #expect(scs.decode(encoded, vr: "PN") == .values([text]), "\(term)")
            #expect(scs.encode([text], vr: "PN") == encoded, "\(term)")
            // The same set with code extensions decodes the same bytes.
            let iso2022 = SpecificCharacterSet(terms: ["ISO 2022 IR" + term.dropFirst("ISO_IR".count)])
            #expect(iso2022.unsupportedTerms.isEmpty)
            #expect(iso2022.decode(encoded, vr: "PN") == .values([text]), "\(term)")
        }
        // Trailing padding is kept: the caller trims.
        #expect(scsDecode(["ISO_IR 126"], "PN", [0xC4, 0xE9, 0x20]) == .values(["Δι "]))
    }

    @Test func singleByteSetsSwitchedByEscapes() {
        // Latin-1 first, then Greek designated to G1, reset to Latin-1 at the delimiter.
        let scs = SpecificCharacterSet(terms: ["ISO 2022 IR 100", "ISO 2022 IR 126"])
        let value: [UInt8] = [0xE9, 0x1B, 0x2D, 0x46, 0xC4, 0x5C, 0xE9]
        #expect(scs.decode(value, vr: "LO") == .values(["éΔ", "é"]))
        #expect(scs.encode(["éΔ", "é"], vr: "LO") == [0xE9, 0x1B, 0x2D, 0x46, 0xC4, 0x1B, 0x2D, 0x41, 0x5C, 0xE9])
    }

    // MARK: Values and delimiters

    @Test func multiValuedAndSingleValued() {
        // chrFrenMulti.dcm
        #expect(scsDecode(["ISO_IR 100"], "LO", asciiBytes("eggs\\spam ")) == .values(["eggs", "spam "]))
        let pn: [UInt8] = [0x42, 0x75, 0x63, 0x5E, 0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65, 0x5C, 0x42, 0x75, 0x63, 0x5E,
                           0x4A, 0xE9, 0x72, 0xF4, 0x6D, 0x65, 0x20]
        #expect(scsDecode(["ISO_IR 100"], "PN", pn) == .values(["Buc^Jérôme", "Buc^Jérôme "]))
        // LT/ST/UT are single-valued: a backslash is text.
        for vr in ["LT", "ST", "UT"] {
            #expect(scsDecode([], vr, asciiBytes("C:\\temp\\x")) == .values(["C:\\temp\\x"]))
            #expect(SpecificCharacterSet.default.encode(["C:\\temp\\x"], vr: vr) == asciiBytes("C:\\temp\\x"))
        }
        #expect(scsDecode([], "UC", asciiBytes("a\\\\b")) == .values(["a", "", "b"]))
        #expect(scsDecode([], "SH", []) == .values([]))
        #expect(SpecificCharacterSet.default.encode(["a\\b"], vr: "LO") == nil)
        #expect(SpecificCharacterSet.default.encode(["a", "b"], vr: "LO") == asciiBytes("a\\b"))
    }

    @Test func controlCharactersResetTheStateInText() {
        // JIS X 0208 left active before CR LF: the next line starts in the initial state again.
        let scs = SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"])
        let value: [UInt8] = [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x0D, 0x0A, 0x3B, 0x33]
        #expect(scs.decode(value, vr: "LT") == .values(["山\r\n;3"]))
        #expect(scs.encode(["山\r\n山"], vr: "LT") == [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x1B, 0x28, 0x42, 0x0D, 0x0A, 0x1B,
                                                         0x24, 0x42, 0x3B, 0x33, 0x1B, 0x28, 0x42])
    }

    @Test func otherVRsUseTheDefaultRepertoire() {
        #expect(scsDecode(["ISO_IR 100"], "CS", asciiBytes("A\\B")) == .values(["A", "B"]))
        #expect(undecodableReason(of: scsDecode(["ISO_IR 100"], "CS", [0x41, 0xE9])) == "byte 0xE9 at offset 1 not in ISO-IR 6")
        #expect(SpecificCharacterSet(terms: ["ISO_IR 100"]).encode(["é"], vr: "AE") == nil)
    }

    // MARK: Undecodable

    @Test func undecodable() {
        let ff = scsDecode([], "LO", [0x41, 0x42, 0x43, 0xFF])
        #expect(ff == .undecodable(reason: "byte 0xFF at offset 3 not in ISO-IR 6", raw: [0x41, 0x42, 0x43, 0xFF]))
        #expect(undecodableReason(of: scsDecode([""], "PN", [0x80])) == "byte 0x80 at offset 0 not in ISO-IR 6")

        let badUTF8 = undecodableReason(of: scsDecode(["ISO_IR 192"], "LO", [0x41, 0xC3, 0x28]))
        #expect(badUTF8?.hasPrefix("invalid UTF-8") == true)
        #expect(undecodableReason(of: scsDecode(["ISO_IR 192"], "LO", [0xED, 0xA0, 0x80])) != nil) // surrogate
        #expect(undecodableReason(of: scsDecode(["ISO_IR 192"], "LO", [0xC0, 0xAF])) != nil) // overlong
        #expect(undecodableReason(of: scsDecode(["ISO_IR 192"], "LO", [0xE6, 0x9D])) != nil) // truncated

        let unknown = undecodableReason(of: scsDecode(["", "ISO 2022 IR 87"], "PN", [0x41, 0x1B, 0x24, 0x40, 0x3B, 0x33]))
        #expect(unknown?.hasPrefix("unknown escape sequence") == true)
        #expect(unknown?.contains("offset 1") == true)
        #expect(undecodableReason(of: scsDecode(["", "ISO 2022 IR 87"], "PN", [0x41, 0x1B, 0x24])) == "truncated escape sequence at offset 1")
        #expect(undecodableReason(of: scsDecode(["", "ISO 2022 IR 87"], "PN", [0x1B, 0x24, 0x42, 0x3B])) != nil) // lone first byte
        #expect(undecodableReason(of: scsDecode(["", "ISO 2022 IR 87"], "PN", [0x1B, 0x24, 0x42, 0x22, 0x2F])) != nil) // unmapped
        #expect(undecodableReason(of: scsDecode(["", "ISO 2022 IR 149"], "PN", [0xB0, 0xA1])) == "byte 0xB0 at offset 0 not in ISO-IR 6")

        // Escape sequences need code extensions.
        let noExtensions = undecodableReason(of: scsDecode(["ISO_IR 100"], "LO", [0x1B, 0x2D, 0x46, 0xC4]))
        #expect(noExtensions?.contains("code extensions") == true)
        #expect(undecodableReason(of: scsDecode(["ISO_IR 192"], "LO", [0x1B, 0x28, 0x42])) != nil)
        // C1 controls are not text.
        #expect(undecodableReason(of: scsDecode(["ISO_IR 100"], "LO", [0x92])) == "byte 0x92 at offset 0 not in ISO-IR 100 (C1 control)")
        // Unmapped positions of a 96-set.
        #expect(undecodableReason(of: scsDecode(["ISO_IR 127"], "LO", [0xA1])) == "byte 0xA1 at offset 0 not in ISO-IR 127")
        // GB: lone lead byte, 0x80, 0xFF.
        #expect(undecodableReason(of: scsDecode(["GB18030"], "LO", [0x41, 0xCD])) == "truncated GB18030 character at offset 1")
        #expect(undecodableReason(of: scsDecode(["GB18030"], "LO", [0x80])) != nil)
        #expect(undecodableReason(of: scsDecode(["GBK"], "LO", [0xFF, 0x41])) != nil)
        #expect(undecodableReason(of: scsDecode(["GBK"], "LO", [0xA1, 0x40])) != nil) // user-defined area, not in GBK
        #expect(scsDecode(["GB18030"], "LO", [0xA1, 0x40]) == .values(["\u{E4C6}"]))
    }

    // MARK: Terms

    @Test func terms() {
        #expect(SpecificCharacterSet.default.terms.isEmpty)
        #expect(SpecificCharacterSet(terms: [""]) == .default)
        #expect(SpecificCharacterSet(terms: ["ISO_IR 100 "]).terms == ["ISO_IR 100"])
        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"]).description == "\\ISO 2022 IR 87")

        for spelling in ["ISO_IR_100", "ISO-IR 100", "iso_ir 100", "ISO IR 100", "ISO_IR100"] {
            let scs = SpecificCharacterSet(terms: [spelling])
            #expect(scs.unsupportedTerms.isEmpty, "\(spelling)")
            #expect(scs.decode([0xE9], vr: "LO") == .values(["é"]), "\(spelling)")
        }

        let unknown = SpecificCharacterSet(terms: ["ISO_IR 999"])
        #expect(unknown.unsupportedTerms == ["ISO_IR 999"])
        #expect(unknown.decode(asciiBytes("ABC\\D"), vr: "LO") == .values(["ABC", "D"]))
        #expect(undecodableReason(of: unknown.decode([0x41, 0xE9], vr: "LO"))?.hasPrefix("character set ISO_IR 999 not supported")
                == true)

        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 87", "KOI8-R"]).unsupportedTerms == ["KOI8-R"])
        #expect(SpecificCharacterSet(terms: ["ISO_IR 192", "GB18030"]).unsupportedTerms == ["GB18030"])
        // Later values must be code extensions; stand-alone sets cannot be combined. A non-conformant
        // "ISO_IR nnn" later value is read as its "ISO 2022 IR nnn" twin.
        for term in ["ISO 2022 IR 6", "ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149",
                     "ISO 2022 IR 58", "ISO 2022 IR 203", "ISO 2022 IR 166", "ISO_IR 144"] {
            #expect(SpecificCharacterSet(terms: ["", term]).unsupportedTerms.isEmpty, "\(term)")
        }
        for term in ["ISO_IR 192", "GB18030", "GBK"] {
            #expect(SpecificCharacterSet(terms: ["", term]).unsupportedTerms == [term], "\(term)")
        }
    }

    // MARK: Encoding

    @Test func encodingFailures() {
        #expect(SpecificCharacterSet.default.encode(["é"], vr: "PN") == nil)
        #expect(SpecificCharacterSet(terms: ["ISO_IR 100"]).encode(["Δ"], vr: "PN") == nil)
        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"]).encode(["홍"], vr: "PN") == nil)
        #expect(SpecificCharacterSet(terms: ["ISO_IR 192"]).encode(["a\\b"], vr: "PN") == nil)
        #expect(SpecificCharacterSet(terms: ["ISO_IR 192"]).encode(["a\\b"], vr: "LT") == asciiBytes("a\\b"))
        #expect(SpecificCharacterSet(terms: ["ISO_IR 192"]).encode([], vr: "LO") == [])
    }

    /// Every mapped code of the tabulated sets decodes and encodes back to itself (ASCII results: to the same text).
    @Test(.cpuHeavy) func tablesRoundTrip() {
        for (terms, g1) in [(["", "ISO 2022 IR 87"], false), (["", "ISO 2022 IR 159"], false),
                            (["", "ISO 2022 IR 149"], true), (["", "ISO 2022 IR 58"], true)] {
            let scs = SpecificCharacterSet(terms: terms)
            let escape: [UInt8]
            switch terms[1] {
            case "ISO 2022 IR 87": escape = [0x1B, 0x24, 0x42]
            case "ISO 2022 IR 159": escape = [0x1B, 0x24, 0x28, 0x44]
            case "ISO 2022 IR 149": escape = [0x1B, 0x24, 0x29, 0x43]
            default: escape = [0x1B, 0x24, 0x29, 0x41]
            }
            var mapped = 0, failures = 0
            for row in UInt8(0x21)...0x7E {
                for cell in UInt8(0x21)...0x7E {
                    let pair = g1 ? [row | 0x80, cell | 0x80] : [row, cell]
                    let encoded = escape + pair + (g1 ? [] : [0x1B, 0x28, 0x42])
                    guard case .values(let values) = scs.decode(encoded, vr: "LO") else { continue }
                    mapped += 1
                    if values.joined().unicodeScalars.allSatisfy(\.isASCII) {
                        // JIS X 0212 0x2237 is U+007E TILDE: the encoder rightly prefers ASCII.
                        if scs.encode(values, vr: "LO").map({ scs.decode($0, vr: "LO") }) != .values(values) {
                            failures += 1
                        }
                    } else if scs.encode(values, vr: "LO") != encoded {
                        failures += 1
                    }
                }
            }
            #expect(mapped > 6000, "\(terms)")
            #expect(failures == 0, "\(terms)")
        }
        // GB18030: the whole two-byte area.
        let gb = SpecificCharacterSet(terms: ["GB18030"])
        var failures = 0
        for lead in UInt8(0x81)...0xFE {
            for trail in UInt8(0x40)...0xFE where trail != 0x7F {
                guard case .values(let values) = gb.decode([lead, trail], vr: "LT"),
                      gb.encode(values, vr: "LT") == [lead, trail] else { failures += 1; continue }
            }
        }
        #expect(failures == 0)
    }

    // MARK: Fuzz

    /// Random and adversarial bytes under every supported set: no trap, and whatever decodes re-encodes to
    /// bytes that decode to the same values.
    @Test(.cpuHeavy) func fuzz() {
        var rng = CharsetXorShift(seed: 0x5EED_D1C0_4D00_0001)
        let sets: [[String]] = [
            [], ["ISO_IR 100"], ["ISO_IR 13"], ["ISO_IR 166"], ["ISO_IR 192"], ["GB18030"], ["GBK"],
            ["", "ISO 2022 IR 87"], ["ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 159"],
            ["", "ISO 2022 IR 149"], ["", "ISO 2022 IR 58"], ["ISO 2022 IR 100", "ISO 2022 IR 144", "ISO 2022 IR 126"],
            ["ISO 2022 IR 149"], ["ISO_IR 999"],
        ]
        let interesting: [UInt8] = [0x1B, 0x24, 0x28, 0x29, 0x2D, 0x42, 0x4A, 0x49, 0x43, 0x41, 0x44, 0x46, 0x5C,
                                    0x5E, 0x3D, 0x0D, 0x0A, 0x20, 0x7E, 0x80, 0x81, 0x30, 0x39, 0xA1, 0xFE, 0xFF]
        let vrs = ["PN", "LO", "LT", "UT", "CS"]
        var decoded = 0
        for round in 0..<30_000 {
            let terms = sets[round % sets.count]
            let scs = SpecificCharacterSet(terms: terms)
            let vr = vrs[Int(rng.next() % UInt64(vrs.count))]
            let count = Int(rng.next() % 24)
            var input: [UInt8] = []
            for _ in 0..<count {
                let r = rng.next()
                switch r % 4 {
                case 0: input.append(interesting[Int((r >> 8) % UInt64(interesting.count))])
                case 1: input.append(UInt8(0x21 + (r >> 8) % 0x5E))
                case 2: input.append(UInt8(0xA1 + (r >> 8) % 0x5E))
                default: input.append(UInt8(truncatingIfNeeded: r >> 8))
                }
            }
            switch scs.decode(input, vr: vr) {
            case .values(let values):
                decoded += 1
                if let again = scs.encode(values, vr: vr) {
                    #expect(scs.decode(again, vr: vr) == .values(values), "\(terms) \(vr) \(input)")
                }
            case .undecodable(let reason, let raw):
                #expect(raw == input)
                #expect(!reason.isEmpty)
            }
        }
        #expect(decoded > 1000)
    }
}

/// xorshift64 (Marsaglia): deterministic, no Foundation randomness.
private struct CharsetXorShift {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
