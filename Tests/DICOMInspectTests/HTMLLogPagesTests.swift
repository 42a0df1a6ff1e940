import DICOMCore
import Foundation
import Testing
@testable import DICOMInspect

/// `--log-dir`'s HTML pages (`HTMLLogPages`): the index is bounded, files are written whole and
/// private, and redaction happens before anything is kept.
@Suite struct HTMLLogPagesTests {
    static func section(_ n: Int, patientID: String = "1234567", redact: Bool = false) -> HTMLAssociationSection {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1, patientID: patientID)
        a.respond(to: 1, status: 0x0000)
        var summary = HTMLAssociationSummary()
        summary.redactsIdentifiers = redact
        for e in a.events { summary.observe(e) }
        let origin = Timestamp(seconds: 1_800_000_000 + Double(n))
        return HTMLAssociationSection(index: n, input: nil, client: "127.0.0.1:5000\(n)", server: "127.0.0.1:104",
                                      info: a.observer.info, findings: [], origin: origin, end: origin, summary: summary)
    }

    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "dicomtap-pages-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func theIndexKeepsTheMostRecentRowsAndCountsTheOthers() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pages = HTMLLogPages(directory: dir, tool: "test", maximumRows: 3, interval: .zero)
        for n in 1...5 { pages.associationEnded(Self.section(n), id: "000\(n)", fileName: "page-\(n).html") }
        pages.flush()
        let index = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(index.contains("5 associations ended since the start; the 3 most recent are listed"))
        #expect(index.contains("href=\"page-5.html\"") && index.contains("href=\"page-3.html\""))
        #expect(!index.contains("href=\"page-2.html\""))
        // Every page is written, also those no longer listed; nothing temporary is left.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["index.html", "page-1.html", "page-2.html", "page-3.html", "page-4.html", "page-5.html"])
        for name in names {
            let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600, "\(name)")
        }
        let page = try String(contentsOfFile: dir + "/page-5.html", encoding: .utf8)
        #expect(page.contains("<svg class=\"ladder\"") && page.contains("1234567"))
        #expect(page.hasSuffix("</html>\n"))
    }

    /// AE titles come from the network: text in the index and on the page, never markup.
    @Test func hostileAETitlesAreText() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pages = HTMLLogPages(directory: dir, tool: "test", interval: .zero)
        var section = Self.section(1)
        section.info.callingAETitle = "<b>EVIL</b>"
        section.info.calledAETitle = "\"><script>x</script>"
        pages.associationEnded(section, id: "0001", fileName: "page.html")
        pages.flush()
        for name in ["index.html", "page.html"] {
            let html = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            #expect(html.contains("&lt;b&gt;EVIL&lt;/b&gt;"), "\(name)")
            #expect(!html.contains("<b>EVIL") && !html.contains("<script>x"), "\(name)")
        }
    }

    @Test func redactionHappensBeforeTheRowsAreKept() {
        let section = Self.section(1, patientID: "SECRET-42", redact: true)
        var w = HTMLWriter()
        section.write(into: &w)
        #expect(!w.string.contains("SECRET-42"))
        #expect(w.string.contains("(redacted)"))
        #expect(redactingQuotedValues("no match for '12345' in 'X'") == "no match for '(redacted)' in '(redacted)'")
    }
}
