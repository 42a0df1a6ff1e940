/// Value Representation, PS3.5 §6.2, Table 6.2-1. The raw value is the two ASCII
/// characters as they appear on the wire (`"PN"` = 0x504E).
public enum VR: UInt16, CaseIterable, Sendable, CustomStringConvertible {
    case AE = 0x4145, AS = 0x4153, AT = 0x4154, CS = 0x4353, DA = 0x4441, DS = 0x4453
    case DT = 0x4454, FD = 0x4644, FL = 0x464C, IS = 0x4953, LO = 0x4C4F, LT = 0x4C54
    case OB = 0x4F42, OD = 0x4F44, OF = 0x4F46, OL = 0x4F4C, OV = 0x4F56, OW = 0x4F57
    case PN = 0x504E, SH = 0x5348, SL = 0x534C, SQ = 0x5351, SS = 0x5353, ST = 0x5354
    case SV = 0x5356, TM = 0x544D, UC = 0x5543, UI = 0x5549, UL = 0x554C, UN = 0x554E
    case UR = 0x5552, US = 0x5553, UT = 0x5554, UV = 0x5556

    /// Builds a VR from its two wire bytes; `nil` for a code that is not in Table 6.2-1.
    @inlinable public init?(byte0: UInt8, byte1: UInt8) {
        self.init(rawValue: UInt16(byte0) << 8 | UInt16(byte1))
    }

    /// Builds a VR from its two-letter name.
    public init?(code: String) {
        let u = Array(code.utf8)
        guard u.count == 2 else { return nil }
        self.init(byte0: u[0], byte1: u[1])
    }

    public var description: String { code }
    public var code: String {
        String(decoding: [UInt8(rawValue >> 8), UInt8(rawValue & 0xFF)], as: UTF8.self)
    }
    @inlinable public var byte0: UInt8 { UInt8(rawValue >> 8) }
    @inlinable public var byte1: UInt8 { UInt8(truncatingIfNeeded: rawValue) }

    /// In explicit VR transfer syntaxes these VRs have two reserved bytes and a 32-bit
    /// length (PS3.5 §7.1.2, Table 7.1-1); all others a 16-bit length.
    @inlinable public var hasLongExplicitLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: return true
        default: return false
        }
    }

    /// Character-string VRs: values are text, multiple values are separated by `\`.
    public var isString: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: return true
        default: return false
        }
    }

    /// VRs whose text is decoded through (0008,0005) Specific Character Set (PS3.5 §6.1.2.3).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .LO, .LT, .PN, .SH, .ST, .UC, .UT: return true
        default: return false
        }
    }

    /// Text VRs whose value is a single value: a backslash is a character, not a separator.
    public var isSingleValuedText: Bool {
        switch self {
        case .LT, .ST, .UT, .UR: return true
        default: return false
        }
    }

    /// Binary numeric VRs and their item size in bytes.
    public var binaryItemSize: Int? {
        switch self {
        case .AT: return 4
        case .FD: return 8
        case .FL: return 4
        case .SL, .UL: return 4
        case .SS, .US: return 2
        case .SV, .UV: return 8
        case .OD: return 8
        case .OF, .OL: return 4
        case .OV: return 8
        case .OW: return 2
        default: return nil
        }
    }

    /// The byte used to pad a value to even length (PS3.5 §6.2): NUL for UI and binary VRs, space for text.
    public var paddingByte: UInt8 {
        isString && self != .UI ? 0x20 : 0x00
    }
}
