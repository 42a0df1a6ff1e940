import Foundation
import Testing
@testable import DICOMProxy

/// The HTML report of `proxy --log-dir`: a page per association written when it ends and
/// `index.html` listing them, with DCMTK findscu/echoscu through the proxy to a pynetdicom
/// SCP or DCMTK storescp. Well-formedness and the absence of network resources are checked
/// with Python's html.parser (Peers/html_check.py).
@Suite(.peers, .requires(.dcmtk, .pynetdicom))
struct ProxyHTMLLogTests {
    static let checker = Peers.directory.appendingPathComponent("html_check.py").path

    struct Checked {
        var errors: [String]
        var hrefs: [String]
        var ladders: Int
    }

    /// html_check.py on `paths`.
    static func check(_ paths: [String], in dir: TemporaryDirectory) async throws -> [String: Checked] {
        let p = try Subprocess.python(script: checker, paths, name: "html-check", directory: dir)
        #expect(try await p.wait(timeout: .seconds(60)) == 0, "\(p.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: [String: Any]],
                                "\(p.stdout) \(p.stderr)")
        return json.mapValues { Checked(errors: $0["errors"] as? [String] ?? ["no errors field"], hrefs: $0["hrefs"] as? [String] ?? [],
                                        ladders: $0["ladders"] as? Int ?? 0) }
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The pages an index links to (not index-before-...), newest first.
    static func pageLinks(_ index: String) -> [String] {
        index.components(separatedBy: "<a href=\"").dropFirst().compactMap { part in
            let href = String(part.prefix { $0 != "\"" })
            return href.hasSuffix(".html") && !href.hasPrefix("index") ? href : nil
        }
    }

    static func permissions(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// findscu, then echoscu: a page each, both in the index (newest first), every file 0600,
    /// well-formed and with nothing from the network; the C-FIND page has the ladder and the exchange row.
    @Test func pagesAndIndexAsAssociationsEnd() async throws {
        let dir = try TemporaryDirectory("html-log")
        defer { dir.remove() }
        let logs = dir.file("logs")
        let scp = try Subprocess.python(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        try await withProxy(upstream: scpPort, configure: { $0.logDirectory = logs }) { proxy in
            // The index is there from the start, empty.
            #expect(Self.read(logs + "/index.html").contains("No association has ended yet."))
            let find = try Subprocess(Peers.findscu, ["-P", "-aet", "FINDSCU", "-aec", "QRSCP", "-k", "QueryRetrieveLevel=PATIENT",
                                                      "-k", "PatientName=", "-k", "PatientID=PID-7*", "127.0.0.1", String(proxy.port)],
                                      name: "findscu", directory: dir)
            #expect(try await find.wait() == 0, "\(find.stderr)")
            var links: [String] = []
            try await eventually("index.html to list the C-FIND association", timeout: .seconds(20)) {
                links = Self.pageLinks(Self.read(logs + "/index.html"))
                return links.count == 1
            }
            let findPage = logs + "/" + links[0]
            #expect(links[0].hasSuffix("-0001-FINDSCU-QRSCP.html"), "\(links)")
            // Named after the association's text log, beside it.
            #expect(FileManager.default.fileExists(atPath: findPage.replacingOccurrences(of: ".html", with: ".txt")))
            let page = Self.read(findPage)
            #expect(page.contains("<svg class=\"ladder\""))
            #expect(page.contains("C-FIND-RQ msg 1"), "the request's arrow")
            #expect(page.contains("class=\"ex\""), "the exchange's row")
            #expect(page.contains("PID-7*"), "the requested patient")
            #expect(page.contains("A-ASSOCIATE-RQ") && page.contains("A-RELEASE-RP"))
            #expect(page.contains("href=\"index.html\""))

            let echo = try Subprocess(Peers.echoscu, ["-aet", "ECHOSCU", "-aec", "QRSCP", "127.0.0.1", String(proxy.port)],
                                      name: "echoscu", directory: dir)
            #expect(try await echo.wait() == 0, "\(echo.stderr)")
            try await eventually("index.html to list both associations", timeout: .seconds(20)) {
                links = Self.pageLinks(Self.read(logs + "/index.html"))
                return links.count == 2
            }
            // Newest first.
            #expect(links[0].hasSuffix("-0002-ECHOSCU-QRSCP.html") && links[1].hasSuffix("-0001-FINDSCU-QRSCP.html"), "\(links)")
            let index = Self.read(logs + "/index.html")
            #expect(index.contains("badge released"))
            #expect(index.contains("“FINDSCU” → “QRSCP”") && index.contains("“ECHOSCU” → “QRSCP”"))

            let files = [logs + "/index.html"] + links.map { logs + "/" + $0 }
            for file in files { #expect(Self.permissions(file) == 0o600, "\(file)") }
            let checked = try await Self.check(files, in: dir)
            for (file, c) in checked {
                #expect(c.errors.isEmpty, "\(file): \(c.errors)")
                for href in c.hrefs where !href.hasPrefix("#") {
                    #expect(FileManager.default.fileExists(atPath: logs + "/" + href), "\(file) links to \(href)")
                }
            }
            #expect(checked[files[1]]?.ladders == 1 && checked[files[2]]?.ladders == 1)
            // No temporary file is left behind.
            let names = try FileManager.default.contentsOfDirectory(atPath: logs)
            #expect(!names.contains { $0.hasSuffix(".tmp") }, "\(names)")
        }

        // A restarted proxy keeps the previous index as index-before-... and links it.
        try await withProxy(upstream: scpPort, configure: { $0.logDirectory = logs }) { _ in
            let index = Self.read(logs + "/index.html")
            let names = try FileManager.default.contentsOfDirectory(atPath: logs)
            let previous = try #require(names.first { $0.hasPrefix("index-before-") }, "\(names)")
            #expect(index.contains("href=\"\(previous)\""))
            #expect(Self.pageLinks(Self.read(logs + "/" + previous)).count == 2)
        }
    }

    /// 3,000 C-ECHOs on one association (echoscu --repeat): one band on the page, which stays small.
    @Test func longAssociationIsOneBand() async throws {
        let dir = try TemporaryDirectory("html-long")
        defer { dir.remove() }
        let logs = dir.file("logs")
        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", dir.path, String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen") { try canConnect(port: scpPort) }
        try await withProxy(upstream: scpPort, configure: { $0.logDirectory = logs }) { proxy in
            let echo = try Subprocess(Peers.echoscu, ["--repeat", "3000", "127.0.0.1", String(proxy.port)], name: "echoscu", directory: dir)
            #expect(try await echo.wait(timeout: .seconds(300)) == 0, "\(echo.stderr)")
            var links: [String] = []
            try await eventually("index.html to list the association", timeout: .seconds(20)) {
                links = Self.pageLinks(Self.read(logs + "/index.html"))
                return links.count == 1
            }
            let path = logs + "/" + links[0]
            let page = Self.read(path)
            #expect(page.components(separatedBy: "class=\"bandrow\"").count - 1 == 1, "one band")
            #expect(page.contains("3000 × C-ECHO"))
            #expect(!page.contains("class=\"ex\""), "no exchange outside the band")
            #expect(page.contains("6000 messages"))
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            #expect(size < 64_000, "\(size) bytes")
            #expect(Self.read(logs + "/index.html").contains(">3000<"), "the exchange count in the index")
            let checked = try await Self.check([path], in: dir)
            #expect(checked[path]?.errors.isEmpty == true, "\(checked[path]?.errors ?? [])")
        }
    }

    /// With --redact-identifiers no HTML file holds the Patient ID (the text log still does: the
    /// check would see it).
    @Test func redactedPagesHoldNoPatientID() async throws {
        let dir = try TemporaryDirectory("html-redact")
        defer { dir.remove() }
        let logs = dir.file("logs")
        let scp = try Subprocess.python(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        try await withProxy(upstream: scpPort, configure: {
            $0.logDirectory = logs
            $0.redactIdentifiers = true
        }) { proxy in
            let find = try Subprocess(Peers.findscu, ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=Doe^John",
                                                      "-k", "PatientID=PID-7*", "127.0.0.1", String(proxy.port)],
                                      name: "findscu", directory: dir)
            #expect(try await find.wait() == 0, "\(find.stderr)")
            try await eventually("index.html to list the association", timeout: .seconds(20)) {
                Self.pageLinks(Self.read(logs + "/index.html")).count == 1
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: logs)
            let text = try #require(names.first { $0.hasSuffix(".txt") })
            #expect(Self.read(logs + "/" + text).contains("PID-7"), "the text log keeps it")
            let pages = names.filter { $0.hasSuffix(".html") }
            #expect(pages.count == 2)
            for page in pages {
                let html = Self.read(logs + "/" + page)
                #expect(!html.contains("PID-"), "\(page)")
                #expect(!html.contains("Doe^John"), "\(page)")
            }
            let page = Self.read(logs + "/" + (pages.first { $0 != "index.html" } ?? ""))
            #expect(page.contains("(redacted)") && page.contains("C-FIND-RQ msg 1"))
        }
    }
}
