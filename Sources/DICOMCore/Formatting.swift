// Hex and fixed-point text shared by every module's dumps, logs and errors: one home, so that a
// tag, a status code or a byte reads the same wherever it is shown; and the system's words for an errno value.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The system's words for an errno value, starting in lower case ("permission denied"), for messages.
package func systemErrorWords(_ code: Int32) -> String {
    let text = String(cString: strerror(code))
    return text.prefix(1).lowercased() + text.dropFirst()
}

/// Four upper-case hex digits without `0x`: `hex4(0x0900)` is `0900` (tags, status codes, commands).
@usableFromInline
package func hex4(_ v: UInt16) -> String {
    @inline(__always) func digit(_ n: UInt16) -> UInt8 { n < 10 ? 0x30 + UInt8(n) : 0x37 + UInt8(n) }
    return String(unsafeUninitializedCapacity: 4) { buffer in
        buffer[0] = digit(v >> 12)
        buffer[1] = digit(v >> 8 & 0xF)
        buffer[2] = digit(v >> 4 & 0xF)
        buffer[3] = digit(v & 0xF)
        return 4
    }
}

/// Two hex digits without `0x`, upper case unless asked otherwise: `hex2(0x0A)` is `0A`.
package func hex2(_ b: UInt8, uppercase: Bool = true) -> String {
    let letterBase: UInt8 = uppercase ? 0x37 : 0x57
    @inline(__always) func digit(_ n: UInt8) -> UInt8 { n < 10 ? 0x30 + n : letterBase + n }
    return String(unsafeUninitializedCapacity: 2) { buffer in
        buffer[0] = digit(b >> 4)
        buffer[1] = digit(b & 0xF)
        return 2
    }
}

/// `value` in hex without `0x`, zero-padded to at least `width` digits: `hex(0x1A, width: 4, uppercase: false)` is `001a`.
package func hex(_ value: some BinaryInteger, width: Int, uppercase: Bool = true) -> String {
    let digits = String(value, radix: 16, uppercase: uppercase)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// Seconds with six decimals, rounded to the microsecond: `12.000345`.
package func secondsText(_ seconds: Double) -> String {
    secondsText(microseconds: Int64((seconds * 1e6).rounded()))
}

/// Seconds with six decimals from a count of microseconds: `12.000345` (timestamps in dumps and logs).
package func secondsText(microseconds: Int64) -> String {
    let whole = microseconds / 1_000_000
    let fraction = String(abs(microseconds % 1_000_000))
    return "\(whole)." + String(repeating: "0", count: 6 - fraction.count) + fraction
}
