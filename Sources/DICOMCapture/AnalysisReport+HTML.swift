import DICOMCore
import DICOMInspect

/// `analyze --format html`, and the retrieval links every format ends with.
extension AnalysisReportWriter {
    /// The C-MOVEs and C-GETs of the associations written, each with the association(s) that
    /// carried its sub-operations: one pass over the small per-association summaries.
    /// Only the links with an end in an association shown (`--association N` and the other filters): a
    /// C-MOVE shown keeps its link to an association left out, and a sub-association shown its C-MOVE.
    var links: [RetrievalLink] {
        let summaries = retrievals.withLockedValue { $0 }
        let shown = Set(summaries.filter(\.shown).map(\.association))
        return RetrievalLinker.link(summaries).filter { l in
            shown.contains(l.request.association) || l.carriers.contains { shown.contains($0.association) }
        }
    }

    /// The JSON document's `retrievals` member and its comma (nothing when no retrieval was seen).
    var retrievalsJSON: String {
        let links = self.links
        guard !links.isEmpty else { return "" }
        let array = JSONValue.array(links.map { l in
            let rq = l.request
            return .object([
                ("association", .int(rq.association)), ("service", .string(rq.service.rawValue)),
                ("messageID", .int(Int(rq.messageID))), ("callingAETitle", .string(rq.originator)),
                ("calledAETitle", .string(rq.scp)), ("moveDestination", rq.destination.map { .string($0) } ?? .null),
                ("finalStatus", rq.finalStatus.map { .string(statusText($0.code)) } ?? .null),
                ("carriedOn", .array(l.carriers.map { c in
                    .object([("association", .int(c.association)), ("stores", .int(c.stores)), ("failed", .int(c.failed)),
                             ("evidence", .string(c.evidence.rawValue))])
                })),
                ("destinationUnknown", .bool(l.destinationUnknown)),
                ("verdict", .string(l.verdict)),
            ])
        })
        return "\"retrievals\": " + array.serialized(indent: 1) + ",\n"
    }

    func endHTML() {
        let said = warnings.map { "\($0.0): \($0.1)" }
        write(HTMLReport.overview(entries: htmlEntries, statistics: statistics.withLockedValue { $0 }, links: links,
                                  warnings: said).string)
        write(HTMLReport.end().string)
    }
}

extension AssociationRendering {
    /// Hands the association's retrieval summary to the writer (when it has any retrieval or sub-operation).
    func noteRetrievals(_ a: CaptureAnalyzer.Association, shown: Bool) {
        guard !retrieval.isEmpty, let box = renderer.retrievals else { return }
        var summary = retrieval
        summary.shown = shown
        let info = a.observer.info
        summary.finish(calling: info.callingAETitle, called: info.calledAETitle, start: info.requestTime ?? a.firstTime,
                       end: info.endTime ?? a.firstTime)
        box.withLockedValue { $0.append(summary) }
    }

    /// The association's section of the HTML report, rendered here (on the worker thread).
    func finishHTML(_ a: CaptureAnalyzer.Association, statistics: AnalysisStatistics) -> AnalysisRenderer.Piece {
        var totals = statistics
        totals.add(associationOf: a.observer)
        renderer.statistics?.withLockedValue { $0.merge(totals) }
        let info = a.observer.info
        let section = HTMLAssociationSection(index: index, input: renderer.namesInput ? renderer.input : nil,
                                             client: a.client.description, server: a.server.description, info: info,
                                             findings: a.observer.findings, origin: a.firstTime,
                                             end: info.endTime ?? a.firstTime, summary: page)
        var w = HTMLWriter(capacity: 16 << 10)
        section.write(into: &w)
        return .html(w.string, section.entry)
    }
}
