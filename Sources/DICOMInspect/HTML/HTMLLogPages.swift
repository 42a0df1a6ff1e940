#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import Dispatch
import Synchronization

/// The HTML half of a `--log-dir` (the proxy's and replay's): one self-contained page per
/// association, `<stem>.html` beside its text log, written when the association ends (the
/// section `analyze --format html` draws, built from the small rows its `AssociationLog` kept,
/// not from the exchanges), and `index.html`, one row per association, newest first.
///
/// Bounds: the index keeps the last `maximumRows` associations (older ones are said as a count;
/// their pages stay in the folder, named by start time); an index found at start is renamed
/// `index-before-<UTC time>.html` and linked, so a restarted proxy does not lose the previous
/// run's list. Pages and the index are rendered and written on a private queue, never on the
/// caller's thread (an event loop); the index is rewritten at most every `interval`, whatever the
/// rate of associations. Each file is written to a new temporary file (0600, `PrivateFiles`) and
/// renamed over the old one, so a browser reloading it never sees half a file.
package final class HTMLLogPages: @unchecked Sendable {
    /// One association in the index (a few strings, no exchange).
    struct Row {
        var id: String
        var start: Timestamp
        var calling: String
        var called: String
        var client: String
        var server: String
        var outcome: String
        var outcomeDescription: String
        var exchanges: Int
        var findings: Int
        var worstFinding: Finding.Severity?
        var page: String?
    }

    package let directory: String
    /// The pages hold no Patient ID, Patient's Name or quoted value (`--redact-identifiers`).
    package let redactsIdentifiers: Bool
    private let tool: String
    private let maximumRows: Int
    private let interval: Double
    private let onProblem: @Sendable (String) -> Void
    private let queue = DispatchQueue(label: "dicomtap.html-pages")

    // Only on `queue`:
    private var rows: [Row] = []
    private var olderRows = 0
    private var previousIndex: String?
    private let started: Timestamp
    private var dirty = false
    private var scheduled = false
    private var lastWrite: DispatchTime?
    /// The kinds of problem said since the last file written (each said once until a write succeeds).
    private var reportedProblems: Set<String> = []
    /// Pages handed to `queue` and not yet written. Past `maximumPendingPages` (a stalled disk, a
    /// burst of short associations) a page is left out and only its index row kept, so the backlog
    /// holds rows, not sections.
    private let pendingPages = Atomic<Int>(0)
    static let maximumPendingPages = 64
    private var saidBacklog = false

    /// `tool`: `dicomtap proxy` or `dicomtap replay`, in the titles. Moves an existing
    /// `index.html` aside and writes an empty index (synchronously: the folder is ready after).
    package init(directory: String, tool: String, redactsIdentifiers: Bool = false, maximumRows: Int = 10_000,
                 interval: Duration = .seconds(2), onProblem: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.tool = tool
        self.redactsIdentifiers = redactsIdentifiers
        self.maximumRows = max(1, maximumRows)
        self.interval = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        self.onProblem = onProblem
        started = Timestamp.wallClock()
        queue.sync {
            moveOldIndexAside()
            writeIndex()
        }
    }

    /// The association's page (`fileName`, e.g. `20260101-101500-0001-MOD-PACS.html`) and its
    /// index row, written off the caller's thread; `section` is the association's last state.
    package func associationEnded(_ section: HTMLAssociationSection, id: String, fileName: String) {
        var row = Row(id: id, start: section.origin, calling: section.calling, called: section.called,
                      client: section.client, server: section.server, outcome: section.outcome,
                      outcomeDescription: section.outcomeDescription, exchanges: section.summary.exchangeCount,
                      findings: section.moreFindings, worstFinding: nil, page: nil)
        for f in section.findings where f.severity != .info {
            row.findings += 1
            row.worstFinding = max(row.worstFinding ?? f.severity, f.severity)
        }
        let pending = pendingPages.add(1, ordering: .relaxed).newValue
        let page: HTMLAssociationSection? = pending <= Self.maximumPendingPages ? section : nil
        if page == nil { pendingPages.subtract(1, ordering: .relaxed) }
        queue.async { [self, row] in
            var row = row
            if let page {
                if writePage(page, id: id, fileName: fileName) { row.page = fileName }
                pendingPages.subtract(1, ordering: .relaxed)
            } else {
                if !saidBacklog {
                    saidBacklog = true
                    onProblem("the HTML pages fall behind the associations ending (\(Self.maximumPendingPages) waiting): "
                              + "pages are left out, their index rows kept; is the disk of \(directory) slow or full?")
                }
            }
            rows.append(row)
            if rows.count > maximumRows {
                olderRows += rows.count - maximumRows
                rows.removeFirst(rows.count - maximumRows)
            }
            dirty = true
            scheduleIndex()
        }
    }

    /// Writes the index now if an association ended since it was last written, and returns when
    /// every page asked for so far is written (the proxy's shutdown, replay's end, tests).
    package func flush() {
        queue.sync { if dirty { writeIndex() } }
    }

    // MARK: On the queue

    private func scheduleIndex() {
        guard !scheduled else { return }
        let now = DispatchTime.now()
        let due = lastWrite.map { $0 + interval } ?? now
        guard due > now else {
            writeIndex()
            return
        }
        scheduled = true
        queue.asyncAfter(deadline: due) { [self] in
            scheduled = false
            if dirty { writeIndex() }
        }
    }

    private func writePage(_ section: HTMLAssociationSection, id: String, fileName: String) -> Bool {
        var w = HTMLPage.begin(title: "\(tool): association \(id) “\(section.calling)” → “\(section.called)”",
                               heading: "\(tool): association \(id)",
                               meta: "\(section.client) → \(section.server) · start \(iso8601(section.origin))")
        w.open("p")
        w.element("a", [.init("href", "index.html")], "← all associations (index.html)")
        w.close("p")
        section.write(into: &w)
        w.append(HTMLPage.end())
        return replace(fileName, with: w)
    }

    private func writeIndex() {
        dirty = false
        lastWrite = .now()
        var w = HTMLPage.begin(title: "\(tool): associations", heading: "\(tool): associations",
                               meta: "\(directory) · since \(iso8601(started)) · updated \(iso8601(Timestamp.wallClock()))",
                               style: "tr.hidden{display:none} td.ae{white-space:nowrap}")
        let shown = rows.count
        w.element("p", [.init("class", "meta")],
                  "\(shown + olderRows) association\(shown + olderRows == 1 ? "" : "s") ended since the start"
                  + (olderRows > 0 ? "; the \(shown) most recent are listed, newest first, and the \(olderRows) older "
                     + "ones are not (their pages and text logs are in this folder, named by start time)" : ", newest first")
                  + ". Associations still open are not listed until they end.")
        if let previousIndex {
            w.open("p")
            w.text("Before this start: ")
            w.element("a", [.init("href", previousIndex)], previousIndex)
            w.close("p")
        }
        w.open("div", [.init("class", "controls")])
        w.markup("<label>Filter <input id=\"filter\" type=\"search\" placeholder=\"AE title, address, outcome\"></label>")
        w.markup("<label>Outcome <select id=\"outcome\"><option value=\"\">any</option><option>released</option><option>rejected</option><option>aborted</option><option>incomplete</option></select></label>")
        w.close("div")
        if rows.isEmpty {
            w.element("p", [.init("class", "none")], "No association has ended yet.")
        } else {
            w.open("table", [.init("class", "index")])
            w.markup("<thead><tr><th>association</th><th>start (UTC)</th><th>calling → called AE</th><th>SCU → SCP</th><th>outcome</th><th>exchanges</th><th>findings</th></tr></thead><tbody>")
            for r in rows.reversed() { indexRow(r, into: &w) }
            w.markup("</tbody></table>")
        }
        w.markup("<script>")
        w.markup(HTMLStyle.script)
        w.markup("</script>")
        w.append(HTMLPage.end())
        _ = replace("index.html", with: w)
    }

    private func indexRow(_ r: Row, into w: inout HTMLWriter) {
        let filter = [r.id, r.calling, r.called, r.client, r.server, r.outcome].joined(separator: " ").lowercased()
        w.open("tr", [.init("data-filter", filter), .init("data-outcome", r.outcome)])
        w.open("td")
        if let page = r.page { w.element("a", [.init("href", page)], r.id) } else { w.text(r.id + " (no page)") }
        w.close("td")
        w.element("td", [.init("class", "ae")], iso8601(r.start))
        w.element("td", [.init("class", "ae")], "“\(r.calling)” → “\(r.called)”")
        w.element("td", [], "\(r.client) → \(r.server)")
        w.open("td")
        w.element("span", [.init("class", "badge \(r.outcome)")], r.outcome)
        w.text(" " + r.outcomeDescription)
        w.close("td")
        w.element("td", [.init("class", "num")], String(r.exchanges))
        w.open("td", [.init("class", "num")])
        if let worst = r.worstFinding {
            w.element("span", [.init("class", "badge \(worst.rawValue)")], "\(r.findings) (worst: \(worst.rawValue))")
        } else {
            w.text(r.findings)
        }
        w.close("td")
        w.close("tr")
    }

    /// An `index.html` of an earlier run becomes `index-before-<UTC time>.html` (only a regular
    /// file of this user; anything else is left where it is and replaced by the rename).
    private func moveOldIndexAside() {
        let path = directory + "/index.html"
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else { return }
        let stamp = associationFileStem(start: started, id: "", calling: nil, called: nil).prefix(15)
        var name = "index-before-\(stamp).html"
        var n = 1
        while lstat(directory + "/" + name, &info) == 0, n < PrivateFiles.maximumNameAttempts {
            n += 1
            name = "index-before-\(stamp)-\(n).html"
        }
        if rename(path, directory + "/" + name) == 0 {
            previousIndex = name
        } else {
            problem("move-aside", "cannot move the previous index.html aside: \(systemErrorWords(errno)); it is replaced")
        }
    }

    /// Writes `w` to a new temporary file in the folder and renames it to `name` (atomic: a reader
    /// sees the old file or the new one). False, and said once, when it cannot.
    private func replace(_ name: String, with w: HTMLWriter) -> Bool {
        let temporary: (descriptor: CInt, path: String)
        do {
            temporary = try PrivateFiles.createUnique(in: directory, stem: "." + name, suffix: "tmp")
        } catch {
            problem("create", "the HTML report is not written: \(error)")
            return false
        }
        let failure = w.buffer.bytes.withUnsafeBytes { writeFully(temporary.descriptor, $0) }
        _ = close(temporary.descriptor)
        if let failure {
            _ = unlink(temporary.path)
            problem("write", "the HTML report is not written: writing \(temporary.path) failed: \(systemErrorWords(failure))")
            return false
        }
        guard rename(temporary.path, directory + "/" + name) == 0 else {
            let failure = errno
            _ = unlink(temporary.path)
            problem("rename", "the HTML report is not written: cannot rename \(temporary.path) to \(name): \(systemErrorWords(failure))")
            return false
        }
        reportedProblems.removeAll()
        return true
    }

    /// Says a problem of one `kind` once until a file is written again (a full disk would otherwise
    /// say it per association).
    private func problem(_ kind: String, _ text: String) {
        guard reportedProblems.insert(kind).inserted else { return }
        onProblem(text)
    }
}
