import DICOMCore
import DIMSE
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

    /// Runs of a few alike exchanges each make a band; bands count toward the row limit like rows,
    /// so an association alternating between two kinds keeps at most `maximumRows` + 1 rows.
    @Test func runsOfAFewAlikeExchangesStayWithinTheRowLimit() {
        var a = SyntheticAssociation()
        a.associate()
        var summary = HTMLAssociationSummary()
        summary.maximumRows = 50
        for e in a.events { summary.observe(e) }
        var seen = a.events.count
        for n in 0..<2_000 {
            let id = UInt16(n % 60_000 + 1)
            a.find(id: id)
            a.respond(to: id, status: (n / 4) % 2 == 0 ? 0x0000 : 0xC000)
            for e in a.events[seen...] { summary.observe(e) }
            seen = a.events.count
        }
        #expect(summary.exchangeCount == 2_000)
        #expect(summary.rows.count <= 51, "\(summary.rows.count) rows")
    }

    /// An Error Comment is an SCP's free text (it may name the patient): redacted whole.
    @Test func errorCommentsAreRedacted() {
        var a = SyntheticAssociation()
        a.associate()
        a.find(id: 1)
        a.message(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: 1, status: 0xC000, affectedSOPClassUID: SyntheticAssociation.rpi,
                                               errorComment: "Patient 98765432 not found")), dataSet: nil, from: .acceptor)
        var summary = HTMLAssociationSummary()
        summary.redactsIdentifiers = true
        for e in a.events { summary.observe(e) }
        let origin = Timestamp(seconds: 1_800_000_000)
        let section = HTMLAssociationSection(index: 1, input: nil, client: "127.0.0.1:5000", server: "127.0.0.1:104",
                                             info: a.observer.info, findings: [], origin: origin, end: origin, summary: summary)
        var w = HTMLWriter()
        section.write(into: &w)
        #expect(!w.string.contains("98765432"))
    }

    /// An association the proxy itself refused or aborted says so on its page and in the index (the
    /// observer never sees the proxy's own A-ASSOCIATE-RJ or A-ABORT).
    @Test func theToolsOwnOutcomeIsShown() throws {
        var section = Self.section(1)
        section.toolOutcome = "rejected by the proxy (calling-ae-not-allowed)"
        #expect(section.outcome == "rejected")
        var w = HTMLWriter()
        section.write(into: &w)
        #expect(w.string.contains("rejected by the proxy (calling-ae-not-allowed)"))
        #expect(w.string.contains(#"data-outcome="rejected""#))
    }
}
