extension SpecificCharacterSet {
    /// A graphic character set that ISO 2022 designates to G0 or G1 (PS3.3 Tables C.12-2 to C.12-4,
    /// PS3.5 §6.1.2.5). Each DICOM term names one or two of these.
    enum CodeElement: Hashable, Sendable {
        /// ISO-IR 6, ASCII. G0. `ESC ( B`.
        case isoIR6
        /// ISO-IR 14, JIS X 0201 romaji: ASCII except 0x5C = YEN SIGN, 0x7E = OVERLINE. G0. `ESC ( J`.
        case isoIR14
        /// ISO-IR 13, JIS X 0201 katakana, 0xA1-0xDF = U+FF61-U+FF9F. G1. `ESC ) I`.
        case isoIR13
        /// The upper half of a 96-character set (ISO 8859-x, TIS 620). G1. `ESC - F`.
        case upper(UpperHalf)
        /// ISO-IR 87, JIS X 0208. G0, 94x94. `ESC $ B`.
        case isoIR87
        /// ISO-IR 159, JIS X 0212. G0, 94x94. `ESC $ ( D`.
        case isoIR159
        /// ISO-IR 149, KS X 1001. G1, 94x94. `ESC $ ) C`.
        case isoIR149
        /// ISO-IR 58, GB 2312. G1, 94x94. `ESC $ ) A`.
        case isoIR58

        /// True for the sets designated to G1 (used in GR, bytes 0xA0-0xFF).
        var isG1: Bool {
            switch self {
            case .isoIR6, .isoIR14, .isoIR87, .isoIR159: return false
            case .isoIR13, .upper, .isoIR149, .isoIR58: return true
            }
        }

        /// True for the 94x94 two-byte sets.
        var isTwoByte: Bool {
            switch self {
            case .isoIR87, .isoIR159, .isoIR149, .isoIR58: return true
            default: return false
            }
        }

        /// The registration name used in messages ("ISO-IR 100").
        var name: String {
            switch self {
            case .isoIR6: return "ISO-IR 6"
            case .isoIR14: return "ISO-IR 14"
            case .isoIR13: return "ISO-IR 13"
            case .upper(let u): return "ISO-IR \(u.registration)"
            case .isoIR87: return "ISO-IR 87"
            case .isoIR159: return "ISO-IR 159"
            case .isoIR149: return "ISO-IR 149"
            case .isoIR58: return "ISO-IR 58"
            }
        }

        /// The designation escape sequence (PS3.3 Tables C.12-3 and C.12-4).
        var escapeSequence: [UInt8] {
            switch self {
            case .isoIR6: return [0x1B, 0x28, 0x42]
            case .isoIR14: return [0x1B, 0x28, 0x4A]
            case .isoIR13: return [0x1B, 0x29, 0x49]
            case .upper(let u): return [0x1B, 0x2D, u.finalByte]
            case .isoIR87: return [0x1B, 0x24, 0x42]
            case .isoIR159: return [0x1B, 0x24, 0x28, 0x44]
            case .isoIR149: return [0x1B, 0x24, 0x29, 0x43]
            case .isoIR58: return [0x1B, 0x24, 0x29, 0x41]
            }
        }

        /// Parses the escape sequence starting with the ESC at `bytes[start]`.
        /// Returns the designated set and the sequence length, or a failure for an unknown or truncated sequence.
        static func parseEscape(_ bytes: [UInt8], at start: Int) -> Result<(CodeElement, Int), Failure> {
            func byte(_ k: Int) -> UInt8? { start + k < bytes.count ? bytes[start + k] : nil }
            func unknown(_ length: Int) -> Result<(CodeElement, Int), Failure> {
                let shown = bytes[start..<min(bytes.count, start + length)]
                let hex = shown.map { hex2($0) }.joined(separator: " ")
                let text = shown.dropFirst()
                    .map { (0x21...0x7E).contains($0) ? String(UnicodeScalar($0)) : "?" }
                    .joined(separator: " ")
                return .failure(Failure("unknown escape sequence ESC \(text) (\(hex)) at offset \(start)"))
            }
            let truncated = Result<(CodeElement, Int), Failure>.failure(
                Failure("truncated escape sequence at offset \(start)"))
            guard let i1 = byte(1) else { return truncated }
            switch i1 {
            case 0x28: // ( : 94-set to G0
                guard let f = byte(2) else { return truncated }
                switch f {
                case 0x42: return .success((.isoIR6, 3))
                case 0x4A: return .success((.isoIR14, 3))
                default: return unknown(3)
                }
            case 0x29: // ) : 94-set to G1
                guard let f = byte(2) else { return truncated }
                return f == 0x49 ? .success((.isoIR13, 3)) : unknown(3)
            case 0x2D: // - : 96-set to G1
                guard let f = byte(2) else { return truncated }
                if let u = UpperHalf(finalByte: f) { return .success((.upper(u), 3)) }
                return unknown(3)
            case 0x24: // $ : multi-byte set
                guard let i2 = byte(2) else { return truncated }
                switch i2 {
                case 0x42: return .success((.isoIR87, 3))
                case 0x28:
                    guard let f = byte(3) else { return truncated }
                    return f == 0x44 ? .success((.isoIR159, 4)) : unknown(4)
                case 0x29:
                    guard let f = byte(3) else { return truncated }
                    switch f {
                    case 0x43: return .success((.isoIR149, 4))
                    case 0x41: return .success((.isoIR58, 4))
                    default: return unknown(4)
                    }
                default: return unknown(3)
                }
            default:
                return unknown(2)
            }
        }
    }

    /// The 96-character sets whose upper half (0xA0-0xFF) DICOM designates to G1.
    enum UpperHalf: CaseIterable, Hashable, Sendable {
        case ir100, ir101, ir109, ir110, ir144, ir127, ir126, ir138, ir148, ir203, ir166

        var registration: Int {
            switch self {
            case .ir100: return 100
            case .ir101: return 101
            case .ir109: return 109
            case .ir110: return 110
            case .ir144: return 144
            case .ir127: return 127
            case .ir126: return 126
            case .ir138: return 138
            case .ir148: return 148
            case .ir203: return 203
            case .ir166: return 166
            }
        }

        /// Final byte F of `ESC - F` (PS3.3 Table C.12-3; ISO-IR 203 is `ESC - b`).
        var finalByte: UInt8 {
            switch self {
            case .ir100: return 0x41 // A
            case .ir101: return 0x42 // B
            case .ir109: return 0x43 // C
            case .ir110: return 0x44 // D
            case .ir144: return 0x4C // L
            case .ir127: return 0x47 // G
            case .ir126: return 0x46 // F
            case .ir138: return 0x48 // H
            case .ir148: return 0x4D // M
            case .ir203: return 0x62 // b
            case .ir166: return 0x54 // T
            }
        }

        init?(finalByte: UInt8) {
            guard let match = UpperHalf.allCases.first(where: { $0.finalByte == finalByte }) else { return nil }
            self = match
        }

        init?(registration: Int) {
            guard let match = UpperHalf.allCases.first(where: { $0.registration == registration }) else { return nil }
            self = match
        }

        /// Code points for 0xA0...0xFF; 0 = unmapped.
        var table: [UInt16] {
            switch self {
            case .ir100: return CharacterSetTables.isoIR100
            case .ir101: return CharacterSetTables.isoIR101
            case .ir109: return CharacterSetTables.isoIR109
            case .ir110: return CharacterSetTables.isoIR110
            case .ir144: return CharacterSetTables.isoIR144
            case .ir127: return CharacterSetTables.isoIR127
            case .ir126: return CharacterSetTables.isoIR126
            case .ir138: return CharacterSetTables.isoIR138
            case .ir148: return CharacterSetTables.isoIR148
            case .ir203: return CharacterSetTables.isoIR203
            case .ir166: return CharacterSetTables.isoIR166
            }
        }

        /// Code point → byte (0xA0...0xFF), built on first use.
        var reverse: [UInt32: UInt8] {
            switch self {
            case .ir100: return ReverseUpper.ir100
            case .ir101: return ReverseUpper.ir101
            case .ir109: return ReverseUpper.ir109
            case .ir110: return ReverseUpper.ir110
            case .ir144: return ReverseUpper.ir144
            case .ir127: return ReverseUpper.ir127
            case .ir126: return ReverseUpper.ir126
            case .ir138: return ReverseUpper.ir138
            case .ir148: return ReverseUpper.ir148
            case .ir203: return ReverseUpper.ir203
            case .ir166: return ReverseUpper.ir166
            }
        }
    }

    fileprivate enum ReverseUpper {
        static func build(_ table: [UInt16]) -> [UInt32: UInt8] {
            var map: [UInt32: UInt8] = [:]
            for (i, cp) in table.enumerated() where cp != 0 {
                map[UInt32(cp)] = UInt8(0xA0 + i)
            }
            return map
        }
        static let ir100 = build(CharacterSetTables.isoIR100)
        static let ir101 = build(CharacterSetTables.isoIR101)
        static let ir109 = build(CharacterSetTables.isoIR109)
        static let ir110 = build(CharacterSetTables.isoIR110)
        static let ir144 = build(CharacterSetTables.isoIR144)
        static let ir127 = build(CharacterSetTables.isoIR127)
        static let ir126 = build(CharacterSetTables.isoIR126)
        static let ir138 = build(CharacterSetTables.isoIR138)
        static let ir148 = build(CharacterSetTables.isoIR148)
        static let ir203 = build(CharacterSetTables.isoIR203)
        static let ir166 = build(CharacterSetTables.isoIR166)
    }

    /// Why a value could not be decoded; becomes `DecodedText.undecodable(reason:raw:)`.
    struct Failure: Error, Sendable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
