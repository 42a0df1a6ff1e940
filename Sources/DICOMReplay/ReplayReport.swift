import DICOMCore
import DICOMInspect
import DIMSE

/// The replay of one recorded association against a new peer.
package struct AssociationReplayResult: Sendable {
    package var recordedIndex: Int
    package var callingAETitle: String
    package var calledAETitle: String
    /// Differences in the negotiation (recorded contexts the new peer did not accept).
    package var negotiation: [Difference] = []
    /// Transfer syntax changes and other facts that are not differences.
    package var notes: [String] = []
    package var exchanges: [ExchangeComparison] = []
    /// Why the replay could not be completed (rejected, aborted, connection lost); its
    /// exchanges up to that point are shown but the association does not count as matched.
    package var error: ReplayError?

    package init(recordedIndex: Int, callingAETitle: String, calledAETitle: String) {
        self.recordedIndex = recordedIndex
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
    }

    package var differenceCount: Int { negotiation.count + exchanges.reduce(0) { $0 + $1.differences.count } }
    package var matched: Bool { error == nil && differenceCount == 0 }
}

/// The result of `dicomtap replay --to`: per association, per request, the differences.
package struct ReplayReport: Sendable {
    package enum Outcome: String, Sendable {
        case matched, differences, error

        /// 0 everything matched, 1 differences, 2 errors.
        package var exitCode: Int32 {
            switch self {
            case .matched: return 0
            case .differences: return 1
            case .error: return 2
            }
        }
    }

    package var capture: String
    package var target: String
    package var pace: String
    package var ignoredTags: [Tag]
    package var associations: [AssociationReplayResult]

    package var outcome: Outcome {
        if associations.isEmpty || associations.contains(where: { $0.error != nil }) { return .error }
        return associations.allSatisfy(\.matched) ? .matched : .differences
    }

    package var differenceCount: Int { associations.reduce(0) { $0 + $1.differenceCount } }

    // MARK: Text

    package func text() -> String {
        var lines: [String] = []
        lines.append("replay of \(capture) against \(target) (pace \(pace)"
                     + (ignoredTags.isEmpty ? "" : "; ignoring " + ignoredTags.map(tagName).joined(separator: ", ")) + ")")
        for a in associations {
            lines.append("")
            let n = a.exchanges.count
            let differing = a.exchanges.filter { !$0.matched }.count
            let skipped = a.exchanges.filter { $0.skipped != nil }.count
            let verdict: String
            if a.error != nil {
                verdict = ", ERROR"
            } else if differing > 0 || !a.negotiation.isEmpty {
                verdict = ", \(differing) with differences"
            } else {
                verdict = skipped == 0 ? ", all matched" : skipped == n ? "" : ", all sent matched"
            }
            lines.append("association \(a.recordedIndex): \(a.callingAETitle) -> \(a.calledAETitle): \(n) request"
                         + (n == 1 ? "" : "s") + verdict + (skipped == 0 ? "" : ", \(skipped) skipped"))
            if let e = a.error { lines.append("  error: \(e.code): \(e.message)") }
            for d in a.negotiation { lines.append("  - \(d)") }
            for note in a.notes { lines.append("  note: \(note)") }
            for ex in a.exchanges {
                var head = "  #\(ex.index + 1) \(ex.request)"
                if let sop = ex.sopClassUID { head += " " + (UIDRegistry.name(for: sop) ?? sop) }
                head += " (message \(ex.recordedMessageID) -> "
                    + (ex.replayedMessageID.map(String.init) ?? (ex.skipped != nil ? "skipped" : "not sent")) + ")"
                head += ": recorded " + outcomeText(ex.recordedPending, ex.recordedFinalStatus, ex.recordedSubOperations, ex)
                if ex.replayedMessageID != nil {
                    head += "; replayed " + outcomeText(ex.replayedPending, ex.replayedFinalStatus, ex.replayedSubOperations, ex)
                }
                if let r = ex.recordedDuration, let p = ex.replayedDuration {
                    head += "; \(ms(r)) -> \(ms(p))"
                }
                if ex.skipped != nil, ex.matched {
                    head += ": SKIPPED"
                } else {
                    head += ex.matched ? ": matched" : ": \(ex.differences.count) difference" + (ex.differences.count == 1 ? "" : "s")
                }
                lines.append(head)
                if let why = ex.skipped { lines.append("    skipped: \(why)") }
                for d in ex.differences { lines.append("    - \(d)") }
                for note in ex.notes { lines.append("    note: \(note)") }
            }
        }
        lines.append("")
        let total = associations.reduce(0) { $0 + $1.exchanges.count }
        let differing = associations.reduce(0) { $0 + $1.exchanges.filter { !$0.matched }.count }
        let skipped = skippedCount
        let skippedText = skipped == 0 ? "" : "; \(skipped) skipped: not sent, not compared"
        switch outcome {
        case .matched:
            lines.append("result: matched (\(total) request" + (total == 1 ? "" : "s") + " in \(associations.count) association"
                         + (associations.count == 1 ? "" : "s") + skippedText + ")")
        case .differences:
            lines.append("result: \(differenceCount) difference" + (differenceCount == 1 ? "" : "s")
                         + " in \(differing) of \(total) requests" + skippedText)
        case .error:
            lines.append("result: error (" + associations.compactMap { $0.error.map { "association \($0.association ?? 0): \($0.code)" } }
                            .joined(separator: "; ") + "); nothing after the error was compared")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Requests deliberately not sent (C-MOVE without `--allow-move`).
    package var skippedCount: Int { associations.reduce(0) { $0 + $1.exchanges.filter { $0.skipped != nil }.count } }

    private func outcomeText(_ pending: Int, _ status: UInt16?, _ counts: SubOperationCounts?, _ ex: ExchangeComparison) -> String {
        var parts: [String] = []
        if pending > 0 { parts.append("\(pending) pending") }
        parts.append((status.map { statusText($0, ex.service, ex.sopClassUID) } ?? "no final response")
                     + (counts.map { " (\($0))" } ?? ""))
        return parts.joined(separator: " + ")
    }

    private func ms(_ d: Duration) -> String {
        let v = d.milliseconds
        return v < 10 ? String(Double(Int(v * 100)) / 100) + " ms" : "\(Int(v.rounded())) ms"
    }

    // MARK: JSON

    package func json() -> JSONValue {
        .object([
            ("capture", .string(capture)),
            ("target", .string(target)),
            ("pace", .string(pace)),
            ("ignoredTags", .array(ignoredTags.map { .string($0.jsonKey) })),
            ("outcome", .string(outcome.rawValue)),
            ("differences", .int(differenceCount)),
            ("skipped", .int(skippedCount)),
            ("associations", .array(associations.map(associationJSON))),
        ])
    }

    private func associationJSON(_ a: AssociationReplayResult) -> JSONValue {
        .object([
            ("recordedIndex", .int(a.recordedIndex)),
            ("callingAETitle", .string(a.callingAETitle)),
            ("calledAETitle", .string(a.calledAETitle)),
            ("matched", .bool(a.matched)),
            ("error", a.error.map(errorJSON) ?? .null),
            ("negotiation", .array(a.negotiation.map(differenceJSON))),
            ("notes", .array(a.notes.map(JSONValue.string))),
            ("exchanges", .array(a.exchanges.map(exchangeJSON))),
        ])
    }

    private func exchangeJSON(_ ex: ExchangeComparison) -> JSONValue {
        .object([
            ("index", .int(ex.index)),
            ("request", .string(ex.request)),
            ("sopClassUID", ex.sopClassUID.map(JSONValue.string) ?? .null),
            ("sopClassName", ex.sopClassUID.flatMap { UIDRegistry.name(for: $0) }.map(JSONValue.string) ?? .null),
            ("recordedMessageID", .int(ex.recordedMessageID)),
            ("replayedMessageID", ex.replayedMessageID.map { .int($0) } ?? .null),
            ("recorded", side(ex.recordedPending, ex.recordedFinalStatus, ex.recordedSubOperations, ex.recordedDuration)),
            ("replayed", ex.replayedMessageID == nil ? .null
                : side(ex.replayedPending, ex.replayedFinalStatus, ex.replayedSubOperations, ex.replayedDuration)),
            ("cancelled", .bool(ex.cancelled)),
            ("skipped", ex.skipped.map(JSONValue.string) ?? .null),
            ("matched", .bool(ex.matched)),
            ("differences", .array(ex.differences.map(differenceJSON))),
            ("notes", .array(ex.notes.map(JSONValue.string))),
        ])
    }

    private func side(_ pending: Int, _ status: UInt16?, _ counts: SubOperationCounts?, _ duration: Duration?) -> JSONValue {
        func count(_ v: UInt16?) -> JSONValue { v.map { .int(Int($0)) } ?? .null }
        return .object([
            ("pendingResponses", .int(pending)),
            ("finalStatus", status.map { .string(DICOMInspect.statusText($0)) } ?? .null),
            ("subOperations", counts.map { c in
                .object([("completed", count(c.completed)), ("failed", count(c.failed)), ("warning", count(c.warning))])
            } ?? .null),
            ("durationMs", duration.map { .double($0.milliseconds) } ?? .null),
        ])
    }

    private func differenceJSON(_ d: Difference) -> JSONValue {
        .object([
            ("kind", .string(d.kind.rawValue)),
            ("response", d.response.map(JSONValue.string) ?? .null),
            ("path", d.path.map { p in
                .array(p.steps.map { step in
                    .object([("tag", .string(step.tag.jsonKey)),
                             ("keyword", DataDictionary.keyword(for: step.tag).map(JSONValue.string) ?? .null),
                             ("item", step.item.map { .int($0) } ?? .null)])
                })
            } ?? .null),
            ("pathText", d.path.map { .string($0.description) } ?? .null),
            ("recorded", d.recorded.map(JSONValue.string) ?? .null),
            ("replayed", d.replayed.map(JSONValue.string) ?? .null),
            ("description", .string(d.description)),
        ])
    }

    private func errorJSON(_ e: ReplayError) -> JSONValue {
        .object([("code", .string(e.code.rawValue)), ("message", .string(e.message))])
    }

    private func tagName(_ tag: Tag) -> String {
        "\(tag)" + (DataDictionary.keyword(for: tag).map { " " + $0 } ?? "")
    }
}
