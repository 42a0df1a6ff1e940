import DICOMCore
import DICOMInspect
import DICOMPeerSupport
import Foundation
import NIOCore
import Testing
@testable import DICOMCapture

// What `dicomtap analyze` says about each sample capture, compared field by field with what the
// independent reference reader in tools/make_captures.py recorded in captures/manifest.json
// (TCP reassembly by sequence number, PS3.8 framing, pydicom for command sets and identifiers;
// for recorded captures also checked against what the peers did), and with a live tshark run.
//
// Our side is produced in-process the way `dicomtap analyze` prints it: the `--format json`
// document, and the text dump with `--pdus` (the JSON has no PDU counts; the dump shows every
// PDU with its direction). A few facts the analyze output does not carry are read from the
// layer that knows them (the TCP reassembler: why bytes are missing, duplicate segments; the
// capture reader: packets, link type, snapshot length), and said so where they are compared.

// MARK: - The manifest, as plain JSON

/// A JSON value from `JSONSerialization`, read leniently: a missing key or `null` is `nil`.
struct JSONNode {
    let value: Any?

    init(_ value: Any?) { self.value = value is NSNull ? nil : value }

    subscript(key: String) -> JSONNode { JSONNode((value as? [String: Any])?[key]) }

    var isNull: Bool { value == nil }
    var string: String? { value as? String }
    var int: Int? {
        if let i = value as? Int { return i }
        return (value as? NSNumber)?.intValue
    }
    var bool: Bool? {
        if let b = value as? Bool { return b }
        return (value as? NSNumber)?.boolValue
    }
    var array: [JSONNode] { (value as? [Any])?.map(JSONNode.init) ?? [] }
    var keys: [String] { (value as? [String: Any]).map { Array($0.keys).sorted() } ?? [] }
    var strings: [String] { array.compactMap(\.string) }
    /// `{"name": count}`.
    var counts: [String: Int] {
        var out: [String: Int] = [:]
        for k in keys { out[k] = self[k].int }
        return out
    }
}

enum SampleManifest {
    static let url = AnalyzeCapturesTests.captures.appendingPathComponent("manifest.json")

    static func document() throws -> JSONNode {
        JSONNode(try JSONSerialization.jsonObject(with: try Data(contentsOf: url)))
    }

    static func entry(_ name: String) throws -> JSONNode {
        try #require(try document()["captures"].array.first { $0["name"].string == name },
                     "captures/manifest.json has no entry for \(name)")
    }

    /// Capture names, for test arguments. Empty when the manifest cannot be read
    /// (`AnalyzeCapturesTests.everySampleCaptureIsListed` fails then).
    static var names: [String] { ((try? document())?["captures"].array ?? []).compactMap { $0["name"].string } }

    static func namesWhere(_ include: (JSONNode) -> Bool) -> [String] {
        ((try? document())?["captures"].array ?? []).filter(include).compactMap { $0["name"].string }
    }
}

/// The PDU type names the reference reader and tshark use (PS3.8 9.3, types 1-7).
let pduTypeNames = ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC", "A-ASSOCIATE-RJ", "P-DATA-TF", "A-RELEASE-RQ", "A-RELEASE-RP", "A-ABORT"]

// MARK: - Comparing, counting, known issues

/// Disagreements found between `analyze` and the reference reader or tshark, where the bytes of
/// the capture show that `analyze` is wrong: the Sources must be fixed (not the test). Each is
/// checked inside `withKnownIssue`, so the test fails as soon as it is fixed and the entry
/// must be removed. Keys: "<capture> <field>", as the comparison names the field.
enum KnownIssues {
    // None open. Fixed so far: truncated.pcapng's pending C-FIND-RSP whose data set the end of
    // the capture cut (now reported, "Data set: cut off by the end of the capture"), and
    // snaplen.pcap's unknown abstract syntax (now null in the JSON, not "").
    static let all: [String: String] = [:]
}

/// Compares fields, counts them, and wraps the known issues.
struct FieldComparison {
    let capture: String
    private(set) var count = 0
    private(set) var knownIssuesSeen: Set<String> = []

    init(capture: String) { self.capture = capture }

    mutating func equal<T: Equatable>(_ ours: T, _ reference: T, _ field: String, by other: String = "the reference reader",
                                      sourceLocation: SourceLocation = #_sourceLocation) {
        count += 1
        let key = "\(capture) \(field)"
        let comment: Comment = "\(capture): \(field): analyze \(shown(ours)), \(other) \(shown(reference))"
        if let issue = KnownIssues.all[key] {
            knownIssuesSeen.insert(key)
            withKnownIssue(Comment(rawValue: issue), sourceLocation: sourceLocation) {
                #expect(ours == reference, comment, sourceLocation: sourceLocation)
            }
        } else {
            #expect(ours == reference, comment, sourceLocation: sourceLocation)
        }
    }

    /// A fact that must hold (counted as one field).
    mutating func holds(_ condition: Bool, _ field: String, _ detail: @autoclosure () -> String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        count += 1
        #expect(condition, "\(capture): \(field): \(detail())", sourceLocation: sourceLocation)
    }

    /// Every known issue of this capture (of the tshark cross-check or not) was looked at: a
    /// renamed field or capture must not leave an entry that silently matches nothing.
    func checkKnownIssuesUsed(tshark: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let mine = KnownIssues.all.keys.filter {
            $0.hasPrefix(capture + " ") && $0.hasPrefix(capture + " tshark ") == tshark
        }
        for key in mine where !knownIssuesSeen.contains(key) {
            Issue.record("known issue '\(key)' was never compared: rename or remove it", sourceLocation: sourceLocation)
        }
    }
}

func shown(_ value: Any) -> String {
    let mirror = Mirror(reflecting: value)
    if mirror.displayStyle == .optional {
        guard let wrapped = mirror.children.first?.value else { return "null" }
        return shown(wrapped)
    }
    if let s = value as? String { return "\"\(s)\"" }
    return "\(value)"
}

// MARK: - Our side

/// `dicomtap analyze` on one capture, in-process: the JSON document, the `--pdus` text dump, the
/// associations as observed, and the reassembler's view of the same packets.
struct OurAnalysis {
    let json: JSONNode
    let associations: [JSONNode]
    let text: String
    /// Per client: PDUs per direction and type as the `--pdus` dump lists them.
    let dumpedPDUs: [String: [String: [String: Int]]]
    /// Per client: the packet range in the dump's association header.
    let packetRange: [String: (first: Int, last: Int)]
    let observed: [CaptureAnalyzer.Association]
    let analyzer: CaptureAnalyzer
    let pipeline: PipelineResult

    init(capture name: String, ports: [Int]) throws {
        let path = AnalyzeCapturesTests.captures.appendingPathComponent(name).path
        var config = CaptureAnalyzer.Configuration()
        config.dicomPorts.formUnion(ports.map { UInt16($0) })

        func run(_ format: AnalysisReportWriter.Format, pdus: Bool) throws -> String {
            final class Out: @unchecked Sendable { var text = "" }
            let out = Out()
            let writer = AnalysisReportWriter(format: format) { out.text += $0 }
            writer.dumpOptions = AnnotatedDumpRenderer.Options(showDataPDUs: pdus) // --pdus
            var c = config
            c.keepEvents = format == .text
            writer.begin(inputs: ["captures/" + name])
            let analyzer = try writer.analyze(path: path, name: "captures/" + name, configuration: c, workers: 1)
            writer.warnings(analyzer.warnings, file: "captures/" + name)
            writer.end()
            return out.text
        }

        let jsonText = try run(.json, pdus: false)
        json = JSONNode(try JSONSerialization.jsonObject(with: Data(jsonText.utf8)))
        associations = json["associations"].array
        text = try run(.text, pdus: true)

        var pdus: [String: [String: [String: Int]]] = [:]
        var ranges: [String: (first: Int, last: Int)] = [:]
        let header = try Regex(#"^=== Association \d+: (\S+) -> \S+ .*  packets (\d+)-(\d+)  start "#)
        let pduLine = try Regex(#"^\[-?[0-9.]+\] (RQ -> AC|AC -> RQ)  (A-ASSOCIATE-RQ|A-ASSOCIATE-AC|A-ASSOCIATE-RJ|P-DATA-TF|A-RELEASE-RQ|A-RELEASE-RP|A-ABORT) "#)
        var client: String?
        for line in text.split(separator: "\n") {
            if let m = line.firstMatch(of: header) {
                let c = String(m.output[1].substring ?? "")
                client = c
                ranges[c] = (Int(m.output[2].substring ?? "") ?? -1, Int(m.output[3].substring ?? "") ?? -1)
                pdus[c] = ["requestor": [:], "acceptor": [:]]
            } else if let m = line.firstMatch(of: pduLine), let c = client {
                let role = m.output[1].substring == "RQ -> AC" ? "requestor" : "acceptor"
                pdus[c]![role]![String(m.output[2].substring ?? ""), default: 0] += 1
            }
        }
        dumpedPDUs = pdus
        packetRange = ranges

        final class Box: @unchecked Sendable { var items: [CaptureAnalyzer.Association] = [] }
        let box = Box()
        var observe = config
        observe.keepEvents = false
        analyzer = try CaptureAnalyzer.analyze(path: path, configuration: observe) { box.items.append($0) }
        observed = box.items
        pipeline = try runPipeline(path: path, configuration: TCPReassembler.Configuration(serverPorts: config.dicomPorts),
                                   keepPackets: true)
    }

    func association(client: String) -> JSONNode? { associations.first { $0["client"].string == client } }
    func observer(client: String) -> AssociationObserver? { observed.first { $0.client.description == client }?.observer }

    /// The command sets of an association as (sender, "NAME MESSAGEID STATUS"), from the JSON:
    /// each exchange's request, its responses (sent by the other side), and its C-CANCEL-RQ.
    static func commandSets(_ a: JSONNode) -> [(sender: String, command: String)] {
        var out: [(String, String)] = []
        for ex in a["exchanges"].array {
            let sender = ex["sentBy"].string ?? "?"
            let other = sender == "requestor" ? "acceptor" : "requestor"
            let id = ex["messageID"].int ?? -1
            out.append((sender, "\(ex["command"].string ?? "?") \(id)"))
            for r in ex["responses"].array {
                out.append((other, "\(ex["service"].string ?? "?")-RSP \(id) \(r["status"].string ?? "?")"))
            }
            if ex["cancelled"].bool == true { out.append((sender, "C-CANCEL-RQ \(id)")) }
        }
        return out
    }

    static func commandCounts(_ a: JSONNode) -> [String: Int] {
        var counts: [String: Int] = [:]
        for (_, c) in commandSets(a) { counts[String(c.split(separator: " ")[0]), default: 0] += 1 }
        return counts
    }
}

/// The reference reader's identifier summary (make_captures.py `identifier_summary`) of an
/// identifier in the DICOM JSON model (PS3.18 Annex F): Specific Character Set, Query/Retrieve
/// Level, Patient's Name, Patient ID, SOP Instance UID as strings (values joined by a
/// backslash, a person name's groups by "="), the first Content Template Sequence item's
/// Template Identifier, the number of Content Sequence items.
func identifierSummary(_ ds: JSONNode) -> [String: String]? {
    guard !ds.isNull else { return nil }
    func text(_ element: JSONNode) -> String {
        element["Value"].array.map { v -> String in
            if let s = v.string { return s }
            if let n = v.int { return String(n) }
            if v.isNull { return "" }
            // Person name: Alphabetic=Ideographic=Phonetic, trailing empty groups dropped.
            var groups = [v["Alphabetic"].string ?? "", v["Ideographic"].string ?? "", v["Phonetic"].string ?? ""]
            while groups.last == "" { groups.removeLast() }
            return groups.joined(separator: "=")
        }.joined(separator: "\\")
    }
    var s: [String: String] = [:]
    for (keyword, tag) in [("SpecificCharacterSet", "00080005"), ("QueryRetrieveLevel", "00080052"), ("PatientName", "00100010"),
                           ("PatientID", "00100020"), ("SOPInstanceUID", "00080018")] where !ds[tag].isNull {
        s[keyword] = text(ds[tag])
    }
    if let item = ds["0040A504"]["Value"].array.first {
        s["TemplateIdentifier"] = item["0040DB00"].isNull ? "" : text(item["0040DB00"])
    }
    if !ds["0040A730"].isNull { s["ContentSequenceItems"] = String(ds["0040A730"]["Value"].array.count) }
    return s
}

/// A reference summary with its numbers as strings (ContentSequenceItems).
func referenceSummary(_ node: JSONNode) -> [String: String]? {
    guard !node.isNull else { return nil }
    var s: [String: String] = [:]
    for k in node.keys { s[k] = node[k].string ?? node[k].int.map(String.init) ?? "?" }
    return s
}

/// PS3.8 Table 9-18, Presentation Context Item result/reason.
let contextResultNames = [0: "acceptance", 1: "user-rejection", 2: "no-reason",
                          3: "abstract-syntax-not-supported", 4: "transfer-syntaxes-not-supported"]

// MARK: - The reference reader

@Suite struct ReferenceReaderTests {
    /// The fields of the manifest and what is done with each. A field not listed here fails the
    /// test: a new fact the reference reader records must be compared (or excluded with a reason).
    static let captureFields: [String: String] = [
        "name": "the capture", "dicom_ports": "passed to analyze as --port",
        "packets": "compared", "link_type": "compared (value; the name is libpcap's)", "snaplen": "compared",
        "ip_family": "compared", "expected": "compared",
        // How the capture was made, not what the reader decoded:
        "description": "-", "how": "-", "peers": "-", "format": "-", "size_bytes": "-", "derived_from": "-",
        "expected_is": "-", "damage": "how it was damaged; its effects are in expected",
        // tshark's view: the live cross-check (TSharkCrossCheckTests) runs tshark itself.
        "tshark": "TSharkCrossCheckTests", "tshark_agrees": "TSharkCrossCheckTests", "tshark_notes": "-",
        "tshark_without_decode_as": "-", "tshark_without_out_of_order_reassembly": "-",
    ]
    static let expectedFields: Set<String> = [
        "associations", "outcomes", "pdu_counts", "dimse_commands", "dimse_commands_total", "findings", "stream_gaps",
        "retransmitted_segments", "reader_notes", "read_error", "association_details",
    ]
    static let associationFields: Set<String> = [
        "client", "server", "first_frame", "last_frame", "calling_ae", "called_ae", "outcome", "started_mid_stream",
        "max_pdu", "implementation", "contexts", "pdus", "exchanges", "findings", "dimse_commands", "reject", "abort",
        "partial_pdus", "partial_items", "notes",
    ]
    static let exchangeFields: Set<String> = [
        "service", "message_id", "sop_class", "context_id", "transfer_syntax", "request_has_dataset", "pending",
        "final_status", "final_has_dataset", "cancel_requested", "request_identifier", "matches",
    ]
    /// The finding codes the reference reader looks for (make_captures.py `facts`).
    static let referenceFindingCodes: Set<String> = [
        "final-response-with-dataset", "multiple-pending-responses", "missing-content-template-sequence",
        "unanswered-request", "started-mid-association", "response-to-unknown-message",
    ]

    /// Every capture file has a manifest entry and golden files, every entry a capture file.
    @Test func everyCaptureHasAnEntryAndGoldenFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: AnalyzeCapturesTests.captures.path)
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        let names = SampleManifest.names.sorted()
        #expect(files == names, "captures/*.pcap* and the manifest's entries differ")
        #expect(Set(names).count == names.count, "a capture is listed twice")
        for name in names {
            for ext in ["txt", "json"] {
                let golden = AnalyzeCapturesTests.captures.appendingPathComponent("expected/\(name).\(ext)").path
                #expect(FileManager.default.fileExists(atPath: golden), "no golden \(golden)")
            }
        }
    }

    @Test(.cpuHeavy, arguments: SampleManifest.names)
    func analyzeAgreesWithTheReferenceReader(_ name: String) throws {
        let entry = try SampleManifest.entry(name)
        let ports = entry["dicom_ports"].array.compactMap(\.int)
        let ours = try OurAnalysis(capture: name, ports: ports)
        let expected = entry["expected"]
        var c = FieldComparison(capture: name)

        for key in entry.keys { #expect(Self.captureFields[key] != nil, "\(name): manifest field '\(key)' is not compared") }
        for key in expected.keys { #expect(Self.expectedFields.contains(key), "\(name): manifest field 'expected.\(key)' is not compared") }

        // The capture as read (CaptureReader through the analyzer and the reassembly pipeline).
        c.equal(ours.analyzer.packets, entry["packets"].int ?? -1, "packets")
        let reader = try CaptureReader(path: AnalyzeCapturesTests.captures.appendingPathComponent(name).path)
        c.equal(Int(reader.linkType), entry["link_type"]["value"].int ?? -1, "link_type")
        c.equal(reader.snapshotLength, entry["snaplen"].int ?? -1, "snaplen")
        let families = Set(ours.associations.compactMap { $0["client"].string.map { $0.hasPrefix("[") ? "ipv6" : "ipv4" } })
        if let family = entry["ip_family"].string, !families.isEmpty { c.equal(families, [family], "ip_family") }

        // Associations, matched by client address.
        c.equal(ours.associations.count, expected["associations"].int ?? -1, "associations")
        let details = expected["association_details"].array
        for a in ours.associations where !details.contains(where: { $0["client"].string == a["client"].string }) {
            Issue.record("\(name): analyze reports an association from \(a["client"].string ?? "?") that the reference reader does not")
        }
        for detail in details {
            try compareAssociation(detail, ours: ours, &c)
        }

        // Totals over the capture.
        var outcomes: [String: Int] = [:]
        for a in ours.associations { outcomes[a["outcome"].string ?? "?", default: 0] += 1 }
        c.equal(outcomes, expected["outcomes"].counts, "outcomes")
        var pduTotals: [String: Int] = [:]
        for a in ours.observed { for (type, n) in a.observer.pduTypeCounts { pduTotals[type.description, default: 0] += n } }
        for type in Set(pduTotals.keys).union(expected["pdu_counts"].keys).sorted() {
            c.equal(pduTotals[type] ?? 0, expected["pdu_counts"][type].int ?? 0, "pdu_counts \(type)")
        }
        var commands: [String: Int] = [:]
        for a in ours.associations { commands.merge(OurAnalysis.commandCounts(a), uniquingKeysWith: +) }
        for command in Set(commands.keys).union(expected["dimse_commands"].keys).sorted() {
            c.equal(commands[command] ?? 0, expected["dimse_commands"][command].int ?? 0, "dimse_commands \(command)")
        }
        c.equal(commands.values.reduce(0, +), expected["dimse_commands_total"].int ?? -1, "dimse_commands_total")
        let codes = Set(ours.associations.flatMap { $0["findings"].array.compactMap { $0["code"].string } })
            .intersection(Self.referenceFindingCodes)
        c.equal(codes, Set(expected["findings"].strings), "findings")

        try compareStreamGaps(expected["stream_gaps"], ours: ours, &c)

        // Segments whose bytes were all seen before (the reference reader drops them as
        // retransmissions): the reassembler's duplicates.
        c.equal(ours.pipeline.reassemblyStatistics.duplicateSegments, expected["retransmitted_segments"].int ?? -1,
                "retransmitted_segments")

        // Notes of the reference reader's framing: partial PDUs (compared per association under
        // partial_pdus) and connections where no PDU header starts the stream (not DICOM: the
        // analyzer counts them among the other TCP connections it saw).
        var notDICOM = 0
        for note in expected["reader_notes"].strings {
            if note.hasSuffix("no PDU header at stream offset 0") {
                if note.hasPrefix("requestor:") { notDICOM += 1 }
            } else {
                #expect(note.contains(" partial ("), "\(name): reader note of an unknown kind: \(note)")
            }
        }
        if notDICOM > 0 { c.equal(ours.analyzer.otherPorts.values.reduce(0, +), notDICOM, "reader_notes: connections without DICOM") }

        // A capture cut in the middle of a record (truncated.pcapng): the reference reader does
        // not decode the partial record either; it stops before it as libpcap does (its read_error
        // says so), so nothing is left out for that capture: every field above is compared up to
        // the cut. Its read error says "block ... at byte B needs L bytes, R left"; libpcap reads
        // the 8-byte pcapng block header first and reports the rest ("tried to read L-8 bytes,
        // only got R-8"), at the last complete packet.
        let truncation = ours.json["warnings"].array.first { $0["message"].string?.contains("truncated") == true }
        if let readError = expected["read_error"].string {
            let numbers = readError.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            let message = truncation?["message"].string ?? ""
            c.holds(numbers.count >= 3 && message.contains("tried to read \(numbers[numbers.count - 2] - 8) bytes, only got \(numbers[numbers.count - 1] - 8)"),
                    "read_error", "reference '\(readError)', analyze warning '\(message)'")
            c.equal(truncation?["packet"].int, entry["packets"].int, "read_error: last complete packet")
        } else {
            c.equal(truncation?["message"].string, nil, "read_error")
        }

        c.checkKnownIssuesUsed(tshark: false)
        print("reference reader: \(name): \(c.count) fields compared")
    }

    func compareAssociation(_ r: JSONNode, ours: OurAnalysis, _ c: inout FieldComparison) throws {
        let client = try #require(r["client"].string)
        let name = c.capture
        let p = "association \(client)"
        for key in r.keys { #expect(Self.associationFields.contains(key), "\(name): manifest field '\(key)' of \(p) is not compared") }
        guard let a = ours.association(client: client) else {
            Issue.record("\(name): analyze reports no association from \(client)")
            return
        }
        let observer = try #require(ours.observer(client: client))

        c.equal(a["server"].string, r["server"].string, "\(p) server")
        c.equal(a["callingAETitle"].string, r["calling_ae"].string, "\(p) calling_ae")
        c.equal(a["calledAETitle"].string, r["called_ae"].string, "\(p) called_ae")
        c.equal(a["outcome"].string, r["outcome"].string, "\(p) outcome")
        c.equal(a["startedMidStream"].bool, r["started_mid_stream"].bool, "\(p) started_mid_stream")

        // Packets: the reference reader's range is every packet of the connection; the dump's
        // ends at the packet where the connection was seen to close (the second FIN), so the
        // reference's last packet may be later, but only by packets that carry nothing
        // (the final ACK): no payload, no SYN, FIN or RST.
        let range = ours.packetRange[client]
        c.equal(range?.first, r["first_frame"].int, "\(p) first_frame")
        if let ourLast = range?.last, let theirLast = r["last_frame"].int {
            var after: [String] = []
            var decoder = PacketDecoder()
            for packet in ours.pipeline.packets where packet.index > ourLast && packet.index <= theirLast {
                guard case .segment(let s) = decoder.decode(packet) else { continue }
                let ends = Set([s.source.description, s.destination.description])
                guard ends == [client, a["server"].string ?? ""] else { continue }
                if s.payload.readableBytes > 0 || !s.flags.intersection([.syn, .fin, .rst]).isEmpty {
                    after.append("packet \(packet.index) \(s.flags) \(s.payload.readableBytes) bytes")
                }
            }
            c.holds(ourLast <= theirLast && after.isEmpty, "\(p) last_frame",
                    "analyze ends at packet \(ourLast), the reference reader at \(theirLast); after ours: \(after)")
        }

        for role in ["requestor", "acceptor"] {
            c.equal(a["maxPDULength"][role].int, r["max_pdu"][role].int, "\(p) max_pdu \(role)")
            let impl = r["implementation"][role].array
            c.equal(a["implementation"][role]["classUID"].string, impl.first?.string, "\(p) implementation \(role) class UID")
            c.equal(a["implementation"][role]["versionName"].string, impl.dropFirst().first?.string,
                    "\(p) implementation \(role) version name")
        }

        // Presentation contexts. Contexts we only inferred from the data (an association whose
        // A-ASSOCIATE the capture lacks) are ours alone: the reference reader lists none.
        let contexts = a["presentationContexts"].array
        let negotiated = contexts.filter { $0["transferSyntaxInferred"].bool != true }
        for inferred in contexts where inferred["transferSyntaxInferred"].bool == true {
            c.holds(inferred["result"].string == "inferred" && r["started_mid_stream"].bool == true
                        && !r["contexts"].array.contains { $0["id"].int == inferred["id"].int },
                    "\(p) context \(inferred["id"].int ?? -1) inferred",
                    "an inferred context where the reference reader saw the negotiation")
        }
        c.equal(negotiated.compactMap { $0["id"].int }, r["contexts"].array.compactMap { $0["id"].int }, "\(p) context ids")
        for rc in r["contexts"].array {
            let id = rc["id"].int ?? -1
            guard let oc = negotiated.first(where: { $0["id"].int == id }) else { continue }
            let q = "\(p) context \(id)"
            c.equal(oc["abstractSyntax"].string, rc["abstract_syntax"].string, "\(q) abstract_syntax")
            c.equal(oc["proposedTransferSyntaxes"].strings, rc["proposed_transfer_syntaxes"].strings, "\(q) proposed_transfer_syntaxes")
            c.equal(oc["result"].string, rc["result"].int.map { contextResultNames[$0] ?? "?" }, "\(q) result")
            c.equal(oc["transferSyntax"].string, rc["transfer_syntax"].string, "\(q) transfer_syntax")
        }

        // Rejection and abort: result/source/reason as on the wire, who aborted.
        if r["reject"].isNull {
            c.equal(a["reject"].isNull, true, "\(p) reject")
        } else {
            for field in ["result", "source", "reason"] {
                c.equal(a["reject"][field].int, r["reject"][field].int, "\(p) reject \(field)")
            }
        }
        if r["abort"].isNull {
            c.equal(a["abort"].isNull, true, "\(p) abort")
        } else {
            c.equal(a["abort"]["sentBy"].string, r["abort"]["by"].string, "\(p) abort by")
            c.equal(a["abort"]["source"].int, r["abort"]["source"].int, "\(p) abort source")
            c.equal(a["abort"]["reason"].int, r["abort"]["reason"].int, "\(p) abort reason")
        }

        // PDUs per direction. The observer counts every PDU (a PDU cut by a gap included); the
        // `--pdus` dump lists each with its direction, except a P-DATA-TF cut by a gap: its
        // PDVs are not there to list, and the stream-gap finding names it instead ("the
        // P-DATA-TF in progress has 134 of its 542 bytes", compared under partial_pdus).
        let partialPDUs = r["partial_pdus"].array
        for role in ["requestor", "acceptor"] {
            let reference = r["pdus"][role].counts
            c.equal(observer.pduCount[role == "requestor" ? .requestor : .acceptor], reference.values.reduce(0, +),
                    "\(p) pdus \(role) total")
            var listed = reference
            for partial in partialPDUs where partial["sender"].string == role && partial["type"].string == "P-DATA-TF" {
                listed["P-DATA-TF", default: 0] -= 1
            }
            listed = listed.filter { $0.value != 0 }
            let dumped = ours.dumpedPDUs[client]?[role] ?? [:]
            for type in Set(dumped.keys).union(listed.keys).sorted() {
                c.equal(dumped[type] ?? 0, listed[type] ?? 0, "\(p) pdus \(role) \(type)")
            }
        }

        // PDUs cut by a gap: sender, type, stream offset and bytes present, from the stream-gap
        // finding that names the PDU in progress.
        let cut = try Regex(#"the (\S+) in progress has (\d+) of its (\d+) bytes"#)
        var ourPartials: [String] = []
        for f in a["findings"].array where f["code"].string == "stream-gap" {
            guard let m = (f["message"].string ?? "").firstMatch(of: cut) else { continue }
            let present = Int(m.output[2].substring ?? "") ?? -1
            ourPartials.append("\(f["sender"].string ?? "?") \(m.output[1].substring ?? "") at \((f["streamOffset"].int ?? 0) - present): \(present) bytes")
        }
        c.equal(ourPartials, partialPDUs.map {
            "\($0["sender"].string ?? "?") \($0["type"].string ?? "?") at \($0["stream_offset"].int ?? -1): \($0["bytes_present"].int ?? -1) bytes"
        }, "\(p) partial_pdus")
        // partial_items ("item 0x20 at body offset 93: 31 of 125 bytes"): which items of a cut
        // A-ASSOCIATE were whole. The analyze output has no such list; what was read from the
        // whole items (contexts, max length, implementation) is compared above.

        // Exchanges, in the order of their requests.
        let exchanges = a["exchanges"].array
        c.equal(exchanges.count, r["exchanges"].array.count, "\(p) exchanges")
        for (i, (rx, ox)) in zip(r["exchanges"].array, exchanges).enumerated() {
            try compareExchange(rx, ox, association: a, path: "\(p) exchange \(i + 1)", &c)
        }

        // Findings the reference reader looks for, as many times as it finds them.
        let codes = a["findings"].array.compactMap { $0["code"].string }.filter(Self.referenceFindingCodes.contains)
        c.equal(codes.sorted(), r["findings"].strings.sorted(), "\(p) findings")

        // Command sets decoded, by name.
        let commands = OurAnalysis.commandCounts(a)
        for command in Set(commands.keys).union(r["dimse_commands"].keys).sorted() {
            c.equal(commands[command] ?? 0, r["dimse_commands"][command].int ?? 0, "\(p) dimse_commands \(command)")
        }

        // The reference reader's notes on this association.
        for note in r["notes"].strings {
            if note.hasSuffix("without a command set announcing it"), let sender = note.split(separator: ":").first {
                // A data set whose command set was lost in a gap: analyze reports the gap and
                // (by design) not the orphaned fragments after it; no exchange gets the data set
                // (pending and matches compared above).
                c.holds(a["findings"].array.contains { $0["code"].string == "stream-gap" && $0["sender"].string == String(sender) },
                        "\(p) notes", "'\(note)' without a stream gap from the \(sender)")
            } else {
                Issue.record("\(name): \(p): reader note of an unknown kind: \(note)")
            }
        }
    }

    func compareExchange(_ rx: JSONNode, _ ox: JSONNode, association a: JSONNode, path q: String,
                         _ c: inout FieldComparison) throws {
        for key in rx.keys { #expect(Self.exchangeFields.contains(key), "\(c.capture): manifest field '\(key)' of \(q) is not compared") }
        c.equal(ox["service"].string, rx["service"].string, "\(q) service")
        c.equal(ox["messageID"].int, rx["message_id"].int, "\(q) message_id")
        // The reference reader writes "" for a request without Affected SOP Class UID.
        c.equal(ox["sopClassUID"].string ?? "", rx["sop_class"].string, "\(q) sop_class")
        c.equal(ox["presentationContextID"].int, rx["context_id"].int, "\(q) context_id")
        // The negotiated transfer syntax of the request's context; null when it was not
        // negotiated in the capture (the reference reader records none; ours is inferred).
        let context = a["presentationContexts"].array.first { $0["id"].int == ox["presentationContextID"].int }
        let negotiated = context.flatMap { $0["transferSyntaxInferred"].bool == true ? nil : $0["transferSyntax"].string }
        c.equal(negotiated, rx["transfer_syntax"].string, "\(q) transfer_syntax")
        c.equal(!ox["request"].isNull, rx["request_has_dataset"].bool, "\(q) request_has_dataset")

        let responses = ox["responses"].array
        let pending = responses.filter { ["0xFF00", "0xFF01"].contains($0["status"].string ?? "") }
        let final = responses.last(where: { !["0xFF00", "0xFF01"].contains($0["status"].string ?? "") })
        c.equal(pending.count, rx["pending"].int, "\(q) pending")
        c.equal(ox["finalStatus"].string, rx["final_status"].string, "\(q) final_status")
        c.equal(final?["status"].string, rx["final_status"].string, "\(q) final response status")
        c.equal(final.map { !$0["identifier"].isNull || $0["identifierLost"].bool == true }, rx["final_has_dataset"].bool,
                "\(q) final_has_dataset")
        c.equal(ox["cancelled"].bool, rx["cancel_requested"].bool, "\(q) cancel_requested")

        // C-FIND only (the reference reader keeps identifiers of C-FIND exchanges).
        if rx.keys.contains("request_identifier") {
            c.equal(identifierSummary(ox["request"]), referenceSummary(rx["request_identifier"]), "\(q) request_identifier")
            // One entry per pending response whose data set arrived (one whose data set was
            // cut by a gap, `identifierLost`, has none in the reference reader's list either).
            let ourMatches = pending.filter { $0["identifierLost"].bool != true }.map { identifierSummary($0["identifier"]) }
            let theirMatches = rx["matches"].array.map(referenceSummary)
            c.equal(ourMatches.count, theirMatches.count, "\(q) matches")
            for (i, (o, t)) in zip(ourMatches, theirMatches).enumerated() {
                c.equal(o, t, "\(q) match \(i + 1)")
            }
        }
    }

    /// Bytes missing from a direction's stream: sender, offset and the packet before which they
    /// are missing from the analyze JSON's stream-gap findings; the length and why (the snapshot
    /// length cut the packet) from the reassembler, which the findings come from (the analyze
    /// output says how many bytes, not why).
    func compareStreamGaps(_ expected: JSONNode, ours: OurAnalysis, _ c: inout FieldComparison) throws {
        let findings = ours.associations.flatMap { a in
            a["findings"].array.filter { $0["code"].string == "stream-gap" }.map { (a, $0) }
        }
        c.equal(findings.count, expected.array.count, "stream_gaps")
        struct Reassembled { var sender: String; var gap: Gap; var packet: Int; var client: String }
        var reassembled: [Reassembled] = []
        for connection in ours.pipeline.collector.connections.values {
            for (stream, sender) in [(connection.toServer, "requestor"), (connection.toClient, "acceptor")] {
                for (gap, packet) in zip(stream.gaps, stream.gapPacketIndices) {
                    reassembled.append(Reassembled(sender: sender, gap: gap, packet: packet, client: connection.client.description))
                }
            }
        }
        for g in expected.array {
            let sender = g["sender"].string ?? "?", offset = g["offset"].int ?? -1
            let q = "stream gap \(sender) \(offset)"
            let finding = findings.first { $0.1["sender"].string == sender && $0.1["streamOffset"].int == offset }
            c.holds(finding != nil, q, "no stream-gap finding from the \(sender) at \(offset)")
            c.equal(finding?.1["packet"].int, g["before_frame"].int, "\(q) before_frame")
            let r = reassembled.first { $0.sender == sender && $0.gap.streamOffsets.lowerBound == offset
                && $0.client == finding?.0["client"].string }
            c.equal(r?.gap.length, g["length"].int, "\(q) length")
            let reason: String? = r == nil ? "no gap" : (r!.gap.reason == .notCaptured ? "snaplen" : nil)
            c.equal(reason, g["reason"].string, "\(q) reason")
        }
    }
}

// MARK: - tshark, live

/// tshark run now on every capture it decodes correctly (manifest: `tshark_agrees`), with the
/// command recorded in the manifest: its PDU types, complete command sets, and (from its PDML)
/// per association and direction the PDUs and the command sets with message ID and status,
/// compared with ours. (Deflated Explicit VR Little Endian: tshark 4.0 shows no C-FIND
/// responses; a lost segment or a snaplen cut: tshark 4.0 with out-of-order reassembly stops
/// decoding the direction. Those captures have `tshark_agrees: false`.)
@Suite(.cpuHeavy) struct TSharkCrossCheckTests {
    static var agreeing: [String] {
        SampleManifest.namesWhere { $0["tshark_agrees"].bool == true && $0["tshark"]["command"].string != nil }
    }

    struct Run {
        var status: Int32
        var stdout: String
    }

    /// tshark run in captures/, two at a time across the cases, without holding a thread while it runs.
    static func tshark(_ arguments: [String]) async throws -> Run {
        let run = try await runProgram(try #require(Peers.tshark), arguments, workingDirectory: AnalyzeCapturesTests.captures.path,
                                       slots: PeerSlots.programs)
        return Run(status: run.status, stdout: run.stdout)
    }

    /// One packet of tshark's PDML: its endpoints, PDU types, and command sets.
    struct Packet {
        var source = "", destination = ""
        var sourceHost: String?, destinationHost: String?
        var pdus: [String] = []
        var commands: [String] = []
    }

    static func packets(pdml: String) -> [Packet] {
        func show(_ line: Substring) -> String? {
            guard let start = line.range(of: "show=\"") else { return nil }
            let rest = line[start.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
        var packets: [Packet] = []
        var current: Packet?
        var sourcePort = "", destinationPort = ""
        func finish() {
            guard var p = current else { return }
            func endpoint(_ host: String?, _ port: String) -> String {
                guard let host else { return "?" }
                return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            }
            p.source = endpoint(p.sourceHost, sourcePort)
            p.destination = endpoint(p.destinationHost, destinationPort)
            packets.append(p)
        }
        for line in pdml.split(separator: "\n") {
            if line.contains("<packet>") {
                finish()
                current = Packet()
                sourcePort = ""
                destinationPort = ""
                continue
            }
            guard current != nil, let value = show(line) else { continue }
            if line.contains("name=\"ip.src\"") || line.contains("name=\"ipv6.src\"") {
                if current!.sourceHost == nil { current!.sourceHost = value }
            } else if line.contains("name=\"ip.dst\"") || line.contains("name=\"ipv6.dst\"") {
                if current!.destinationHost == nil { current!.destinationHost = value }
            } else if line.contains("name=\"tcp.srcport\""), sourcePort.isEmpty {
                sourcePort = value
            } else if line.contains("name=\"tcp.dstport\""), destinationPort.isEmpty {
                destinationPort = value
            } else if line.contains("name=\"dicom.pdu.type\""), let t = Int(value.dropFirst(2), radix: 16),
                      (1...7).contains(t) {
                current!.pdus.append(pduTypeNames[t - 1])
            } else if value.hasPrefix("(0000,0100)") {
                current!.commands.append(String(value.split(separator: " ").last ?? ""))
            } else if value.hasPrefix("(0000,0110)") || value.hasPrefix("(0000,0120)"), !current!.commands.isEmpty {
                current!.commands[current!.commands.count - 1] += " " + String(value.split(separator: " ").last ?? "")
            } else if value.hasPrefix("(0000,0900)"), !current!.commands.isEmpty,
                      let open = value.range(of: "(0x", options: .backwards),
                      let code = UInt16(value[open.upperBound...].prefix { $0.isHexDigit }, radix: 16) {
                current!.commands[current!.commands.count - 1] += " " + statusText(code)
            }
        }
        finish()
        return packets
    }

    @Test(.requires(.tshark), arguments: agreeing)
    func tsharkDecodesWhatAnalyzeDecodes(_ name: String) async throws {
        let entry = try SampleManifest.entry(name)
        let recorded = try #require(entry["tshark"]["command"].string)
        var words = recorded.split(separator: " ").map(String.init)
        try #require(words.first == "tshark", "unexpected command \(recorded)")
        words.removeFirst()
        let ours = try OurAnalysis(capture: name, ports: entry["dicom_ports"].array.compactMap(\.int))
        var c = FieldComparison(capture: name)

        // The recorded command: frame, PDU types, PDV flags (tab-separated, comma-aggregated).
        let fields = try await Self.tshark(words)
        c.equal(fields.status, Int32(entry["tshark"]["exit_status"].int ?? -1), "tshark exit status", by: "recorded")
        var types: [String: Int] = [:]
        var completeCommands = 0
        for line in fields.stdout.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            for t in columns.dropFirst().first?.split(separator: ",") ?? [] {
                if let v = Int(t.dropFirst(2), radix: 16), (1...7).contains(v) { types[pduTypeNames[v - 1], default: 0] += 1 }
            }
            for f in columns.dropFirst(2).first?.split(separator: ",") ?? [] {
                if let v = Int(f.dropFirst(2), radix: 16), v & 3 == 3 { completeCommands += 1 }
            }
        }
        var ourTypes: [String: Int] = [:]
        for (_, roles) in ours.dumpedPDUs { for (_, counts) in roles { ourTypes.merge(counts, uniquingKeysWith: +) } }
        c.equal(ourTypes, types, "tshark PDU types", by: "tshark")
        let ourCommands = ours.associations.reduce(0) { $0 + OurAnalysis.commandSets($1).count }
        c.equal(ourCommands, completeCommands, "tshark complete command sets (PDV flags 0x03)", by: "tshark")

        // The same run as PDML: per association and direction, PDUs and command sets.
        let pdmlArguments = Array(words[..<(words.firstIndex(of: "-T") ?? words.endIndex)]) + ["-T", "pdml"]
        let packets = Self.packets(pdml: try await Self.tshark(pdmlArguments).stdout)
        c.holds(packets.isEmpty == ours.associations.isEmpty, "tshark PDML",
                "tshark decodes \(packets.count) packets with DICOM, analyze reports \(ours.associations.count) associations")
        for p in packets where !ours.associations.contains(where: { $0["client"].string == p.source || $0["client"].string == p.destination }) {
            Issue.record("\(name): tshark decodes DICOM between \(p.source) and \(p.destination), analyze reports no association there")
        }
        for a in ours.associations {
            let client = a["client"].string ?? "?", server = a["server"].string ?? "?"
            let q = "tshark association \(client)"
            let ourSets = OurAnalysis.commandSets(a)
            for (role, from, to) in [("requestor", client, server), ("acceptor", server, client)] {
                let mine = packets.filter { $0.source == from && $0.destination == to }
                var theirPDUs: [String: Int] = [:]
                for t in mine.flatMap(\.pdus) { theirPDUs[t, default: 0] += 1 }
                c.equal(ours.dumpedPDUs[client]?[role] ?? [:], theirPDUs, "\(q) \(role) PDUs", by: "tshark")
                c.equal(ourSets.filter { $0.sender == role }.map(\.command).sorted(), mine.flatMap(\.commands).sorted(),
                        "\(q) \(role) command sets", by: "tshark")
            }
        }
        c.checkKnownIssuesUsed(tshark: true)
        print("tshark: \(name): \(c.count) fields compared")
    }
}
