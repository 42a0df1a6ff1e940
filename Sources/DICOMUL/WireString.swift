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
        // Index scanning on the array (no slice mutation), then one decode of the contiguous range.
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    public var description: String { value }
}
