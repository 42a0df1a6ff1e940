import DICOMCore
import DIMSE

/// One association as the report's first page shows it (kept for every association: a few
/// strings and numbers, never its exchanges).
public struct HTMLAssociationEntry: Sendable {
    public var index: Int
    public var calling: String
    public var called: String
    public var client: String
    public var server: String
    public var start: Timestamp
    public var end: Timestamp
    public var outcome: String
    public var outcomeDescription: String
    public var exchanges: Int
    public var filterText: String
    /// Findings by code, with their severity.
    public var findings: [String: (severity: Finding.Severity, count: Int)]
}

extension HTMLAssociationSection {
    public var entry: HTMLAssociationEntry {
        var byCode: [String: (severity: Finding.Severity, count: Int)] = [:]
        for f in findings {
            let old = byCode[f.code.rawValue]
            byCode[f.code.rawValue] = (max(old?.severity ?? .info, f.severity), (old?.count ?? 0) + 1)
        }
        return HTMLAssociationEntry(index: index, calling: calling, called: called, client: client, server: server,
                                    start: origin, end: max(end, origin), outcome: outcome,
                                    outcomeDescription: info.outcome.description, exchanges: summary.exchangeCount,
                                    filterText: filterText, findings: byCode)
    }
}

/// The page around the association sections: `begin` (head, style, title), the sections as they
/// come, `overview` (written last, shown first: the timeline of associations, response times per
/// service, findings by kind, retrievals across associations), `end` (the filter script).
/// Writing the first page last keeps the report streaming: the sections are not held until the
/// capture ends; the style sheet puts the first page on top.
public enum HTMLReport {
    public static func begin(inputs: [String]) -> HTMLWriter {
        HTMLPage.begin(title: "DICOMTap analysis: " + inputs.joined(separator: ", "), heading: "DICOMTap analysis",
                       meta: inputs.joined(separator: ", "))
    }

    public static func overview(entries: [HTMLAssociationEntry], statistics: AnalysisStatistics, links: [RetrievalLink],
                                warnings: [String]) -> HTMLWriter {
        var w = HTMLWriter()
        w.open("section", [.init("id", "overview")])
        let outcomes = statistics.associationsByOutcome.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        let exchanges = entries.reduce(0) { $0 + $1.exchanges }
        w.element("p", [.init("class", "meta")], "\(entries.count) association\(entries.count == 1 ? "" : "s")"
                  + (outcomes.isEmpty ? "" : " (" + outcomes.joined(separator: ", ") + ")")
                  + " · \(exchanges) exchange\(exchanges == 1 ? "" : "s")")
        if !warnings.isEmpty {
            w.open("ul", [.init("class", "warnings")])
            for warning in warnings { w.element("li", [], "warning: " + warning) }
            w.close("ul")
        }
        w.open("div", [.init("class", "controls")])
        w.markup("<label>Filter <input id=\"filter\" type=\"search\" placeholder=\"AE title, address, patient, service\"></label>")
        w.markup("<label>Outcome <select id=\"outcome\"><option value=\"\">any</option><option>released</option><option>rejected</option><option>aborted</option><option>incomplete</option></select></label>")
        w.close("div")
        w.element("h2", [], "Associations")
        timeline(entries, into: &w)
        w.element("h2", [], "Service response times (request to final response)")
        histograms(statistics, into: &w)
        if !links.isEmpty {
            w.element("h2", [], "Retrievals across associations (C-MOVE, C-GET)")
            retrievals(links, into: &w)
        }
        w.element("h2", [], "Findings by kind")
        findingsByKind(entries, into: &w)
        w.close("section")
        return w
    }

    public static func end() -> HTMLWriter {
        var w = HTMLWriter()
        w.markup("<script>")
        w.markup(HTMLStyle.script)
        w.markup("</script></div></body></html>\n")
        return w
    }

    /// One bar per association over the capture's time, coloured by outcome, with its words.
    static let maximumBars = 2000

    static func timeline(_ entries: [HTMLAssociationEntry], into w: inout HTMLWriter) {
        guard let first = entries.map(\.start).min(), let last = entries.map(\.end).max() else {
            w.element("p", [.init("class", "none")], "No association.")
            return
        }
        let shown = entries.prefix(maximumBars)
        let span = max((last - first).milliseconds / 1000, 0.001)
        let width = 1240.0, left = 300.0, right = 1000.0, row = 24.0
        let height = 30 + row * Double(shown.count)
        w.open("svg", [.init("class", "timeline"), .init("xmlns", "http://www.w3.org/2000/svg"), .init("width", width),
                       .init("height", height), .init("viewBox", "0 0 \(Int(width)) \(Int(height))"), .init("role", "img"),
                       .init("aria-label", "Timeline of the associations")])
        w.open("g", [.init("class", "axis")])
        for i in 0...4 {
            let x = left + (right - left) * Double(i) / 4
            w.empty("line", [.init("x1", x), .init("y1", 18), .init("x2", x), .init("y2", height)])
            w.element("text", [.init("x", x), .init("y", 12), .init("text-anchor", "middle")],
                      "+" + HTMLLadder.seconds(span * Double(i) / 4) + " s")
        }
        w.close("g")
        for (n, e) in shown.enumerated() {
            let y = 24 + row * Double(n)
            let x0 = left + (right - left) * (e.start - first).milliseconds / 1000 / span
            let x1 = left + (right - left) * (e.end - first).milliseconds / 1000 / span
            w.open("g", [.init("class", "bar \(e.outcome)"), .init("data-filter", e.filterText), .init("data-outcome", e.outcome)])
            w.open("a", [.init("href", "#a\(e.index)")])
            w.element("title", [], "Association \(e.index): \(e.client) → \(e.server), \(e.outcomeDescription)")
            w.element("text", [.init("x", left - 8), .init("y", y + 13), .init("text-anchor", "end")],
                      "#\(e.index) \(e.calling) → \(e.called)")
            w.empty("rect", [.init("x", x0), .init("y", y + 2), .init("width", max(x1 - x0, 4)), .init("height", row - 8), .init("rx", 3)])
            w.element("text", [.init("x", max(x1, x0 + 4) + 6), .init("y", y + 13)],
                      "\(e.outcome) · \(e.exchanges) exchange\(e.exchanges == 1 ? "" : "s")")
            w.close("a")
            w.close("g")
        }
        w.close("svg")
        if entries.count > shown.count {
            w.element("p", [.init("class", "none")], "\(entries.count - shown.count) more associations are not drawn; they are listed below.")
        }
    }

    /// Upper bounds of the histogram's bins, in milliseconds (the last bin is open).
    static let bins: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, .infinity]
    static let binLabels = ["<1", "1–2", "2–5", "5–10", "10–20", "20–50", "50–100", "100–200", "200–500",
                            "0.5–1 s", "1–2 s", "2–5 s", "≥5 s"]

    static func histograms(_ statistics: AnalysisStatistics, into w: inout HTMLWriter) {
        let services = statistics.responseTimesMs.sorted { $0.key < $1.key }
        guard !services.isEmpty else {
            w.element("p", [.init("class", "none")], "No exchange with a final response.")
            return
        }
        w.open("div", [.init("class", "charts")])
        for (service, times) in services {
            var counts = [Int](repeating: 0, count: bins.count)
            for t in times { counts[bins.firstIndex { t < $0 } ?? bins.count - 1] += 1 }
            guard let lo = counts.firstIndex(where: { $0 > 0 }), let hi = counts.lastIndex(where: { $0 > 0 }) else { continue }
            let shown = Array(lo...hi)
            let sorted = times.sorted()
            let top = Double(counts.max() ?? 1)
            let barWidth = 44.0, chartHeight = 90.0
            let width = max(260, 20 + barWidth * Double(shown.count)), height = chartHeight + 44
            w.open("div", [.init("class", "chart")])
            w.element("strong", [], service)
            w.element("div", [.init("class", "sub-title")],
                      "\(sorted.count) exchanges · min \(formatMilliseconds(sorted.first ?? 0)) · median "
                      + "\(formatMilliseconds(AnalysisStatistics.percentile(sorted, 50))) · p95 "
                      + "\(formatMilliseconds(AnalysisStatistics.percentile(sorted, 95))) · max \(formatMilliseconds(sorted.last ?? 0)) ms")
            w.open("svg", [.init("class", "histogram"), .init("xmlns", "http://www.w3.org/2000/svg"), .init("width", width),
                           .init("height", height), .init("role", "img"),
                           .init("aria-label", "\(service) response time histogram")])
            for (i, bin) in shown.enumerated() {
                let x = 10 + barWidth * Double(i)
                let h = counts[bin] == 0 ? 0 : max(2, chartHeight * Double(counts[bin]) / top)
                w.empty("rect", [.init("class", "hbar"), .init("x", x + 4), .init("y", 16 + chartHeight - h),
                                 .init("width", barWidth - 8), .init("height", h)])
                w.element("text", [.init("class", "hcount"), .init("x", x + barWidth / 2), .init("y", 12 + chartHeight - h),
                                   .init("text-anchor", "middle")], String(counts[bin]))
                w.element("text", [.init("class", "hlabel"), .init("x", x + barWidth / 2), .init("y", chartHeight + 30),
                                   .init("text-anchor", "middle")], binLabels[bin])
            }
            w.element("text", [.init("class", "hlabel"), .init("x", 10), .init("y", chartHeight + 42)], "milliseconds")
            w.close("svg")
            w.close("div")
        }
        w.close("div")
    }

    static func retrievals(_ links: [RetrievalLink], into w: inout HTMLWriter) {
        w.open("table", [.init("class", "retrievals")])
        w.markup("<thead><tr><th>request</th><th>from → to</th><th>destination</th><th>status</th><th>sub-operations</th><th>carried on</th></tr></thead><tbody>")
        for l in links {
            let rq = l.request
            w.open("tr", [.init("class", l.isLinked ? "linked" : "unlinked")])
            w.open("td")
            w.element("a", [.init("href", "#a\(rq.association)-x\(rq.exchange)")],
                      "association \(rq.association), \(rq.service.rawValue) msg \(rq.messageID)")
            w.close("td")
            w.element("td", [], "“\(rq.originator)” → “\(rq.scp)”")
            w.element("td", [], rq.destination ?? "—")
            w.open("td")
            if let s = rq.finalStatus {
                w.element("span", [.init("class", "badge \(HTMLAssociationSummary.ArrowKind(s.category).rawValue)")],
                          "\(s.category) \(statusText(s.code))")
                w.text(" " + s.meaning)
            } else {
                w.element("span", [.init("class", "badge unknown")], "no final response")
            }
            w.close("td")
            w.element("td", [], rq.subOperations?.description ?? "—")
            w.open("td")
            for c in l.carriers {
                w.open("div")
                w.element("a", [.init("href", "#a\(c.association)")], "association \(c.association)")
                w.text(": \(c.stores) C-STORE\(c.stores == 1 ? "" : "s")" + (c.failed > 0 ? ", \(c.failed) failed" : "")
                       + " (\(c.evidence.rawValue))")
                w.close("div")
            }
            w.element("div", [.init("class", l.isLinked ? "explain" : "comment")], l.verdict)
            w.close("td")
            w.close("tr")
        }
        w.markup("</tbody></table>")
    }

    static func findingsByKind(_ entries: [HTMLAssociationEntry], into w: inout HTMLWriter) {
        var byCode: [String: (severity: Finding.Severity, count: Int, associations: [Int])] = [:]
        for e in entries {
            for (code, f) in e.findings {
                let old = byCode[code]
                var list = old?.associations ?? []
                if list.count < 10 { list.append(e.index) }
                byCode[code] = (max(old?.severity ?? .info, f.severity), (old?.count ?? 0) + f.count, list)
            }
        }
        guard !byCode.isEmpty else {
            w.element("p", [.init("class", "none")], "No finding.")
            return
        }
        w.open("table", [.init("class", "kinds")])
        w.markup("<thead><tr><th>finding</th><th>severity</th><th>count</th><th>associations</th><th>what it means</th></tr></thead><tbody>")
        for (code, f) in byCode.sorted(by: { ($0.value.severity, $0.value.count) > ($1.value.severity, $1.value.count) }) {
            w.open("tr")
            w.open("td"); w.element("code", [], code); w.close("td")
            w.open("td"); w.element("span", [.init("class", "badge \(f.severity.rawValue)")], f.severity.rawValue); w.close("td")
            w.element("td", [.init("class", "num")], String(f.count))
            w.open("td")
            for (i, n) in f.associations.enumerated() {
                if i > 0 { w.markup(", ") }
                w.element("a", [.init("href", "#a\(n)")], "#\(n)")
            }
            w.close("td")
            w.element("td", [.init("class", "explain")], HTMLExplanations.text(for: Finding.Code(rawValue: code)) ?? "")
            w.close("tr")
        }
        w.markup("</tbody></table>")
    }
}
