import DICOMCore
import NIOConcurrencyHelpers
import DICOMInspect
import DIMSE

/// Writes what `dicomtap analyze` prints, association by association as the analyzer hands
/// them over (so memory stays flat): the annotated text dump, the JSON document of the
/// contract, or the statistics table.
public final class AnalysisReportWriter {
    public enum Format: Sendable { case text, json, summary, html }

    public struct Filter: Sendable {
        public var association: Int?
        /// e.g. "C-FIND"
        public var service: String?
        public var patientID: String?
        public init(association: Int? = nil, service: String? = nil, patientID: String? = nil) {
            self.association = association
            self.service = service
            self.patientID = patientID
        }
    }

    public let format: Format
    public let filter: Filter
    public var dumpOptions = AnnotatedDumpRenderer.Options()
    public var includeAllDataSets = false
    let write: (String) -> Void
    private let warn: (String) -> Void
    /// Associations of the inputs analyzed so far: the next input's are numbered after them, so
    /// association numbers run 1, 2, 3 ... over all inputs (in input order, then start order).
    private var associationsBefore = 0
    /// The input being analyzed, and whether there are several (the text dump then names it).
    private var input: String?
    private var severalInputs = false
    /// The summary's totals: added to on the threads that render (in any order), read at the end.
    let statistics = NIOLockedValueBox(AnalysisStatistics())
    /// Each association's C-MOVE/C-GET requests and C-STORE originators, linked at the end.
    let retrievals = NIOLockedValueBox([RetrievalSummary]())
    /// The HTML report's first page: one small entry per association written.
    var htmlEntries: [HTMLAssociationEntry] = []
    var inputs: [String] = []
    private var first = true
    private var shown = 0
    var warnings: [(String, CaptureAnalyzer.Warning)] = []
    /// Warnings said before the associations of their input (not said again at the end).
    private var saidFirst: [(String, String)] = []

    /// `write` receives the report; `warn` each warning about an input (`captures/x.pcapng: truncated
    /// ...`), in every format (the JSON document also lists them), for stderr: the report stays the same
    /// whether or not a warning came.
    public init(format: Format, filter: Filter = Filter(), write: @escaping (String) -> Void,
                warn: @escaping (String) -> Void = { _ in }) {
        self.format = format
        self.filter = filter
        self.write = write
        self.warn = warn
    }

    public func begin(inputs: [String]) {
        severalInputs = inputs.count > 1
        self.inputs = inputs
        if format == .html { write(HTMLReport.begin(inputs: inputs).string) }
        if format == .json {
            write("{\n\"inputs\": " + JSONValue.array(inputs.map(JSONValue.string)).serialized() + ",\n\"associations\": [\n")
        }
    }

    /// Renders and writes one association (on the calling thread).
    public func add(_ a: CaptureAnalyzer.Association) {
        consume(renderer.render(a))
    }

    /// Analyzes a capture and writes its associations: packets are read on the calling thread,
    /// associations observed and rendered on `workers` threads (1: all on the calling thread),
    /// written here in the order they started. Returns the analyzer (warnings, statistics).
    /// `name`: the input as the user named it (default `path`), shown with its associations.
    public func analyze(path: String, name: String? = nil, configuration: CaptureAnalyzer.Configuration,
                        workers: Int = 1) throws(CaptureError) -> CaptureAnalyzer {
        let name = name ?? path
        input = name
        if let cut = CaptureAnalyzer.snapLengthWarning(path: path) {
            // Said before the dump, whose stream gaps it explains.
            warn("\(name): \(cut)")
            saidFirst.append((name, cut.message))
        }
        let renderer = self.renderer
        var configuration = configuration
        configuration.renderer = renderer
        configuration.firstAssociationIndex = associationsBefore + 1
        defer { input = nil }
        let analyzer = try CaptureAnalyzer.analyze(path: path, configuration: configuration, workers: workers,
                                                   prepare: { renderer.render($0) }, consume: { self.consume($0) })
        associationsBefore += analyzer.associationCount
        return analyzer
    }

    /// What renders one association, without touching the writer's state (runs on any thread).
    public var renderer: AnalysisRenderer {
        var renderer = AnalysisRenderer(format: format, filter: filter, dumpOptions: dumpOptions,
                                        includeAllDataSets: includeAllDataSets)
        renderer.statistics = statistics
        renderer.retrievals = retrievals
        renderer.input = input
        renderer.namesInput = severalInputs
        return renderer
    }

    /// Writes a rendered association (in order).
    public func consume(_ piece: AnalysisRenderer.Piece?) {
        guard let piece else { return }
        shown += 1
        switch piece {
        case .counted:
            break
        case .json(let text):
            if !first { write(",\n") }
            write(text)
            first = false
        case .text(let text):
            write(text)
        case .html(let text, let entry):
            write(text)
            htmlEntries.append(entry)
        }
    }

    public func warnings(_ list: [CaptureAnalyzer.Warning], file: String) {
        warnings += list.map { (file, $0) }
    }

    public func end() {
        switch format {
        case .json:
            let w = JSONValue.array(warnings.map { file, w in
                .object([("input", .string(file)), ("message", .string(w.message)), ("packet", w.packet.map { .int($0) } ?? .null)])
            })
            write("\n],\n" + retrievalsJSON + "\"warnings\": " + w.serialized(indent: 1) + "\n}\n")
        case .summary:
            write(statistics.withLockedValue { $0.renderText() } + RetrievalLinker.summaryText(links))
        case .text:
            if shown == 0 { write("No association matches.\n") }
            write(RetrievalLinker.text(links))
        case .html:
            endHTML()
        }
        for (file, w) in warnings where !saidFirst.contains(where: { $0 == (file, w.message) }) { warn("\(file): \(w)") }
    }
}

/// Renders one association as `dicomtap analyze` prints it (a value: safe to use from the
/// worker threads that observe associations). It renders as the association's events come
/// (`AssociationRendering`): what it keeps of an open association is rendered text, never the
/// messages, so memory does not grow with the data that passed.
public struct AnalysisRenderer: Sendable {
    /// One association, rendered.
    public enum Piece: Sendable {
        /// The annotated dump.
        case text(String)
        /// The association's JSON object (without the separating comma).
        case json(String)
        /// For the statistics table: the association was added to `statistics`.
        case counted
        /// The association's section of the HTML report, and its line on the first page.
        case html(String, HTMLAssociationEntry)
    }

    public var format: AnalysisReportWriter.Format
    public var filter: AnalysisReportWriter.Filter
    public var dumpOptions: AnnotatedDumpRenderer.Options
    public var includeAllDataSets: Bool
    /// Where the summary format adds each association (on the rendering thread); without it the
    /// summary format only counts.
    public var statistics: NIOLockedValueBox<AnalysisStatistics>?
    /// Where each association's retrieval summary goes (linked across associations at the end).
    public var retrievals: NIOLockedValueBox<[RetrievalSummary]>?
    /// The capture the associations come from (in the JSON of each association).
    public var input: String?
    /// Whether the text dump names the input in each association's header (several inputs).
    public var namesInput = false

    public init(format: AnalysisReportWriter.Format, filter: AnalysisReportWriter.Filter = .init(),
                dumpOptions: AnnotatedDumpRenderer.Options = .init(), includeAllDataSets: Bool = false) {
        self.format = format
        self.filter = filter
        self.dumpOptions = dumpOptions
        self.includeAllDataSets = includeAllDataSets
    }

    /// Whether the observers must emit PDU and message events (the text dump shows them).
    /// (The patient filter reads every response's data set as it comes: an exchange keeps only some.)
    var needsEvents: Bool { format == .text || format == .html || filter.patientID != nil }
    /// Whether data sets are read at all (decoded as they arrive when they are).
    var readsDataSets: Bool { format != .summary || filter.patientID != nil }

    /// The rendering of an association that starts.
    public func start(index: Int, firstTime: Timestamp) -> AssociationRendering {
        AssociationRendering(renderer: self, index: index, origin: firstTime)
    }

    /// nil when the filter leaves the association out.
    public func render(_ a: CaptureAnalyzer.Association) -> Piece? {
        var rendering = a.rendering ?? start(index: a.index, firstTime: a.firstTime)
        if a.rendering == nil {
            // An association observed without a rendering: its events and exchanges were kept.
            rendering.observe(a.events, info: a.observer.info)
            for ex in a.observer.exchanges { rendering.observe([.exchangeEnded(ex)], info: a.observer.info) }
        }
        return rendering.finish(a)
    }
}

/// One association being rendered for `analyze` as its events come: the dump's lines (text),
/// each exchange's line or JSON object as it ends, the statistics (summary), and what the
/// filters need. At the end (`finish`) the header, which needs the outcome, goes first.
public struct AssociationRendering: Sendable {
    let renderer: AnalysisRenderer
    /// The association's number (over all inputs: the analyzer's `firstAssociationIndex`).
    let index: Int
    let dump: AnnotatedDumpRenderer
    /// The dump of the events so far (text).
    private var text = TextBuffer(capacity: 4096)
    /// Each ended exchange's line (text) or JSON object (json), by exchange index.
    private var exchanges: [(index: Int, text: TextBuffer)] = []
    private var statistics = AnalysisStatistics()
    /// The filters: an exchange of the service, a data set with the patient ID.
    private var hasService = false
    private var hasPatient = false
    /// The HTML report's rows and arrows (html).
    var page = HTMLAssociationSummary()
    /// C-MOVE/C-GET requests and C-STORE originators (every format: they are linked at the end).
    var retrieval: RetrievalSummary

    init(renderer: AnalysisRenderer, index: Int, origin: Timestamp) {
        self.renderer = renderer
        self.index = index
        dump = AnnotatedDumpRenderer(options: renderer.dumpOptions, origin: origin)
        retrieval = RetrievalSummary(association: index)
    }

    private var filter: AnalysisReportWriter.Filter { renderer.filter }

    /// Renders `events` (`info` as the observer knows the association now).
    public mutating func observe(_ events: [ObservationEvent], info: AssociationInfo) {
        if let n = filter.association, n != index {
            // Left out of the output, but a C-MOVE shown may have its sub-operations here (or the other way round).
            for case .exchangeEnded(let ex) in events { retrieval.add(ex) }
            return
        }
        for event in events {
            switch event {
            case .exchangeEnded(let ex):
                ended(ex)
            case .message(let m, let exchangeIndex):
                // Every message of an exchange passes here, also the responses it does not keep.
                if let id = filter.patientID, !hasPatient, exchangeIndex != nil, m.dataSet?[Tag.patientID]?.string() == id {
                    hasPatient = true
                }
                if renderer.format == .html { page.observe(event) }
                guard renderer.format == .text else { continue }
                if let service = filter.service, m.commandField?.service.rawValue != service, m.commandField?.service != .cCancel {
                    continue
                }
                dump.write(event, info: info, into: &text)
            case .pdu, .finding:
                if renderer.format == .html { page.observe(event) }
                guard renderer.format == .text else { continue }
                dump.write(event, info: info, into: &text)
            }
        }
    }

    private mutating func ended(_ ex: Exchange) {
        let service = ex.service?.rawValue
        if let wanted = filter.service, service == wanted { hasService = true }
        if let id = filter.patientID, !hasPatient, ex.mentions(patientID: id) { hasPatient = true }
        let shown = filter.service == nil || service == filter.service
        retrieval.add(ex)
        switch renderer.format {
        case .summary:
            statistics.add(ex, order: index) // numbers run over all inputs: (input, start) order
        case .html:
            guard shown else { return }
            statistics.add(ex, order: index)
            page.observe(.exchangeEnded(ex))
        case .json:
            guard shown else { return }
            exchanges.append((ex.index, AssociationJSON(includeAllDataSets: renderer.includeAllDataSets)
                .exchangeFragment(ex, indent: 1)))
        case .text:
            guard shown else { return }
            var line = TextBuffer(capacity: 128)
            Self.exchangeLine(ex, into: &line)
            exchanges.append((ex.index, line))
        }
    }

    /// The association, rendered; nil when the filter leaves it out.
    public func finish(_ a: CaptureAnalyzer.Association) -> AnalysisRenderer.Piece? {
        let leftOut = filter.association.map { $0 != index } ?? false || (filter.service != nil && !hasService)
            || (filter.patientID != nil && !hasPatient)
        // Noted shown or not: the links of the associations shown may lead to one left out.
        noteRetrievals(a, shown: !leftOut)
        if leftOut { return nil }
        let ordered = exchanges.sorted { $0.index < $1.index }.map(\.text)
        switch renderer.format {
        case .html:
            return finishHTML(a, statistics: statistics)
        case .summary:
            var totals = statistics
            totals.add(associationOf: a.observer)
            renderer.statistics?.withLockedValue { $0.merge(totals) }
            return .counted
        case .json:
            var out = TextBuffer(capacity: 4096)
            var json = AssociationJSON(includeAllDataSets: renderer.includeAllDataSets)
            json.input = renderer.input
            json.write(index: index, client: a.client.description, server: a.server.description, observer: a.observer,
                       exchanges: ordered, indent: 1, into: &out)
            return .json(out.string)
        case .text:
            return .text(renderText(a, exchanges: ordered))
        }
    }

    func renderText(_ a: CaptureAnalyzer.Association, exchanges: [TextBuffer]) -> String {
        let info = a.observer.info
        var out = TextBuffer(capacity: text.count + 512)
        out.append("=== Association ")
        out.appendDecimal(index)
        if renderer.namesInput, let input = renderer.input {
            out.append(" in ")
            out.append(input)
        }
        out.append(": ")
        out.append(a.client.description)
        out.append(" -> ")
        out.append(a.server.description)
        if let calling = info.callingAETitle, let called = info.calledAETitle {
            out.append("  \"")
            out.append(calling)
            out.append("\" -> \"")
            out.append(called)
            out.append("\"")
        }
        out.append("  \(info.outcome)  packets ")
        out.appendDecimal(a.firstPacket)
        out.append(UInt8(ascii: "-"))
        out.appendDecimal(a.lastPacket)
        out.append("  start ")
        out.append(iso8601(a.firstTime))
        out.append(UInt8(ascii: "\n"))
        out.append(text)
        if !exchanges.isEmpty { out.append("--- Exchanges\n") }
        for line in exchanges { out.append(line) }
        let problems = a.observer.findings.filter { $0.severity != .info }
        if !problems.isEmpty { out.append("--- Findings: \(problems.count)\n") }
        for f in problems {
            out.append("  \(f.severity) \(f.code): \(f.message)" + (f.packet.map { " (packet \($0))" } ?? "") + "\n")
        }
        out.append(UInt8(ascii: "\n"))
        return out.string
    }

    /// One line per exchange: what a user scans for first.
    static func exchangeLine(_ ex: Exchange, into out: inout TextBuffer) {
        out.append("  ")
        out.append(ex.service?.rawValue ?? "?")
        out.append(" msg ")
        out.appendDecimal(ex.messageID)
        if let sop = ex.sopClassUID { out.append(UInt8(ascii: " ")); out.append(UIDRegistry.name(for: sop) ?? sop) }
        if let status = ex.finalResponse?.status {
            out.append(": ")
            out.append(status.description)
        } else {
            out.append(": no final response")
        }
        if let destination = ex.moveDestination { out.append(", to "); out.append(destination) }
        if ex.service == .cFind {
            let n = ex.matchCount
            out.append(", ")
            out.appendDecimal(n)
            out.append(n == 1 ? " match" : " matches")
        } else if let counts = ex.subOperations?.description {
            out.append(", ")
            out.append(counts)
        }
        if ex.responsesNotKept > 0 {
            out.append(", ")
            out.appendDecimal(ex.responseCount)
            out.append(" responses (")
            out.appendDecimal(ex.responsesNotKept)
            out.append(" not kept)")
        }
        if ex.cancel != nil { out.append(", cancelled") }
        if let d = ex.duration { out.append(", "); out.append(format3(d.milliseconds)); out.append(" ms") }
        out.append(UInt8(ascii: "\n"))
    }

    static func format3(_ v: Double) -> String {
        let r = (v * 1000).rounded() / 1000
        return String(r)
    }
}
