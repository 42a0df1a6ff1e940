import Foundation
import Testing

/// `dicomtap analyze --format html` loaded in headless Chromium by tools/render_report.sh (the
/// script that makes the README's screenshot): the DOM after load is checked against the JSON
/// report of the same captures, and the screenshot against a blank page.
@Suite(.requires(.dicomtap, .chromium), .peers)
struct HTMLReportTests {
    struct Rendered {
        var dom: String
        var pngWidth: Int
        var distinctBytes: Int
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String, String) {
        let run = try await AnalyzeCommandTests.run(executable, arguments, environment: environment)
        return (run.status, run.stdout, run.stderr)
    }

    static func analyze(_ arguments: [String]) async throws -> String {
        let (status, out, err) = try await run(Peers.dicomtap, ["analyze"] + arguments)
        #expect(status == 0, "\(err)")
        return out
    }

    /// tools/render_report.sh on `captures`, into a fresh folder.
    static func render(_ captures: [String], directory: TemporaryDirectory) async throws -> Rendered {
        let script = AnalyzeCapturesTests.root.appendingPathComponent("tools/render_report.sh").path
        let (status, out, err) = try await run("/bin/bash", [script, directory.url.path] + captures,
                                         environment: ["DICOMTAP": Peers.dicomtap, "CHROMIUM": Peers.chromium ?? "chromium"])
        try #require(status == 0, "render_report.sh: \(err)")
        let dom = try String(contentsOfFile: directory.url.appendingPathComponent("report.dom.html").path, encoding: .utf8)
        let fields = out.split(separator: "\n").last?.split(separator: " ") ?? []
        try #require(fields.count == 4 && fields[0] == "png", "render_report.sh said: \(out)")
        return Rendered(dom: dom, pngWidth: Int(fields[1]) ?? 0, distinctBytes: Int(fields[3]) ?? 0)
    }

    /// The DOM of each association's section, by association number.
    static func sections(_ dom: String) -> [Int: String] {
        var out: [Int: String] = [:]
        for piece in dom.components(separatedBy: "<section class=\"assoc\" id=\"a").dropFirst() {
            guard let n = Int(piece.prefix { $0.isNumber }) else { continue }
            out[n] = piece.components(separatedBy: "</section>").first ?? piece
        }
        return out
    }

    /// The messages the ladder's arrows and bands stand for (`data-n` of DIMSE arrows and bands).
    static func drawnMessages(_ section: String) -> Int {
        let regex = try! NSRegularExpression(pattern: #"<g class="(?:msg dimse|band)[^"]*" data-n="(\d+)""#)
        let range = NSRange(section.startIndex..., in: section)
        return regex.matches(in: section, range: range).reduce(0) { total, m in
            total + (Range(m.range(at: 1), in: section).flatMap { Int(section[$0]) } ?? 0)
        }
    }

    /// Only `&`, `<`, `>`, as Chromium's DOM serialiser writes text (not `HTMLWriter.escape`, which also escapes
    /// quotes and control characters).
    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Patient ID (0010,0020) of a request as the JSON report gives it (an identifier, or a C-STORE's summary).
    static func patientID(_ request: Any?) -> String? {
        guard let object = request as? [String: Any] else { return nil }
        if let summary = object["summary"] as? [String: Any] { return summary["patientID"] as? String }
        return ((object["00100020"] as? [String: Any])?["Value"] as? [Any])?.first as? String
    }

    @Test func shippedCapturesInABrowser() async throws {
        let captures = AnalyzeCapturesTests.manifest().map { "captures/" + $0.name }
        let dir = try TemporaryDirectory()
        let rendered = try await Self.render(captures, directory: dir)
        let json = try JSONSerialization.jsonObject(with: Data(try await Self.analyze(["--format", "json"] + captures).utf8)) as? [String: Any]
        let associations = json?["associations"] as? [[String: Any]] ?? []
        try #require(!associations.isEmpty)
        let sections = Self.sections(rendered.dom)
        #expect(sections.count == associations.count)
        #expect(rendered.dom.components(separatedBy: "<svg class=\"ladder\"").count - 1 == associations.count, "one ladder per association")
        #expect(rendered.dom.contains("<svg class=\"timeline\""))
        for a in associations {
            let index = a["index"] as? Int ?? 0
            guard let section = sections[index] else { Issue.record("no section for association \(index)"); continue }
            #expect(section.components(separatedBy: "<svg class=\"ladder\"").count == 2, "association \(index)")
            let exchanges = a["exchanges"] as? [[String: Any]] ?? []
            let messages = exchanges.reduce(0) { total, ex in
                total + 1 + ((ex["responses"] as? [Any])?.count ?? 0) + ((ex["cancelled"] as? Bool) == true ? 1 : 0)
            }
            #expect(Self.drawnMessages(section) == messages, "association \(index): arrows for \(messages) messages")
            for ex in exchanges {
                if let status = ex["finalStatus"] as? String { #expect(section.contains(status), "association \(index): \(status)") }
                if let id = Self.patientID(ex["request"]), !id.isEmpty, id != "*" {
                    #expect(section.contains(Self.escaped(id)), "association \(index): patient \(id)")
                }
            }
            switch a["outcome"] as? String {
            case "released": #expect(section.contains("A-RELEASE-RQ") && section.contains("A-RELEASE-RP"))
            case "rejected": #expect(section.contains("A-ASSOCIATE-RJ"))
            case "aborted": #expect(section.contains("A-ABORT"))
            default: break
            }
        }
        #expect(rendered.pngWidth == 1280)
        #expect(rendered.distinctBytes > 64, "the screenshot looks blank (\(rendered.distinctBytes) distinct byte values)")
    }

    @Test func hostileTextIsShownAsTextNeverAsMarkup() async throws {
        let dir = try TemporaryDirectory()
        let capture = try dir.write("hostile.pcap", SyntheticCaptures.hostile())
        let rendered = try await Self.render([capture], directory: dir)
        // Chromium writes attribute values with only `&` and `"` escaped: leave them out to see the elements and text.
        let dom = rendered.dom.replacingOccurrences(of: #"="[^"]*""#, with: "=\"\"", options: .regularExpression)
        #expect(dom.contains("&lt;b&gt;EVIL&lt;/b&gt;"), "the calling AE title, as text")
        #expect(!dom.contains("<b>"), "the calling AE title must not become a <b> element")
        #expect(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the patient's name, as text")
        #expect(dom.contains("&lt;i&gt;42&lt;/i&gt;"), "the patient ID, as text")
        #expect(!dom.contains("<script>alert"), "no script from the capture")
        #expect(!dom.contains("<i>"), "no element from the capture")
        #expect(!dom.contains("<img"), "no element from the Error Comment")
        #expect(dom.contains(#"say "no" &amp; 'never' &lt;img src=x&gt;"#), "the Error Comment, quotes and all, as text")
        #expect(dom.components(separatedBy: "<script").count == 2, "only the report's own script")
        // The attributes that hold the same text (the filter's data-filter) were not broken out of.
        #expect(rendered.dom.contains(#"data-filter="<b>evil</b> archive"#) || rendered.dom.contains(#"data-filter="&lt;b&gt;evil&lt;/b&gt; archive"#))
        let html = try String(contentsOfFile: dir.url.appendingPathComponent("report.html").path, encoding: .utf8)
        #expect(!html.contains("<b>") && !html.contains("<script>alert") && !html.contains("\"no\""), "report.html escapes attributes too")
    }

    @Test func moveIsLinkedToTheAssociationThatCarriedItsSubOperations() async throws {
        let dir = try TemporaryDirectory()
        let capture = try dir.write("move.pcap", SyntheticCaptures.move())
        let text = try await Self.analyze([capture])
        #expect(text.contains("=== Retrievals across associations"))
        #expect(text.contains(#"association 1 C-MOVE msg 7 "MOVESCU" -> "QRSCP" to "STORESCP", 0x0000: sub-operations to STORESCP on association 2 (2 C-STOREs)"#),
                "\(text)")
        #expect(text.contains("association 1 C-MOVE msg 8") && text.contains("no association to NOWHERE was seen"), "\(text)")

        let json = try JSONSerialization.jsonObject(with: Data(try await Self.analyze(["--format", "json", capture]).utf8)) as? [String: Any]
        let retrievals = json?["retrievals"] as? [[String: Any]] ?? []
        try #require(retrievals.count == 2, "\(String(describing: json))")
        let carried = retrievals[0]["carriedOn"] as? [[String: Any]] ?? []
        #expect(carried.first?["association"] as? Int == 2)
        #expect(carried.first?["stores"] as? Int == 2)
        #expect(carried.first?["evidence"] as? String == "move-originator")
        #expect(retrievals[1]["destinationUnknown"] as? Bool == true)
        #expect(retrievals[1]["finalStatus"] as? String == "0xA801")

        let summary = try await Self.analyze(["--summary", capture])
        #expect(summary.contains("C-MOVE          2   linked to their sub-operations' association 1, "
                                 + "refused 0xA801 with no association to the destination 1, not linked otherwise 0"), "\(summary)")

        let rendered = try await Self.render([capture], directory: dir)
        #expect(rendered.dom.contains("Retrievals across associations"))
        #expect(rendered.dom.contains(##"<a href="#a2">association 2</a>"##))
        #expect(rendered.dom.contains("no association to NOWHERE was seen"))
        #expect(rendered.dom.contains("sub-operation of MOVESCU's C-MOVE msg 7"))
    }
}
