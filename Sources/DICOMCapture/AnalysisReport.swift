import DICOMCore
import NIOConcurrencyHelpers
import DICOMInspect
import DIMSE

/// Writes what `dicomtap analyze` prints, association by association as the analyzer hands
/// them over (so memory stays flat): the annotated text dump, the JSON document of the
/// contract, or the statistics table.
public final class AnalysisReportWriter {
    public enum Format: Sendable { case text, json, summary }

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
    private let write: (String) -> Void
    /// Inputs analyzed so far: association indices start at 1 in each, so the summary's order
    /// (which association's status meaning is shown) is (input, index).
    private var inputsAnalyzed = 0
    /// The summary's totals: added to on the threads that render (in any order), read at the end.
    private let statistics = NIOLockedValueBox(AnalysisStatistics())
    private var first = true
    private var shown = 0
    private var warnings: [(String, CaptureAnalyzer.Warning)] = []

    public init(format: Format, filter: Filter = Filter(), write: @escaping (String) -> Void) {
        self.format = format
        self.filter = filter
        self.write = write
    }

    public func begin(inputs: [String]) {
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
    public func analyze(path: String, configuration: CaptureAnalyzer.Configuration,
                        workers: Int = 1) throws(CaptureError) -> CaptureAnalyzer {
        inputsAnalyzed += 1
        let renderer = self.renderer
        return try CaptureAnalyzer.analyze(path: path, configuration: configuration, workers: workers,
                                           prepare: { renderer.render($0) }, consume: { self.consume($0) })
    }

    /// What renders one association, without touching the writer's state (runs on any thread).
    public var renderer: AnalysisRenderer {
        var renderer = AnalysisRenderer(format: format, filter: filter, dumpOptions: dumpOptions,
                                        includeAllDataSets: includeAllDataSets)
        renderer.statistics = statistics
        renderer.statisticsOrderBase = inputsAnalyzed << 40
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
            write("\n],\n\"warnings\": " + w.serialized(indent: 1) + "\n}\n")
        case .summary:
            write(statistics.withLockedValue { $0.renderText() })
            for (file, w) in warnings { write("warning: \(file): \(w)\n") }
        case .text:
            if shown == 0 { write("No association matches.\n") }
            for (file, w) in warnings { write("warning: \(file): \(w)\n") }
        }
    }
}

/// Renders one association as `dicomtap analyze` prints it (a value: safe to use from the
/// worker threads that observe associations).
public struct AnalysisRenderer: Sendable {
    /// One association, rendered.
    public enum Piece: Sendable {
        /// The annotated dump.
        case text(String)
        /// The association's JSON object (without the separating comma).
        case json(String)
        /// For the statistics table: the association was added to `statistics`.
        case counted
    }

    public var format: AnalysisReportWriter.Format
    public var filter: AnalysisReportWriter.Filter
    public var dumpOptions: AnnotatedDumpRenderer.Options
    public var includeAllDataSets: Bool
    /// Where the summary format adds each association (on the rendering thread); without it the
    /// summary format only counts.
    public var statistics: NIOLockedValueBox<AnalysisStatistics>?
    /// Added to an association's index to place it in start order over several inputs.
    public var statisticsOrderBase = 0

    public init(format: AnalysisReportWriter.Format, filter: AnalysisReportWriter.Filter = .init(),
                dumpOptions: AnnotatedDumpRenderer.Options = .init(), includeAllDataSets: Bool = false) {
        self.format = format
        self.filter = filter
        self.dumpOptions = dumpOptions
        self.includeAllDataSets = includeAllDataSets
    }

    /// nil when the filter leaves the association out.
    public func render(_ a: CaptureAnalyzer.Association) -> Piece? {
        guard matches(a) else { return nil }
        switch format {
        case .summary:
            statistics?.withLockedValue { $0.add(a.observer, order: statisticsOrderBase + a.index) }
            return .counted
        case .json:
            // Written straight to UTF-8 (the same bytes as the JSONValue tree serialized, without the tree).
            var out = TextBuffer(capacity: 4096)
            AssociationJSON(includeAllDataSets: includeAllDataSets)
                .write(index: a.index, client: a.client.description, server: a.server.description, observer: a.observer,
                       onlyService: filter.service, indent: 1, into: &out)
            return .json(out.string)
        case .text:
            return .text(renderText(a))
        }
    }

    func matches(_ a: CaptureAnalyzer.Association) -> Bool {
        if let n = filter.association, a.index != n { return false }
        if let service = filter.service, !a.observer.exchanges.contains(where: { $0.service?.rawValue == service }) { return false }
        if let id = filter.patientID {
            let patientID = Tag(0x0010_0020)
            let hit = a.observer.exchanges.contains { ex in
                ([ex.request] + ex.responses).contains { $0.dataSet?[patientID]?.string() == id }
            }
            if !hit { return false }
        }
        return true
    }

    func renderText(_ a: CaptureAnalyzer.Association) -> String {
        let info = a.observer.info
        // One UTF-8 buffer for the whole association: the events' lines are appended to it by
        // the dump renderer, and one String is made at the end.
        var out = TextBuffer(capacity: 4096)
        out.append("=== Association ")
        out.appendDecimal(a.index)
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
        let renderer = AnnotatedDumpRenderer(options: dumpOptions, origin: a.firstTime)
        for event in a.events {
            if let service = filter.service {
                if case .message(let m, _) = event, m.commandField?.service.rawValue != service,
                   m.commandField?.service != .cCancel { continue }
            }
            renderer.write(event, info: info, into: &out)
        }
        // Read in place (a filtered copy of the exchanges would retain every message in them).
        var headed = false
        for i in a.observer.exchanges.indices {
            guard filter.service == nil || a.observer.exchanges[i].service?.rawValue == filter.service else { continue }
            if !headed { out.append("--- Exchanges\n"); headed = true }
            exchangeLine(a.observer.exchanges[i], into: &out)
        }
        let problems = a.observer.findings.filter { $0.severity != .info }
        if !problems.isEmpty { out.append("--- Findings: \(problems.count)\n") }
        for f in problems {
            out.append("  \(f.severity) \(f.code): \(f.message)" + (f.packet.map { " (packet \($0))" } ?? "") + "\n")
        }
        out.append(UInt8(ascii: "\n"))
        return out.string
    }

    /// One line per exchange: what a user scans for first.
    func exchangeLine(_ ex: Exchange, into out: inout TextBuffer) {
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
        if ex.service == .cFind {
            let n = ex.matchCount
            out.append(", ")
            out.appendDecimal(n)
            out.append(n == 1 ? " match" : " matches")
        }
        if ex.cancel != nil { out.append(", cancelled") }
        if let d = ex.duration { out.append(", "); out.append(format3(d.milliseconds)); out.append(" ms") }
        out.append(UInt8(ascii: "\n"))
    }

    func format3(_ v: Double) -> String {
        let r = (v * 1000).rounded() / 1000
        return String(r)
    }
}
