import DICOMCore
import DICOMInspect
import DIMSE

/// `dicomtap replay --to ... --format html`: the replay report as one self-contained page, built with
/// analyze's `HTMLWriter` (every string from the capture or the new peer escaped by construction). On top
/// the verdict and counts; then per association its negotiation differences, notes and a table of its
/// requests, recorded beside replayed, each differing request followed by its differences (recorded value
/// struck through on red, replayed on green, and the words "recorded"/"replayed": colour is not the only
/// carrier).
extension ReplayReport {
    package func html() -> String {
        var w = HTMLPage.begin(title: "DICOMTap replay: \(capture) against \(target)", heading: "DICOMTap replay",
                               meta: "replay of \(capture) against \(target) (pace \(pace)"
                                   + (ignoredTags.isEmpty ? "" : "; ignoring " + ignoredTags.map(Self.htmlTagName).joined(separator: ", "))
                                   + ")",
                               style: Self.css)
        overview(into: &w)
        for a in associations { section(a, into: &w) }
        w.append(HTMLPage.end())
        return w.string
    }

    static let css: StaticString = """
    tr.differs td{background:#fff8c5} tr.skipped td{color:var(--muted)} tr.diffs td{background:#fffdf0;padding:0 6px 8px 28px}
    table.diffs{margin:4px 0 0;font-size:12px} table.diffs th{background:#fff}
    .was{background:#ffebe9;text-decoration:line-through;text-decoration-color:var(--failure)} .now{background:#dafbe1}
    .was,.now{padding:0 3px;border-radius:3px;font:12px ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-all}
    .side{color:var(--muted);font-size:11px;margin-right:3px}
    ul.notes{margin:4px 0 8px;padding-left:18px;color:var(--muted);font-size:12px}
    table.counts{width:auto} table.counts td{padding-right:18px}
    """

    /// The verdict as a badge class and words.
    var verdict: (badge: String, text: String) {
        let total = associations.reduce(0) { $0 + $1.exchanges.count }
        let differing = associations.reduce(0) { $0 + $1.exchanges.filter { !$0.matched }.count }
        switch outcome {
        case .matched: return ("success", "matched: \(total) request\(total == 1 ? "" : "s") as recorded")
        case .differences:
            return ("warning", "\(differenceCount) difference\(differenceCount == 1 ? "" : "s") in \(differing) of \(total) requests")
        case .error: return ("failure", "error: nothing after the error was compared")
        }
    }

    private func overview(into w: inout HTMLWriter) {
        w.open("section", [.init("id", "overview")])
        let v = verdict
        w.open("p", [.init("class", "why " + v.badge)])
        w.element("span", [.init("class", "badge \(v.badge)")], outcome.rawValue)
        w.text(" " + v.text)
        w.close("p")
        let requests = associations.reduce(0) { $0 + $1.exchanges.count }
        let differing = associations.reduce(0) { $0 + $1.exchanges.filter { !$0.matched }.count }
        w.open("table", [.init("class", "counts")])
        w.markup("<tbody>")
        for (label, n) in [("associations replayed", associations.count),
                           ("associations matched", associations.filter(\.matched).count),
                           ("associations with an error", associations.filter { $0.error != nil }.count),
                           ("requests", requests), ("requests with differences", differing),
                           ("requests skipped (not sent, not compared)", skippedCount), ("differences", differenceCount)] {
            w.open("tr")
            w.element("td", [], label)
            w.element("td", [.init("class", "num")], String(n))
            w.close("tr")
        }
        w.markup("</tbody></table>")
        w.close("section")
    }

    private func section(_ a: AssociationReplayResult, into w: inout HTMLWriter) {
        w.open("section", [.init("class", "assoc"), .init("id", "r\(a.recordedIndex)")])
        w.open("h2")
        w.text("Association \(a.recordedIndex): “\(a.callingAETitle)” → “\(a.calledAETitle)” ")
        if a.error != nil {
            w.element("span", [.init("class", "badge failure")], "error")
        } else if a.matched {
            w.element("span", [.init("class", "badge success")], "matched")
        } else {
            w.element("span", [.init("class", "badge warning")], "\(a.differenceCount) difference\(a.differenceCount == 1 ? "" : "s")")
        }
        w.close("h2")
        if let e = a.error {
            w.element("p", [.init("class", "why failure")], "\(e.code): \(e.message)")
        }
        if !a.negotiation.isEmpty {
            w.element("h3", [], "Negotiation")
            differences(a.negotiation, into: &w)
        }
        if !a.notes.isEmpty {
            w.open("ul", [.init("class", "notes")])
            for note in a.notes { w.element("li", [], "note: " + note) }
            w.close("ul")
        }
        if a.exchanges.isEmpty {
            w.element("p", [.init("class", "none")], "No request was replayed.")
        } else {
            exchanges(a.exchanges, into: &w)
        }
        w.close("section")
    }

    private func exchanges(_ list: [ExchangeComparison], into w: inout HTMLWriter) {
        w.open("table", [.init("class", "exchanges")])
        w.markup("<thead><tr><th>#</th><th>request</th><th>message ID</th><th>recorded</th><th>replayed</th><th>result</th></tr></thead><tbody>")
        for ex in list {
            let rowClass = ex.skipped != nil && ex.matched ? "skipped" : ex.matched ? "matched" : "differs"
            w.open("tr", [.init("class", rowClass), .init("id", "x\(ex.index + 1)")])
            w.element("td", [.init("class", "num")], String(ex.index + 1))
            w.open("td")
            w.text(ex.request)
            if let sop = ex.sopClassUID {
                if let name = UIDRegistry.name(for: sop) { w.element("span", [.init("class", "sop")], " " + name) }
                w.element("span", [.init("class", "uid")], sop)
            }
            w.close("td")
            w.element("td", [.init("class", "num")],
                      "\(ex.recordedMessageID) → " + (ex.replayedMessageID.map(String.init) ?? (ex.skipped != nil ? "skipped" : "not sent")))
            outcomeCell(ex.recordedPending, ex.recordedFinalStatus, ex.recordedSubOperations, ex.recordedDuration, ex, into: &w)
            if ex.replayedMessageID != nil {
                outcomeCell(ex.replayedPending, ex.replayedFinalStatus, ex.replayedSubOperations, ex.replayedDuration, ex, into: &w)
            } else {
                w.element("td", [.init("class", "comment")], ex.skipped ?? "not sent")
            }
            w.open("td")
            if ex.skipped != nil, ex.matched {
                w.element("span", [.init("class", "badge cancel")], "skipped")
            } else if ex.matched {
                w.element("span", [.init("class", "badge success")], "matched")
            } else {
                w.element("span", [.init("class", "badge warning")],
                          "\(ex.differences.count) difference\(ex.differences.count == 1 ? "" : "s")")
            }
            if ex.cancelled { w.element("div", [.init("class", "explain")], "cancelled (C-CANCEL at its recorded moment)") }
            w.close("td")
            w.close("tr")
            guard !ex.differences.isEmpty || !ex.notes.isEmpty else { continue }
            w.open("tr", [.init("class", "diffs")])
            w.open("td", [.init("colspan", 6)])
            if !ex.differences.isEmpty { differences(ex.differences, into: &w) }
            if !ex.notes.isEmpty {
                w.open("ul", [.init("class", "notes")])
                for note in ex.notes { w.element("li", [], "note: " + note) }
                w.close("ul")
            }
            w.close("td")
            w.close("tr")
        }
        w.markup("</tbody></table>")
    }

    /// Pending count, final status (a badge with its class and meaning), sub-operation counts, duration.
    private func outcomeCell(_ pending: Int, _ status: UInt16?, _ counts: SubOperationCounts?, _ duration: Duration?,
                             _ ex: ExchangeComparison, into w: inout HTMLWriter) {
        w.open("td")
        if pending > 0 { w.text("\(pending) pending + ") }
        if let status {
            let s = DIMSEStatus.lookup(status, service: ex.service, sopClassUID: ex.sopClassUID)
            w.element("span", [.init("class", "badge \(s.category.rawValue)")], DICOMInspect.statusText(status) + " " + s.category.description)
            w.element("div", [.init("class", "explain")], s.meaning)
        } else {
            w.element("span", [.init("class", "badge unknown")], "no final response")
        }
        if let counts { w.element("div", [], counts.description) }
        if let duration { w.element("div", [.init("class", "explain")], Self.milliseconds(duration)) }
        w.close("td")
    }

    /// One row per difference: kind, which response, element path, recorded and replayed values.
    private func differences(_ list: [Difference], into w: inout HTMLWriter) {
        w.open("table", [.init("class", "diffs")])
        w.markup("<thead><tr><th>difference</th><th>response</th><th>element</th><th>recorded</th><th>replayed</th></tr></thead><tbody>")
        for d in list {
            w.open("tr")
            w.open("td"); w.element("code", [], d.kind.rawValue); w.close("td")
            w.element("td", [], d.response ?? "—")
            w.open("td")
            if let path = d.path, !path.steps.isEmpty {
                w.element("code", [], path.description)
                let names = path.steps.compactMap { DataDictionary.keyword(for: $0.tag) }
                if !names.isEmpty { w.element("span", [.init("class", "uid")], names.joined(separator: " › ")) }
            } else {
                w.text("—")
            }
            w.close("td")
            value(d.recorded, side: "recorded", class: "was", into: &w)
            value(d.replayed, side: "replayed", class: "now", into: &w)
            w.close("tr")
        }
        w.markup("</tbody></table>")
    }

    private func value(_ v: String?, side: String, class cls: String, into w: inout HTMLWriter) {
        w.open("td")
        w.element("span", [.init("class", "side")], side)
        if let v {
            w.element("span", [.init("class", cls)], v)
        } else {
            w.element("span", [.init("class", "explain")], "(none)")
        }
        w.close("td")
    }

    static func milliseconds(_ d: Duration) -> String {
        let v = d.milliseconds
        return v < 10 ? String(Double(Int(v * 100)) / 100) + " ms" : "\(Int(v.rounded())) ms"
    }

    static func htmlTagName(_ tag: Tag) -> String {
        "\(tag)" + (DataDictionary.keyword(for: tag).map { " " + $0 } ?? "")
    }
}
