import DICOMCore
import DICOMUL
import NIOCore

/// One association's `--log-dir` outputs, as the proxy and replay write them: its
/// `AssociationObserver`, its annotated text file `<fileStem>.txt` (a header line, the
/// `AnnotatedDumpRenderer` lines, an END line) and its objects in the shared `events.jsonl`
/// (`AssociationEventFormat`). The caller feeds it what went over the wire, writes the events
/// it gets back (it may write lines of its own in between), names the text file once the AE
/// titles are known, and ends it. Files are made through `PrivateFiles` (0600, never through a
/// symbolic link). With `pages`, it also keeps the small rows of the association's HTML page
/// (`HTMLAssociationSummary`: no data set, runs of alike exchanges as bands, a bounded number of
/// rows and findings) and hands them to `HTMLLogPages` at the end. Not thread-safe: the proxy
/// keeps one per association on its event loop, replay behind its session's lock.
package final class AssociationLog {
    package let id: String
    /// When the association began; the times in the text file are relative to it.
    package let start: Timestamp
    /// Who connected (`127.0.0.1:50000`), and to where once known (nil: no upstream).
    package let client: String
    package var server: String?
    package private(set) var observer: AssociationObserver
    package let format: AssociationEventFormat
    private let renderer: AnnotatedDumpRenderer
    /// Where the text file goes (nil: no text file).
    private let directory: String?
    private let events: AppendOnlyFile?
    /// The tool's own field of `association-end` (`proxyAction`, `replayAction`).
    private let actionField: String
    /// Told, in words, when the text file cannot be made or written.
    private let onProblem: @Sendable (String) -> Void
    private var textFile: AppendOnlyFile?
    /// Lines written before the text file is named.
    private var pendingLines: [String] = []
    /// The text file has its name (or will have none).
    package private(set) var isNamed = false
    /// Where the HTML page goes at the end (nil: no page), and what it keeps until then.
    private let pages: HTMLLogPages?
    private var page: HTMLAssociationSummary?
    private var pageFindings: [Finding] = []
    private var moreFindings = 0
    /// The text file's name without its extension (the page is named after it).
    private var textStem: String?
    /// Findings listed on the page; further ones are counted.
    package static let maximumPageFindings = 200

    package init(id: String, start: Timestamp, client: String, server: String? = nil,
                 observer configuration: AssociationObserver.Configuration,
                 text options: AnnotatedDumpRenderer.Options = AnnotatedDumpRenderer.Options(),
                 directory: String?, events: AppendOnlyFile?, actionField: String, pages: HTMLLogPages? = nil,
                 onProblem: @escaping @Sendable (String) -> Void = { _ in }) {
        self.id = id
        self.start = start
        self.client = client
        self.server = server
        observer = AssociationObserver(configuration: configuration)
        format = AssociationEventFormat(associationID: id)
        renderer = AnnotatedDumpRenderer(options: options, origin: start)
        self.directory = directory
        self.events = events
        self.actionField = actionField
        self.onProblem = onProblem
        self.pages = pages
        if let pages {
            var summary = HTMLAssociationSummary()
            summary.redactsIdentifiers = pages.redactsIdentifiers
            page = summary
        }
    }

    package var info: AssociationInfo { observer.info }

    // MARK: Observing (the events are written with `write(_:)`)

    /// A decoded PDU as it went over the wire.
    package func receive(_ pdu: PDU, frame: PDUFrame, from role: PeerRole, at time: Timestamp) -> [ObservationEvent] {
        observer.receive(pdu, frame: frame, from: role, at: time)
    }

    /// A PDU sent without a contiguous frame (the rewriting proxy's own).
    package func receive(_ pdu: PDU, bodyLength: Int, streamOffset: Int, from role: PeerRole,
                         at time: Timestamp) -> [ObservationEvent] {
        observer.receive(pdu, bodyLength: bodyLength, streamOffset: streamOffset, from: role, at: time)
    }

    /// A framed PDU that does not decode.
    package func receive(frame: PDUFrame, from role: PeerRole, at time: Timestamp) -> [ObservationEvent] {
        observer.receive(frame: frame, from: role, at: time)
    }

    /// Bytes that are not a whole PDU (a stream cut inside one).
    package func receive(_ bytes: ByteBuffer, from role: PeerRole, at time: Timestamp) -> [ObservationEvent] {
        observer.receive(bytes, from: role, at: time)
    }

    package func connectionClosed(at time: Timestamp) -> [ObservationEvent] {
        observer.connectionClosed(at: time)
    }

    // MARK: Writing

    /// The observer's events, to the text file and `events.jsonl`.
    /// Each is rendered only for a file that is kept: without `--log-dir` the relay renders nothing (the text and
    /// JSON of every data set were a quarter of the proxy's time per C-FIND).
    package func write(_ observed: [ObservationEvent]) {
        for event in observed {
            if directory != nil { writeText(renderer.render(event, info: observer.info)) }
            if events != nil, let json = format.event(event, observer: observer) { writeEvent(json) }
            if page != nil {
                page?.observe(event)
                if case .finding(let f) = event { keepForPage(f) }
            }
        }
    }

    private func keepForPage(_ finding: Finding) {
        guard let pages else { return }
        guard pageFindings.count < Self.maximumPageFindings else {
            // Counted as the page counts the listed ones: info findings are not.
            if finding.severity != .info { moreFindings += 1 }
            return
        }
        var f = finding
        if pages.redactsIdentifiers { f.message = redactingQuotedValues(f.message) }
        pageFindings.append(f)
    }

    /// A finding of the tool's own, with the bytes it is about (as far as they may be shown).
    package func write(_ finding: Finding, rawBytes: ByteBuffer? = nil) {
        if directory != nil {
            var lines = renderer.render(.finding(finding), info: observer.info)
            if let rawBytes { lines += hexDump(rawBytes).map { "    " + $0 } }
            writeText(lines)
        }
        if events != nil { writeEvent(format.finding(finding, rawBytes: rawBytes)) }
        if page != nil {
            page?.observe(.finding(finding))
            keepForPage(finding)
        }
    }

    /// Lines of the text file (kept until it is named).
    package func writeText(_ lines: [String]) {
        guard directory != nil, !lines.isEmpty else { return }
        if let textFile {
            textFile.write(lines.map { $0 + "\n" }.joined())
        } else if !isNamed {
            pendingLines += lines
        }
    }

    /// `[0.001234] line`: a line of the tool's own at `time`.
    package func writeLine(_ line: String, at time: Timestamp) {
        writeText(["[\(relativeSeconds(time))] \(line)"])
    }

    package func writeEvent(_ json: JSONValue) {
        events?.write(json.serialized() + "\n")
    }

    /// `association-start` in `events.jsonl` (at the A-ASSOCIATE-RQ's time when there was one).
    package func writeStart() {
        writeEvent(format.start(time: observer.info.requestTime ?? start, client: client, server: server ?? "",
                                info: observer.info))
    }

    // MARK: The text file

    /// `<UTC start yyyyMMdd-HHmmss>-<id>-<calling>-<called>`: the name (without extension) of the
    /// association's text file, and of the proxy's recording of it.
    package var fileStem: String {
        associationFileStem(start: start, id: id, calling: observer.info.callingAETitle, called: observer.info.calledAETitle)
    }

    /// Creates the text file (once; when the AE titles are known, or at the end) with its
    /// header and the lines written so far.
    package func nameTextFile() {
        guard !isNamed else { return }
        isNamed = true
        guard let directory else { return }
        do {
            let onProblem = self.onProblem
            let file = try AppendOnlyFile(newFileIn: directory, stem: fileStem, suffix: "txt") { problem in
                onProblem("the association's text log is incomplete: \(problem)")
            }
            let info = observer.info
            let header = "=== Association \(id): \(client) -> \(server ?? "(no upstream)")"
                + (info.callingAETitle.map { "  \"\($0)\"" } ?? "") + (info.calledAETitle.map { " -> \"\($0)\"" } ?? "")
                + "  start \(iso8601(start))\n"
            file.write(header + pendingLines.map { $0 + "\n" }.joined())
            textFile = file
            let name = file.path.split(separator: "/").last.map(String.init) ?? ""
            textStem = name.hasSuffix(".txt") ? String(name.dropLast(4)) : nil
        } catch {
            onProblem("this association has no text log: \(error)")
        }
        pendingLines = []
    }

    /// Ends the log: names the text file if it has no name yet, writes the END line (returned,
    /// for a console) and `association-end`, and closes the text file. `outcome` is the tool's
    /// own word for how it ended, else the observer's; `reason`, why the tool ended it.
    /// `withFiles` false: a connection that never sent an A-ASSOCIATE-RQ (a port scan, a TCP health
    /// check, ARTIM): only `association-end` in `events.jsonl`, no text file or HTML page for it.
    @discardableResult
    package func end(at time: Timestamp, outcome: String? = nil, reason: String?, withFiles: Bool = true) -> String {
        if !withFiles {
            isNamed = true
            pendingLines = []
            page = nil
        }
        nameTextFile()
        let exchanges = observer.exchangeCount
        let line = "END  \(outcome ?? observer.info.outcome.description)  \(Self.milliseconds(time - start)) ms  "
            + "\(exchanges) exchange\(exchanges == 1 ? "" : "s")"
        writeLine(line, at: time)
        writeEvent(format.end(time: time, start: start, client: client, server: server, observer: observer,
                              reason: reason, actionField: actionField))
        textFile = nil
        writePage(at: time, outcome: outcome)
        return line
    }

    /// Hands the page's rows to `pages` (written off this thread) and drops them.
    private func writePage(at time: Timestamp, outcome: String?) {
        guard let pages, let summary = page else { return }
        var section = HTMLAssociationSection(
            index: Int(id.drop { !$0.isNumber }) ?? 0, input: nil, client: client, server: server ?? "(no upstream)",
            info: observer.info, findings: pageFindings, origin: start, end: max(time, start), summary: summary)
        section.moreFindings = moreFindings
        section.toolOutcome = outcome
        page = nil
        pageFindings = []
        pages.associationEnded(section, id: id, fileName: (textStem ?? fileStem) + ".html")
    }

    /// Seconds since the start, truncated (not rounded) to the microsecond.
    package func relativeSeconds(_ time: Timestamp) -> String {
        secondsText(microseconds: (time.nanoseconds - start.nanoseconds) / 1000)
    }

    /// `2.315`: a duration in milliseconds, to the microsecond.
    package static func milliseconds(_ duration: Duration) -> String {
        String((duration.milliseconds * 1000).rounded() / 1000)
    }
}

/// `<UTC start yyyyMMdd-HHmmss>-<association id>-<calling>-<called>`: the name (without
/// extension) of an association's text log and recording.
package func associationFileStem(start: Timestamp, id: String, calling: String?, called: String?) -> String {
    // iso8601 is `2026-01-01T12:34:56.000000Z`.
    let iso = Array(iso8601(start))
    let date = String(iso[0..<4]) + String(iso[5..<7]) + String(iso[8..<10])
    let time = String(iso[11..<13]) + String(iso[14..<16]) + String(iso[17..<19])
    return "\(date)-\(time)-\(id)-\(fileNameComponent(calling))-\(fileNameComponent(called))"
}

/// An AE title made safe for a file name: leading and trailing spaces go; letters, digits, `.`,
/// `_` and `-` are kept, anything else becomes `_`; an empty or missing title is `unknown`.
package func fileNameComponent(_ title: String?) -> String {
    var trimmed = Substring(title ?? "")
    while trimmed.first == " " { trimmed = trimmed.dropFirst() }
    while trimmed.last == " " { trimmed = trimmed.dropLast() }
    guard !trimmed.isEmpty else { return "unknown" }
    let mapped = trimmed.unicodeScalars.map { s -> Character in
        switch s {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": return Character(s)
        default: return "_"
        }
    }
    let name = String(mapped)
    return name.allSatisfy { $0 == "." } ? "unknown" : name
}

/// Bytes as rows of 16 hex bytes with their offset, for logging malformed PDUs.
package func hexDump(_ buffer: ByteBuffer, limit: Int = 256) -> [String] {
    let bytes = buffer.getBytes(at: buffer.readerIndex, length: min(buffer.readableBytes, limit)) ?? []
    var lines: [String] = []
    var offset = 0
    while offset < bytes.count {
        let row = bytes[offset..<min(offset + 16, bytes.count)]
        let bytesText = row.map { hex2($0, uppercase: false) }.joined(separator: " ")
        lines.append(hex(offset, width: 4, uppercase: false) + "  " + bytesText)
        offset += 16
    }
    if buffer.readableBytes > limit { lines.append("... (\(buffer.readableBytes) bytes in all)") }
    return lines
}
