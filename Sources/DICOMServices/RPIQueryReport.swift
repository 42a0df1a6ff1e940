import DICOMCore
import DICOMInspect
import DICOMNetwork
import DIMSE
import Foundation

/// How `dicomtap query` (and the demo) print a query's responses: text (status with its meaning, then the
/// identifier as a dcmdump-style dump) or DICOM JSON.
package enum RPIQueryReport {
    /// One response, as text: `C-FIND-RSP 1  0xFF00 Pending: matches are continuing...` then the identifier.
    package static func text(_ response: RPIQueryResponse, number: Int) -> String {
        var out = "C-FIND-RSP \(number)  \(response.meaning)\n"
        if let offending = response.offendingElements, !offending.isEmpty {
            out += "  Offending Element: \(offending.map { "\($0)" + (DataDictionary.keyword(for: $0).map { " \($0)" } ?? "") }.joined(separator: ", "))\n"
        }
        if let comment = response.errorComment { out += "  Error Comment: \(comment)\n" }
        if response.identifier != nil && response.meaning.category != .pending {
            out += "  note: the SCP sent a data set with this final response (PS3.4 Annex Q: only Pending responses carry one)\n"
        }
        if let identifier = response.identifier {
            let charset = identifier.characterSet(inheriting: .default)
            out += TextDumpRenderer().render(identifier, characterSet: charset, prefix: "  ")
            if !out.hasSuffix("\n") { out += "\n" }
        }
        return out
    }

    /// The closing summary line.
    package static func summary(_ result: RPIQueryResult) -> String {
        let ms = result.finishedAt.seconds(since: result.startedAt) * 1000
        let context = "context \(result.context.id) \(UIDRegistry.name(for: result.context.transferSyntax) ?? result.context.transferSyntax)"
            + (result.tls.map { "; \($0)" } ?? "")
        switch result.ending {
        case .completed:
            let final = result.finalStatus.map { "\($0.meaning.category) \(statusText($0.status))" } ?? "no final status"
            return "query: \(result.matches.count) match\(result.matches.count == 1 ? "" : "es"), final \(final), \(String(format3(ms))) ms, \(context)"
        case .timedOut(let answered):
            return "query: timed out after \(String(format3(ms))) ms; C-CANCEL sent, \(answered ? "the SCP answered" : "no answer to it"); \(context)"
        }
    }

    /// The whole result as JSON: request, responses (status, meaning, identifier in the DICOM JSON model), ending.
    package static func json(_ result: RPIQueryResult) -> JSONValue {
        let renderer = DICOMJSONRenderer()
        let responses: [JSONValue] = result.responses.map { r in
            var o: [(String, JSONValue)] = [
                ("status", .string(statusText(r.status))),
                ("category", .string(r.meaning.category.rawValue)),
                ("meaning", .string(r.meaning.meaning)),
            ]
            if let offending = r.offendingElements {
                o.append(("offendingElements", .array(offending.map { .string($0.jsonKey) })))
            }
            if let c = r.errorComment { o.append(("errorComment", .string(c))) }
            o.append(("identifier", r.identifier.map { renderer.render($0) } ?? .null))
            return .object(o)
        }
        var ending: [(String, JSONValue)] = []
        switch result.ending {
        case .completed: ending = [("kind", .string("completed"))]
        case .timedOut(let answered): ending = [("kind", .string("timed-out")), ("cancelAnswered", .bool(answered))]
        }
        return .object([
            ("sopClassUID", .string(result.context.abstractSyntax)),
            ("transferSyntaxUID", .string(result.context.transferSyntax)),
            ("request", renderer.render(result.request)),
            ("responses", .array(responses)),
            ("matches", .int(result.matches.count)),
            ("ending", .object(ending)),
        ] + (result.tls.map { [("tls", tlsJSON($0))] } ?? []))
    }

    /// `{"version": "TLS 1.3", "cipherSuite": ..., "peerSubject": ..., "peerIssuer": ...}`.
    package static func tlsJSON(_ tls: TLSSessionInfo) -> JSONValue {
        .object([
            ("version", .string(tls.version)),
            ("cipherSuite", .string(tls.cipherSuite)),
            ("peerSubject", tls.peerSubject.map(JSONValue.string) ?? .null),
            ("peerIssuer", tls.peerIssuer.map(JSONValue.string) ?? .null),
        ])
    }

    private static func format3(_ v: Double) -> String { String(format: "%.3f", v) }
}
