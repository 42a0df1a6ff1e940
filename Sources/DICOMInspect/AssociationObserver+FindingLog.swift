extension AssociationObserver {
    /// The findings of one association, as every part of the observer reports them: kept up to
    /// `maximum`, then only counted (no event either: a stream that makes a finding per PDU must
    /// not grow the consumer's output).
    struct FindingLog: Sendable {
        let maximum: Int
        /// The findings kept (at most `maximum`, then one `findings-truncated` at the end).
        var kept: [Finding] = []
        /// Findings reported but not kept.
        var dropped = 0
        /// Packet number of the bytes being processed: given to findings (and messages) that name none.
        var currentPacket: Int?

        init(maximum: Int) {
            self.maximum = maximum
        }

        /// Keeps a finding and returns its event; past `maximum` it is only counted.
        mutating func record(_ finding: Finding) -> ObservationEvent? {
            guard kept.count < maximum else {
                dropped += 1
                return nil
            }
            var finding = finding
            if finding.packet == nil { finding.packet = currentPacket }
            kept.append(finding)
            return .finding(finding)
        }

        /// Keeps a finding and appends its event to `events` (see `record`).
        mutating func report(_ finding: Finding, into events: inout [ObservationEvent]) {
            events.append(record(finding))
        }

        /// At the end of the association: the `findings-truncated` finding that counts the
        /// findings not kept, if any (always kept: it is the one past the bound).
        mutating func reportTruncation(at time: Timestamp, into events: inout [ObservationEvent]) {
            guard dropped > 0 else { return }
            let finding = Finding(.findingsTruncated, .warning,
                                  "\(dropped) more finding\(dropped == 1 ? "" : "s") not kept (at most \(maximum) per association)",
                                  time: time)
            kept.append(finding)
            events.append(.finding(finding))
        }
    }
}
