import DICOMCore
import Crypto

/// Moves DA and DT values by a whole number of days (the Retain Longitudinal Temporal
/// Information with Modified Dates option of PS3.15 Annex E): intervals between dates stay as
/// they were, the dates themselves do not. The shift is the same for every value (so several
/// proxies with the same key agree, and a query's date range keeps its meaning); it is undone
/// on the way back to the SCU.
package struct DateShift: Sendable, Hashable {
    /// Days added (negative: earlier).
    package let days: Int

    package init(days: Int) { self.days = days }

    /// The shift a key gives when the rules name none: between 366 and 3,652 days earlier,
    /// from `HMAC-SHA-256(key, "dicomtap-date-shift-v1")`.
    package init(key: SecretKey) {
        let digest = Array(HMAC<SHA256>.authenticationCode(for: Array("dicomtap-date-shift-v1".utf8),
                                                           using: SymmetricKey(data: key.bytes)))
        let n = Int(digest[0]) << 8 | Int(digest[1])
        days = -(366 + n % (3652 - 366 + 1))
    }

    package var inverse: DateShift { DateShift(days: -days) }

    /// One DA value (a date, or a range `A-B`, `A-`, `-B` as in a query), shifted; nil when it
    /// is not a date this can shift.
    package func shift(date value: String) -> String? {
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
    package func shift(dateTime value: String) -> String? {
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
        guard (1...12).contains(m), d >= 1, d <= CivilCalendar.daysIn(month: m, year: y) else { return nil }
        let (ny, nm, nd) = CivilCalendar.civil(fromDays: CivilCalendar.days(fromCivil: y, m, d) + days)
        guard (0...9999).contains(ny) else { return nil }
        return String(format4(ny)) + String(format2(nm)) + String(format2(nd))
    }

    private func format4(_ n: Int) -> String { String(repeating: "0", count: max(0, 4 - String(n).count)) + String(n) }
    private func format2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
