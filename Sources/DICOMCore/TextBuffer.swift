import NIOCore

/// A growing UTF-8 text: the dump renderers append their pieces here (bytes, decimal and hex
/// numbers, tags) and make one `String` at the end, instead of concatenating many small Strings.
package struct TextBuffer: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package var count: Int { bytes.count }
    package var isEmpty: Bool { bytes.isEmpty }
    package var string: String { String(decoding: bytes, as: UTF8.self) }

    package mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
    package mutating func removeLast(_ n: Int) { bytes.removeLast(n) }

    @inline(__always) package mutating func append(_ byte: UInt8) { bytes.append(byte) }
    package mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }
    package mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    package mutating func append(_ b: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: b) }
    package mutating func append(_ b: ByteBufferView) { bytes.append(contentsOf: b) }
    package mutating func append(_ other: TextBuffer) { bytes.append(contentsOf: other.bytes) }

    package mutating func appendSpaces(_ n: Int) {
        if n > 0 { bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: n)) }
    }

    /// Number of decimal digits of `v` (with the sign), as `String(v).count`.
    package static func decimalDigits(_ v: Int) -> Int {
        var n = v < 0 ? 2 : 1
        var q = v / 10
        while q != 0 { n += 1; q /= 10 }
        return n
    }

    /// `String(v)`, appended.
    package mutating func appendDecimal(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(v.magnitude)
    }

    package mutating func appendDecimal(_ v: Int) { appendDecimal(Int64(v)) }
    package mutating func appendDecimal(_ v: UInt64) { appendDigits(v) }
    package mutating func appendDecimal(_ v: UInt32) { appendDigits(UInt64(v)) }
    package mutating func appendDecimal(_ v: UInt16) { appendDigits(UInt64(v)) }
    package mutating func appendDecimal(_ v: UInt8) { appendDigits(UInt64(v)) }

    private mutating func appendDigits(_ v: UInt64) {
        if v < 10 { bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)); return }
        let start = bytes.count
        var q = v
        while q != 0 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: q % 10))
            q /= 10
        }
        bytes[start...].reverse()
    }

    /// `v` in decimal, left-padded with zeros to `width` digits (non-negative `v`).
    package mutating func appendDecimal(_ v: Int64, width: Int) {
        let digits = Self.decimalDigits(Int(v))
        if digits < width { bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        appendDecimal(v)
    }

    @inline(__always) package mutating func appendHex2(_ b: UInt8, uppercase: Bool) {
        bytes.append(Self.hexDigit(b >> 4, uppercase))
        bytes.append(Self.hexDigit(b & 0xF, uppercase))
    }

    /// `v` in hex without leading zeros (`String(v, radix: 16, uppercase:)`).
    package mutating func appendHex(_ v: UInt64, uppercase: Bool) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        let start = bytes.count
        var q = v
        while q > 0 {
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: q & 0xF), uppercase))
            q >>= 4
        }
        bytes[start...].reverse()
    }

    /// `(gggg,eeee)`, as `Tag.description` (upper case) or lowercased.
    package mutating func appendTag(_ tag: Tag, uppercase: Bool) {
        bytes.append(UInt8(ascii: "("))
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 24), uppercase: uppercase)
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 16), uppercase: uppercase)
        bytes.append(UInt8(ascii: ","))
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 8), uppercase: uppercase)
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue), uppercase: uppercase)
        bytes.append(UInt8(ascii: ")"))
    }

    @inline(__always) static func hexDigit(_ n: UInt8, _ uppercase: Bool) -> UInt8 {
        n < 10 ? 0x30 + n : (uppercase ? 0x37 : 0x57) + n
    }

    /// Width in Characters of the text appended since `start` (`String.count` of it): one per
    /// byte for ASCII except CR LF, which is one Character.
    package func width(from start: Int) -> Int {
        var crlf = 0
        var previous: UInt8 = 0
        for i in start..<bytes.count {
            let b = bytes[i]
            if b >= 0x80 { return String(decoding: bytes[start...], as: UTF8.self).count }
            if b == 0x0A && previous == 0x0D { crlf += 1 }
            previous = b
        }
        return bytes.count - start - crlf
    }
}
