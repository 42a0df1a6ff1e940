import Foundation
import Testing

/// `dicomtap replay --to ... --format html` loaded in headless Chromium by tools/render_report.sh (--html):
/// a session recorded through the proxy (C-ECHO, RPI General C-FIND, Patient Root C-FIND with 25 matches)
/// replayed against the same pynetdicom SCP (every request matched) and against one whose answers carry
/// markup, quotes and an ampersand (differences, shown as text, never as markup), under the calling AE
/// title `<b>EVIL</b>`.
@Suite(.peers, .requires(.pynetdicom, .dicomtap, .chromium), .serialized)
struct ReplayHTMLTests {
    struct Rendered {
        var html: String
        var dom: String
        var distinctBytes: Int
    }

    /// tools/render_report.sh --html on a page, into `dir`/`name`.
    static func render(_ page: String, name: String, in dir: TemporaryDirectory) async throws -> Rendered {
        let script = Peers.repository.appendingPathComponent("tools/render_report.sh").path
        let out = dir.file(name)
        let p = try Subprocess("/bin/bash", [script, "--html", page, out], name: "render-\(name)", directory: dir,
                               environment: ["CHROMIUM": Peers.chromium ?? "chromium"])
        let status = try await p.wait(timeout: peerMargin)
        try #require(status == 0, "render_report.sh: \(p.stderr)")
        let fields = p.stdout.split(separator: "\n").last?.split(separator: " ") ?? []
        try #require(fields.count == 4 && fields[0] == "png", "render_report.sh said: \(p.stdout)")
        return Rendered(html: try String(contentsOfFile: out + "/report.html", encoding: .utf8),
                        dom: try String(contentsOfFile: out + "/report.dom.html", encoding: .utf8),
                        distinctBytes: Int(fields[3]) ?? 0)
    }

    /// `dicomtap replay ARGS --format html` into `dir`/`name`.html: its exit status and the page's path.
    static func replayHTML(_ arguments: [String], name: String, in dir: TemporaryDirectory) async throws -> (Int32, String) {
        let p = try Subprocess(Peers.dicomtap, ["replay"] + arguments + ["--format", "html"], name: name, directory: dir)
        let status = try await p.wait(timeout: peerMargin)
        #expect(p.stderr.isEmpty, "\(p.stderr)")
        let page = dir.file(name + ".html")
        try p.stdout.write(toFile: page, atomically: true, encoding: .utf8)
        return (status, page)
    }

    /// The table rows of the requests (`<tr class="matched|differs|skipped" id="xN">`).
    static func requestRows(_ dom: String) -> [String] {
        dom.components(separatedBy: "<tr class=\"").dropFirst().filter { $0.contains("\" id=\"x") }
            .map { String($0.prefix { $0 != "\"" }) }
    }

    @Test func replayReportInABrowser() async throws {
        let dir = try TemporaryDirectory("replay-html")
        defer { dir.remove() }
        let scp = try Subprocess.replayPeer(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.listeningPort()
        let capture = try await recordThroughProxy(upstream: scpPort, directory: dir) { proxyPort in
            let scu = try Subprocess.replayPeer(["session", String(proxyPort)], name: "session", directory: dir)
            #expect(try await scu.wait(timeout: peerMargin) == 0)
        }

        // The same SCP: one association, three requests, all matched.
        let (matchedStatus, matchedPage) = try await Self.replayHTML([capture, "--to", "127.0.0.1:\(scpPort)"], name: "matched", in: dir)
        #expect(matchedStatus == 0)
        let matched = try await Self.render(matchedPage, name: "matched-out", in: dir)
        #expect(matched.dom.contains("<h1>DICOMTap replay</h1>"))
        #expect(matched.dom.contains(#"<span class="badge success">matched</span> matched: 3 requests as recorded"#), "\(matched.dom)")
        #expect(matched.dom.components(separatedBy: #"<section class="assoc""#).count == 2, "one section per association")
        #expect(Self.requestRows(matched.dom) == ["matched", "matched", "matched"])
        #expect(matched.dom.contains("C-FIND-RQ") && matched.dom.contains("C-ECHO-RQ"))
        #expect(matched.dom.contains("25 pending + "), "the Patient Root C-FIND's 25 matches")
        #expect(!matched.dom.contains("<table class=\"diffs\""), "no difference table when all matched")
        #expect(matched.dom.components(separatedBy: "<script").count == 1, "the replay page has no script")
        #expect(matched.distinctBytes > 64, "the screenshot looks blank")

        // An SCP whose answers carry markup, quotes and an ampersand, replayed as `<b>EVIL</b>`.
        let hostileSCP = try Subprocess.replayPeer(["scp", "--variant", "hostile"], name: "scp-hostile", directory: dir)
        defer { hostileSCP.stop() }
        let hostilePort = try await hostileSCP.listeningPort()
        let (status, page) = try await Self.replayHTML([capture, "--to", "127.0.0.1:\(hostilePort)", "--calling-ae", "<b>EVIL</b>"],
                                                       name: "hostile", in: dir)
        #expect(status == 1, "differences: exit status 1")
        let hostile = try await Self.render(page, name: "hostile-out", in: dir)
        #expect(Self.requestRows(hostile.dom) == ["matched", "differs", "differs"])
        #expect(hostile.dom.contains(#"<span class="badge warning">differences</span>"#))
        #expect(hostile.dom.contains(#"<table class="diffs">"#))
        #expect(hostile.dom.contains("(0010,0010) PatientName"), "the element path of the difference")
        #expect(hostile.dom.contains(#"<span class="was">PN [Doe^John]</span>"#), "recorded value, marked as such")
        #expect(hostile.dom.contains(#"<span class="now">PN [&lt;script&gt;alert(1)&lt;/script&gt;]</span>"#), "replayed value, as text")
        #expect(hostile.dom.contains(#"say "no" &amp; 'never' &lt;img src=x&gt;"#), "quotes and markup in a name, as text")
        #expect(hostile.dom.contains("“&lt;b&gt;EVIL&lt;/b&gt;” → “ARCHIVE”"), "the calling AE title, as text")
        #expect(!hostile.dom.contains("<b>"), "the AE title must not become a <b> element")
        #expect(!hostile.dom.contains("<script"), "no script from the peer")
        #expect(!hostile.dom.contains("<img"), "no element from the peer")
        #expect(!hostile.html.contains("<b>") && !hostile.html.contains("<script") && !hostile.html.contains("\"no\""),
                "the page escapes attributes and text alike")
        #expect(hostile.distinctBytes > 64, "the screenshot looks blank")
    }
}
