import DICOMInspect

/// `a - b` between two capture timestamps, saturating: a capture's times can be anything (a
/// pcapng interface with an `if_tsoffset`, times the reader clamped to `Int64.min` / `.max`),
/// and a plain subtraction of such values traps. Every difference of timestamps in DICOMReplay
/// goes through here.
func gap(_ a: Timestamp, _ b: Timestamp) -> Duration {
    let (difference, overflow) = a.nanoseconds.subtractingReportingOverflow(b.nanoseconds)
    guard overflow else { return .nanoseconds(difference) }
    return .nanoseconds(a.nanoseconds < b.nanoseconds ? Int64.min : Int64.max)
}

/// A recorded gap `--pace recorded` is about to sleep, capped.
struct PacedGap {
    /// What to sleep: the recorded gap, at most the cap, never negative.
    var sleep: Duration
    /// The recorded gap when it was longer than the cap (nil otherwise).
    var cappedFrom: Duration?

    init(_ recorded: Duration, cap: Duration) {
        let wanted = max(.zero, recorded)
        let limit = max(.zero, cap)
        sleep = min(wanted, limit)
        cappedFrom = wanted > limit ? wanted : nil
    }

    /// The warning line for a capped gap: `what` names it ("the think time before request 3").
    func warning(_ what: String, association: Int) -> String? {
        guard let cappedFrom else { return nil }
        return "association \(association): \(what) is \(describe(cappedFrom)) in the recording; "
            + "waited \(describe(sleep)) instead (the most --pace recorded waits)"
    }

    private func describe(_ d: Duration) -> String {
        let seconds = d.components.seconds
        if seconds >= 86_400 * 365 { return "\(seconds / (86_400 * 365)) years" }
        if seconds >= 86_400 { return "\(seconds / 86_400) days" }
        return "\(String(format3(Double(seconds) + Double(d.components.attoseconds) / 1e18))) s"
    }

    private func format3(_ v: Double) -> String {
        let milli = Int64((v * 1000).rounded())
        let fraction = String(milli % 1000)
        return "\(milli / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

extension ReplayPace {
    /// The longest recorded gap `--pace recorded` sleeps (60 s): think times, response delays,
    /// the wait before the release and the offset between associations come from capture
    /// timestamps, and a capture with wrong times (an interface time offset, clamped times)
    /// would otherwise make the replay wait for years. A longer gap is slept for this long,
    /// with a warning naming it.
    package static let defaultMaximumGap: Duration = .seconds(60)
}

extension Finding.Code {
    /// A recorded gap longer than the replay's maximum was shortened (`--pace recorded`).
    package static let recordedGapCapped = Finding.Code(rawValue: "recorded-gap-capped")
}
