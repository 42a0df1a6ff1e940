import ArgumentParser
import NIOCore

/// Seconds given on the command line: finite, not negative (positive unless `zero` is allowed), at most a year.
func checkSeconds(_ value: Double?, _ option: String, zero: Bool = true) throws {
    guard let value else { return }
    guard value.isFinite, value >= 0, value <= 31_536_000, zero || value > 0 else {
        throw ValidationError("\(option) must be a number of seconds from \(zero ? "0" : "more than 0") to 31536000, not \(value)")
    }
}

extension TimeAmount {
    /// A checked number of seconds (see `checkSeconds`).
    static func fromSeconds(_ value: Double) -> TimeAmount { .nanoseconds(Int64(value * 1e9)) }
}
