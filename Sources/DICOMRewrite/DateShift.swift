import Crypto

/// Moves DA and DT values by a whole number of days (the Retain Longitudinal Temporal
/// Information with Modified Dates option of PS3.15 Annex E): intervals between dates stay as
/// they were, the dates themselves do not. The shift is the same for every value (so several
/// proxies with the same key agree, and a query's date range keeps its meaning); it is undone
/// on the way back to the SCU.
public struct DateShift: Sendable, Hashable {
    /// Days added (negative: earlier).
    public let days: Int

    public init(days: Int) { self.days = days }

    /// The shift a key gives when the rules name none: between 366 and 3,652 days earlier,
    /// from `HMAC-SHA-256(key, "dicomtap-date-shift-v1")`.
    public init(key: SecretKey) {
        let digest = Array(HMAC<SHA256>.authenticationCode(for: Array("dicomtap-date-shift-v1".utf8),
                                                           using: SymmetricKey(data: key.bytes)))
        let n = Int(digest[0]) << 8 | Int(digest[1])
        days = -(366 + n % (3652 - 366 + 1))
    }

    public var inverse: DateShift { DateShift(days: -days) }

    /// One DA value (a date, or a range `A-B`, `A-`, `-B` as in a query), shifted; nil when it
    /// is not a date this can shift.
    public func shift(date value: String) -> String? {
        if value.contains("-") {
            let parts = value.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            var out: [String] = []
            for part in parts {
                if part.isEmpty {
                    out.append("")
                } else {
                    guard let shifted = shiftDay(String(part)) else { return nil }
                    out.append(shifted)
                }
            }
            return out.joined(separator: "-")
        }
        return shiftDay(value)
    }

    /// One DT value (or range): its date part moved, the rest (time, fraction, offset) kept.
    /// A value with less than a full date (`YYYY`, `YYYYMM`) cannot be moved by days: nil.
    public func shift(dateTime value: String) -> String? {
        let parts = splitRange(value)
        var out: [String] = []
        for part in parts {
            if part.isEmpty {
                out.append("")
                continue
            }
            let chars = Array(part)
            guard chars.count >= 8, let day = shiftDay(String(chars[0..<8])) else { return nil }
            out.append(day + String(chars[8...]))
        }
        return out.joined(separator: "-")
    }

    /// A DT value split at its range dash (a dash that is not a UTC offset sign: one with at
    /// least a full date before it or at either end).
    private func splitRange(_ value: String) -> [String] {
        let chars = Array(value)
        for (i, c) in chars.enumerated() where c == "-" {
            // A UTC offset `-HHMM` comes after at least YYYYMMDDHH... and is the value's end.
            let before = String(chars[0..<i])
            let after = String(chars[(i + 1)...])
            let isOffset = before.count >= 10 && after.count == 4 && after.allSatisfy(\.isNumber)
            if !isOffset { return [before, after] }
        }
        return [value]
    }

    /// `YYYYMMDD` plus `days`.
    private func shiftDay(_ text: String) -> String? {
        let digits = Array(text.utf8)
        guard digits.count == 8, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(digits[$1] - 0x30) } }
        let (y, m, d) = (number(0..<4), number(4..<6), number(6..<8))
        guard (1...12).contains(m), d >= 1, d <= Self.daysIn(month: m, year: y) else { return nil }
        let (ny, nm, nd) = Self.civil(fromDays: Self.days(fromCivil: y, m, d) + days)
        guard (0...9999).contains(ny) else { return nil }
        return String(format4(ny)) + String(format2(nm)) + String(format2(nd))
    }

    private func format4(_ n: Int) -> String { String(repeating: "0", count: max(0, 4 - String(n).count)) + String(n) }
    private func format2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func daysIn(month m: Int, year y: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func days(fromCivil y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The date `z` days after 1970-01-01 (`civil_from_days`).
    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
