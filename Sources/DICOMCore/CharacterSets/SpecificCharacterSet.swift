/// The character repertoires named by (0008,0005), PS3.3 C.12.1.1.2.
///
/// Decoding follows PS3.5 §6.1: the default repertoire (ISO-IR 6), the single-byte sets with and without
/// ISO 2022 code extensions, JIS X 0201/0208/0212, KS X 1001, GB 2312, UTF-8, GB18030 and GBK. The tables
/// come from `tools/gen_charsets.py` (see CharacterSetTables+Generated.swift); no Foundation encodings are used.
///
/// Deliberate choices, beyond the letter of the standard:
/// - Term spelling is matched leniently ("ISO_IR_100", "ISO-IR 100", "iso_ir 100" = "ISO_IR 100";
///   "ISO_IR 6" and "" = default; "UTF-8" = "ISO_IR 192"). `terms` keeps the spelling as given.
/// - With code extensions, any escape sequence of PS3.3 Tables C.12-3/C.12-4 is honoured, even for a set
///   that (0008,0005) does not list; sequences outside those tables make the value undecodable.
/// - After a delimiter resets G1 to "nothing" (first value empty or ISO 2022 IR 6), a GR byte is decoded with
///   the G1 set last designated in the same element. Real Korean data often designates KS X 1001 only once.
/// - ISO-IR 14 (JIS X 0201 romaji, G0 of ISO_IR 13) maps 0x5C to U+00A5 YEN SIGN and 0x7E to U+203E OVERLINE.
/// - C1 bytes (0x80-0x9F) are undecodable under every ISO 8859 set: DICOM has no C1 controls, and they are
///   almost always Windows code-page text mislabelled as Latin-1.
/// - An escape byte under a set without code extensions (a single `ISO_IR` term, UTF-8, GB18030, GBK)
///   makes the value undecodable rather than leaving ESC in the text.
public struct SpecificCharacterSet: Sendable, Hashable, CustomStringConvertible {
    /// The values of (0008,0005): surrounding spaces (and NULs) trimmed, trailing empty values dropped
    /// (so `[""]` is the default repertoire, equal to `[]`).
    public let terms: [String]
    /// Terms this implementation cannot decode (empty when all are supported). A term that cannot be
    /// combined with the others (a second value that is `ISO_IR 192`, `GB18030` or `GBK`, or any value after
    /// one of those) is listed too, since it is ignored.
    public let unsupportedTerms: [String]
    let plan: Plan

    /// The default repertoire, ISO-IR 6 (no (0008,0005) or an empty value).
    public static let `default` = SpecificCharacterSet(terms: [])

    /// `terms` are the values of (0008,0005) as decoded (trailing spaces trimmed, empty first value = default repertoire).
    public init(terms: [String]) {
        var trimmed = terms.map { Self.trimSpaces($0) }
        while let last = trimmed.last, last.isEmpty { trimmed.removeLast() }
        self.terms = trimmed
        (self.plan, self.unsupportedTerms) = Plan.make(trimmed)
    }

    public var description: String {
        terms.isEmpty ? "ISO_IR 6 (default repertoire)" : terms.joined(separator: "\\")
    }

    public static func == (lhs: SpecificCharacterSet, rhs: SpecificCharacterSet) -> Bool {
        lhs.terms == rhs.terms
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(terms)
    }

    /// Bytes below 0x80 other than ESC decode to the same scalars, split at `\` for multi-valued
    /// VRs, under this set (G0 starts as ISO-IR 6: every set but ISO_IR 13's JIS X 0201 romaji),
    /// so renderers may copy such bytes without running the decoder.
    package var keepsASCII: Bool { plan.initialG0 == .isoIR6 }

    /// Decodes the raw value bytes of one element of a text VR. `vr` is the element's VR as a two-letter code
    /// ("PN", "LO", "SH", "LT", "ST", "UT", "UC"; other VRs are always decoded as the default repertoire).
    /// Splits multiple values on backslash except for LT/ST/UT (single-valued), respecting ISO 2022 state (a 0x5C byte
    /// inside a two-byte character is not a delimiter). Does NOT trim padding; the caller trims.
    /// Zero bytes decode to no values (`.values([])`).
    public func decode(_ bytes: [UInt8], vr: String) -> DecodedText {
        let layout = Layout(vr: vr)
        let plan = layout.usesSpecificCharacterSet ? self.plan : Plan.defaultRepertoire
        if bytes.isEmpty { return .values([]) }
        switch ValueDecoder.decode(bytes, plan: plan, layout: layout) {
        case .success(let values): return .values(values)
        case .failure(let failure): return .undecodable(reason: failure.reason, raw: bytes)
        }
    }

    /// Encodes values back (for the rewriter): values joined by `\` (for LT/ST/UT too, which are single-valued),
    /// with ISO 2022 escape sequences where the character set uses code extensions, returning to the initial
    /// state before every delimiter (PS3.5 §6.1.2.5.3). Only code elements that (0008,0005) names are used.
    /// Returns nil when a character cannot be represented, or when a value of a multi-valued VR contains `\`.
    /// Does not pad to even length.
    public func encode(_ values: [String], vr: String) -> [UInt8]? {
        let layout = Layout(vr: vr)
        let plan = layout.usesSpecificCharacterSet ? self.plan : Plan.defaultRepertoire
        return ValueEncoder.encode(values, plan: plan, layout: layout)
    }

    /// Removes leading and trailing spaces (and NULs, which some writers pad with).
    private static func trimSpaces(_ s: String) -> String {
        var text = Substring(s)
        while let f = text.first, f == " " || f == "\u{0}" { text.removeFirst() }
        while let l = text.last, l == " " || l == "\u{0}" { text.removeLast() }
        return String(text)
    }
}

public enum DecodedText: Sendable, Hashable {
    case values([String])
    /// The bytes could not be decoded under the character set: a clear marker plus the raw bytes, never mojibake.
    case undecodable(reason: String, raw: [UInt8])
}

extension SpecificCharacterSet {
    /// How a VR's value is laid out in text (PS3.5 §6.1.2.5.3, §6.2).
    struct Layout {
        /// Multiple values separated by `\` (false for LT, ST, UT).
        let multiValued: Bool
        /// PN: `^` and `=` return to the initial code elements.
        let isPersonName: Bool
        /// The VR's text is decoded through (0008,0005).
        let usesSpecificCharacterSet: Bool

        init(vr: String) {
            switch vr {
            case "PN": (multiValued, isPersonName, usesSpecificCharacterSet) = (true, true, true)
            case "LO", "SH", "UC": (multiValued, isPersonName, usesSpecificCharacterSet) = (true, false, true)
            case "LT", "ST", "UT": (multiValued, isPersonName, usesSpecificCharacterSet) = (false, false, true)
            default: (multiValued, isPersonName, usesSpecificCharacterSet) = (true, false, false)
            }
        }
    }

    /// What the terms mean for decoding, computed once in `init`.
    struct Plan: Sendable {
        enum Kind: Sendable, Equatable {
            /// ISO 2022 machinery: the default repertoire, single-byte sets with or without extensions, and
            /// the multi-byte sets with extensions.
            case iso2022
            case utf8
            case gb18030
            case gbk
            /// The first term is not understood: ASCII-only bytes still decode.
            case unsupported(String)
        }
        var kind: Kind
        var initialG0: CodeElement
        var initialG1: CodeElement?
        /// Escape sequences are recognised (an `ISO 2022` term or more than one value).
        var extensions: Bool
        /// The code elements named by the terms, in order (initial ones first); the encoder uses only these.
        var declared: [CodeElement]
        /// For messages.
        var label: String

        static let defaultRepertoire = Plan(kind: .iso2022, initialG0: .isoIR6, initialG1: nil, extensions: false,
                                            declared: [.isoIR6], label: "ISO_IR 6")

        static func make(_ terms: [String]) -> (Plan, [String]) {
            guard let first = terms.first else { return (defaultRepertoire, []) }
            var unsupported: [String] = []
            let label = terms.joined(separator: "\\")
            switch Term(first) {
            case nil:
                unsupported.append(first)
                for t in terms.dropFirst() where !t.isEmpty && Term(t) == nil { unsupported.append(t) }
                var plan = defaultRepertoire
                plan.kind = .unsupported(first)
                plan.label = label
                return (plan, unsupported)
            case .utf8?, .gb18030?, .gbk?:
                let kind: Kind
                switch Term(first) {
                case .utf8?: kind = .utf8
                case .gb18030?: kind = .gb18030
                default: kind = .gbk
                }
                unsupported.append(contentsOf: terms.dropFirst().filter { !$0.isEmpty })
                return (Plan(kind: kind, initialG0: .isoIR6, initialG1: nil, extensions: false, declared: [.isoIR6],
                             label: label), unsupported)
            case .codeElements(let g0, let g1, let elements, let iso2022)?:
                var plan = Plan(kind: .iso2022, initialG0: g0, initialG1: g1, extensions: iso2022 || terms.count > 1,
                                declared: [], label: label)
                var declared: [CodeElement] = [g0]
                if let g1 { declared.append(g1) }
                declared.append(contentsOf: elements)
                for t in terms.dropFirst() where !t.isEmpty {
                    switch Term(t) {
                    case .codeElements(_, _, let more, _)?: declared.append(contentsOf: more)
                    default: unsupported.append(t)
                    }
                }
                var seen: Set<CodeElement> = []
                plan.declared = declared.filter { seen.insert($0).inserted }
                return (plan, unsupported)
            }
        }
    }

    /// One recognised value of (0008,0005).
    enum Term: Equatable {
        /// ISO 2022 code elements; `g0`/`g1` are the initial state when the term is the first value.
        case codeElements(g0: CodeElement, g1: CodeElement?, elements: [CodeElement], iso2022: Bool)
        case utf8, gb18030, gbk

        init?(_ raw: String) {
            // Lenient spelling: case and the separators " ", "_", "-" are ignored.
            var key = ""
            for ch in raw.uppercased().unicodeScalars where ch != " " && ch != "_" && ch != "-" {
                key.unicodeScalars.append(ch)
            }
            switch key {
            case "": self = .codeElements(g0: .isoIR6, g1: nil, elements: [.isoIR6], iso2022: false); return
            case "GB18030": self = .gb18030; return
            case "GBK": self = .gbk; return
            case "UTF8": self = .utf8; return
            default: break
            }
            let iso2022: Bool
            let digits: Substring
            if key.hasPrefix("ISO2022IR") {
                iso2022 = true
                digits = key.dropFirst(9)
            } else if key.hasPrefix("ISOIR") {
                iso2022 = false
                digits = key.dropFirst(5)
            } else {
                return nil
            }
            guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let number = Int(digits) else { return nil }
            switch number {
            case 6:
                self = .codeElements(g0: .isoIR6, g1: nil, elements: [.isoIR6], iso2022: iso2022)
            case 13:
                self = .codeElements(g0: .isoIR14, g1: .isoIR13, elements: [.isoIR14, .isoIR13], iso2022: iso2022)
            case 192 where !iso2022:
                self = .utf8
            case 87, 159:
                // G0 multi-byte sets: as a first value the initial state is still ASCII.
                self = .codeElements(g0: .isoIR6, g1: nil, elements: [number == 87 ? .isoIR87 : .isoIR159],
                                     iso2022: true)
            case 149, 58:
                // G1 multi-byte sets: as a (non-conformant) first value they are also the initial G1.
                let element: CodeElement = number == 149 ? .isoIR149 : .isoIR58
                self = .codeElements(g0: .isoIR6, g1: element, elements: [element], iso2022: true)
            default:
                guard let upper = UpperHalf(registration: number) else { return nil }
                self = .codeElements(g0: .isoIR6, g1: .upper(upper), elements: [.isoIR6, .upper(upper)],
                                     iso2022: iso2022)
            }
        }
    }
}
