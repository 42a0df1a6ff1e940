import DICOMCore
import DICOMUL
import DIMSE

/// One association's part of the HTML report: a heading with its outcome in words, the ladder,
/// and beside it the negotiation, the exchanges and the findings with their explanations.
public struct HTMLAssociationSection: Sendable {
    public var index: Int
    public var input: String?
    public var client: String
    public var server: String
    public var info: AssociationInfo
    public var findings: [Finding]
    public var origin: Timestamp
    public var end: Timestamp
    public var summary: HTMLAssociationSummary
    /// Findings not in `findings` (the proxy keeps the first ones of a long association), said as a count.
    public var moreFindings = 0
    /// How the tool itself ended the association, in words (`rejected by the proxy (no-route)`), when it
    /// did: the observer sees only what the peers sent, not the proxy's own A-ASSOCIATE-RJ or A-ABORT.
    public var toolOutcome: String?

    public init(index: Int, input: String?, client: String, server: String, info: AssociationInfo, findings: [Finding],
                origin: Timestamp, end: Timestamp, summary: HTMLAssociationSummary) {
        self.index = index
        self.input = input
        self.client = client
        self.server = server
        self.info = info
        self.findings = findings
        self.origin = origin
        self.end = end
        self.summary = summary
    }

    var calling: String { info.callingAETitle ?? "(unknown)" }
    var called: String { info.calledAETitle ?? "(unknown)" }
    /// released, rejected, aborted or incomplete (the badge and the filter's value).
    var outcome: String {
        if let toolOutcome {
            if toolOutcome.hasPrefix("rejected") { return "rejected" }
            if toolOutcome.hasPrefix("aborted") { return "aborted" }
        }
        return outcomeName(info.outcome)
    }
    var outcomeDescription: String { toolOutcome ?? info.outcome.description }

    /// What the inline filter matches: AE titles, addresses, services, patients, outcome (lower case).
    var filterText: String {
        ([calling, called, client, server, outcome] + summary.services + summary.patients).joined(separator: " ").lowercased()
    }

    public func write(into w: inout HTMLWriter) {
        w.open("section", [.init("class", "assoc"), .init("id", "a\(index)"), .init("data-filter", filterText),
                           .init("data-outcome", outcome)])
        w.open("h2")
        w.text("Association \(index) ")
        w.element("span", [.init("class", "badge \(outcome)")], outcome)
        w.text(" “\(calling)” → “\(called)”")
        w.close("h2")
        w.open("p", [.init("class", "meta")])
        w.text("\(client) → \(server) · \(outcomeDescription) · start \(iso8601(origin)) · "
               + "\(summary.exchangeCount) exchange\(summary.exchangeCount == 1 ? "" : "s") · "
               + "\(findings.filter { $0.severity != .info }.count + moreFindings) findings" + (input.map { " · \($0)" } ?? ""))
        w.close("p")
        w.open("div", [.init("class", "cols")])
        w.open("div", [.init("class", "ladder-box")])
        HTMLLadder(summary: summary, origin: origin, calling: calling, called: called, client: client, server: server)
            .write(into: &w)
        w.close("div")
        w.open("div", [.init("class", "tables")])
        negotiation(into: &w)
        exchanges(into: &w)
        findingsList(into: &w)
        w.close("div")
        w.close("div")
        w.close("section")
    }

    func uid(_ uid: String, into w: inout HTMLWriter) {
        if let name = UIDRegistry.name(for: uid) {
            w.text(name)
            w.element("span", [.init("class", "uid")], uid)
        } else {
            w.element("span", [.init("class", "uid")], uid.isEmpty ? "(none)" : uid)
        }
    }

    func negotiation(into w: inout HTMLWriter) {
        w.element("h3", [], "Negotiation")
        w.open("table", [.init("class", "nego")])
        w.markup("<thead><tr><th>ctx</th><th>abstract syntax</th><th>proposed transfer syntaxes</th><th>result</th><th>roles</th></tr></thead><tbody>")
        for ctx in info.contexts.values.sorted(by: { $0.id < $1.id }) {
            let accepted = ctx.isAccepted
            w.open("tr", [.init("class", accepted ? "ok" : (ctx.result == nil ? "" : "rejected"))])
            w.element("td", [], String(ctx.id))
            w.open("td"); uid(ctx.abstractSyntax, into: &w); w.close("td")
            w.open("td")
            // Names only (the UID on hover): four transfer syntaxes with their UIDs would make the row tall.
            for (i, ts) in ctx.proposedTransferSyntaxes.enumerated() {
                if i > 0 { w.markup(", ") }
                w.element("span", [.init("class", "ts"), .init("title", ts)], UIDRegistry.name(for: ts) ?? ts)
            }
            w.close("td")
            w.open("td")
            if accepted {
                w.element("span", [.init("class", "badge success")], "accepted")
                w.markup(" ")
                uid(ctx.transferSyntax ?? "?", into: &w)
            } else if let result = ctx.result {
                w.element("span", [.init("class", "badge failure")], "rejected")
                w.text(" \(result)")
            } else if ctx.isInferred {
                w.text("inferred from the data: ")
                uid(ctx.transferSyntax ?? "?", into: &w)
            } else {
                w.text("no answer seen")
            }
            w.close("td")
            w.element("td", [], roles(ctx.abstractSyntax))
            w.close("tr")
        }
        w.markup("</tbody></table>")
        w.open("table", [.init("class", "kv")])
        w.markup("<thead><tr><th></th><th>SCU (requestor)</th><th>SCP (acceptor)</th></tr></thead><tbody>")
        row("AE title", calling, called, into: &w)
        row("max PDU length", maxLength(.requestor), maxLength(.acceptor), into: &w)
        row("implementation class UID", info.implementationClassUID[.requestor] ?? "—",
            info.implementationClassUID[.acceptor] ?? "—", into: &w)
        row("implementation version", info.implementationVersionName[.requestor] ?? "—",
            info.implementationVersionName[.acceptor] ?? "—", into: &w)
        if let identity = info.userIdentityType { row("user identity", "\(identity)", "", into: &w) }
        w.markup("</tbody></table>")
        if case .rejected(let rj) = info.outcome {
            w.element("p", [.init("class", "why failure")], "Rejected: \(rj.reasonDescription) (result \(rj.result), source \(rj.source))")
        }
        if case .aborted(let a, let by) = info.outcome {
            w.element("p", [.init("class", "why failure")], "Aborted by the \(by): \(a)")
        }
    }

    func row(_ name: String, _ a: String, _ b: String, into w: inout HTMLWriter) {
        w.open("tr")
        w.element("th", [], name)
        w.element("td", [], a)
        w.element("td", [], b)
        w.close("tr")
    }

    func maxLength(_ role: PeerRole) -> String {
        guard let n = info.maximumLength[role] else { return "—" }
        return n == 0 ? "unlimited" : "\(n) bytes"
    }

    func roles(_ sop: String) -> String {
        func text(_ item: RoleSelectionSubItem?) -> String? {
            item.map { "\($0.scuRole == 1 ? "SCU" : "-")/\($0.scpRole == 1 ? "SCP" : "-")" }
        }
        let proposed = text(info.roleSelection[.requestor]?[sop])
        let answered = text(info.roleSelection[.acceptor]?[sop])
        if proposed == nil && answered == nil { return "default" }
        return "proposed \(proposed ?? "none"), answered \(answered ?? "none")"
    }

    func exchanges(into w: inout HTMLWriter) {
        w.element("h3", [], "Exchanges")
        guard !summary.rows.isEmpty else {
            w.element("p", [.init("class", "none")], "No DIMSE exchange.")
            return
        }
        w.open("table", [.init("class", "exchanges")])
        w.markup("<thead><tr><th>msg</th><th>service</th><th>patient</th><th>status</th><th>result</th><th>latency</th></tr></thead><tbody>")
        for row in summary.rows {
            switch row {
            case .exchange(let r): exchangeRow(r, into: &w)
            case .band(let b): bandRow(b, into: &w)
            }
        }
        w.markup("</tbody></table>")
    }

    func status(_ s: DIMSEStatus?, into w: inout HTMLWriter) {
        guard let s else {
            w.element("span", [.init("class", "badge unknown")], "no final response")
            return
        }
        w.element("span", [.init("class", "badge \(HTMLAssociationSummary.ArrowKind(s.category).rawValue)")],
                  "\(s.category) \(statusText(s.code))")
        w.text(" " + s.meaning)
    }

    func exchangeRow(_ r: HTMLAssociationSummary.ExchangeRow, into w: inout HTMLWriter) {
        w.open("tr", [.init("id", "a\(index)-x\(r.index)"), .init("class", "ex")])
        w.element("td", [], String(r.messageID))
        w.open("td")
        w.text(r.service)
        if r.sender == .acceptor { w.element("span", [.init("class", "dir")], " from the SCP") }
        if let sop = r.sopClass { w.element("div", [.init("class", "sop")], sop) }
        w.close("td")
        w.open("td", [.init("class", "patient")])
        w.text(r.patient ?? "—")
        if let name = r.patientName { w.element("div", [.init("class", "sop")], name) }
        w.close("td")
        w.open("td")
        status(r.finalStatus, into: &w)
        if let comment = r.errorComment { w.element("div", [.init("class", "comment")], "Error Comment: “\(comment)”") }
        w.close("td")
        w.open("td")
        var parts: [String] = []
        if let m = r.matches { parts.append("\(m) match\(m == 1 ? "" : "es")") }
        if let d = r.moveDestination { parts.append("to \(d)") }
        if let c = r.subOperations { parts.append(c.description) }
        if let o = r.moveOriginator { parts.append("sub-operation of \(o.ae)'s C-MOVE msg \(o.messageID)") }
        if r.cancelled { parts.append("cancelled") }
        w.text(parts.joined(separator: "; "))
        w.close("td")
        w.element("td", [.init("class", "num")], r.latency.map { formatMilliseconds($0.milliseconds) + " ms" } ?? "—")
        w.close("tr")
    }

    func bandRow(_ b: HTMLAssociationSummary.Band, into w: inout HTMLWriter) {
        w.open("tr", [.init("class", "bandrow")])
        w.element("td", [], "\(b.firstMessageID)–\(b.lastMessageID)")
        w.element("td", [], b.isMixed ? "\(b.count) × various" : "\(b.count) × \(b.service)")
        w.element("td", [.init("class", "patient")],
                  b.patients.isEmpty ? "—" : b.patients.joined(separator: ", ") + (b.morePatients ? ", …" : ""))
        w.open("td")
        if b.isMixed { w.text("see the ladder") } else { status(b.finalStatus, into: &w) }
        w.close("td")
        w.element("td", [], "\(b.messages) messages" + (b.matches > 0 ? "; \(b.matches) matches" : ""))
        let l = b.latencies
        w.element("td", [.init("class", "num")], l.count == 0 ? "—"
                  : "\(formatMilliseconds(l.minimum))–\(formatMilliseconds(l.maximum)) ms (mean \(formatMilliseconds(l.mean)))")
        w.close("tr")
    }

    func findingsList(into w: inout HTMLWriter) {
        w.element("h3", [], "Findings")
        guard !findings.isEmpty else {
            w.element("p", [.init("class", "none")], "No finding.")
            return
        }
        defer {
            if moreFindings > 0 {
                w.element("p", [.init("class", "none")],
                          "\(moreFindings) more finding\(moreFindings == 1 ? " is" : "s are") not listed here (they are in the text log and events.jsonl).")
            }
        }
        w.open("ul", [.init("class", "findings")])
        for f in findings {
            w.open("li", [.init("class", f.severity.rawValue)])
            w.element("span", [.init("class", "badge \(f.severity.rawValue)")], f.severity.rawValue)
            w.markup(" ")
            w.element("code", [], f.code.rawValue)
            w.text(": " + f.message)
            if let t = f.time { w.text(" (at +\(HTMLLadder.seconds(t.seconds(since: origin))) s" + (f.packet.map { ", packet \($0)" } ?? "") + ")") }
            if let why = HTMLExplanations.text(for: f.code) { w.element("div", [.init("class", "explain")], why) }
            w.close("li")
        }
        w.close("ul")
    }
}
