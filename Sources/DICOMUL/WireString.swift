/// Text carried in a PDU field (AE titles, UIDs, names) kept as its exact bytes, so that a
/// decoded PDU re-encodes byte for byte even with unusual padding; `value` is the text with
/// leading/trailing spaces and NULs removed (PS3.8 §9.3.2: they are not significant).
public struct WireString: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    /// An AE title: ASCII padded with spaces to 16 bytes (PS3.8 §9.3.2, Table 9-11).
    public static func aeTitle(_ title: String) -> WireString {
        var b = Array(title.utf8.prefix(16))
        b += Array(repeating: 0x20, count: 16 - b.count)
        return WireString(bytes: b)
    }

    public var value: String {
        var s = bytes[...]
        while let f = s.first, f == 0x20 || f == 0 { s.removeFirst() }
        while let l = s.last, l == 0x20 || l == 0 { s.removeLast() }
        return String(decoding: s, as: UTF8.self)
    }

    public var description: String { value }
}
