import DICOMCore
import DICOMInspect
import DICOMPeerSupport
import DICOMUL
import Foundation
import Testing
@testable import DICOMCapture

/// `dicomtap analyze` on every sample capture in `captures/` (recorded with pynetdicom 3.0.4,
/// DCMTK 3.6.7 and dumpcap by tools/make_captures.py): the text and JSON outputs equal the
/// committed golden files, on one thread and on workers. That the goldens are right is checked
/// elsewhere: field by field against the independent reference reader's facts in
/// `captures/manifest.json` and against a live tshark run (ReferenceReaderTests.swift).
@Suite(.cpuHeavy) struct AnalyzeCapturesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let captures = root.appendingPathComponent("captures")

    struct Manifest: Decodable {
        let captures: [Capture]
    }
    struct Capture: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let dicom_ports: [Int]
        var description: String { name }
    }

    static func manifest() -> [Capture] {
        guard let data = FileManager.default.contents(atPath: captures.appendingPathComponent("manifest.json").path),
              let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
        return m.captures
    }

    static func analyze(_ capture: Capture, keepEvents: Bool = false) throws -> (CaptureAnalyzer, [CaptureAnalyzer.Association]) {
        var config = CaptureAnalyzer.Configuration()
        config.dicomPorts.formUnion(capture.dicom_ports.map { UInt16($0) })
        config.keepEvents = keepEvents
        config.observer.keepsExchanges = true
        let box = Box()
        let analyzer = try CaptureAnalyzer.analyze(path: captures.appendingPathComponent(capture.name).path,
                                                   configuration: config) { box.items.append($0) }
        return (analyzer, box.items)
    }

    final class Box: @unchecked Sendable { var items: [CaptureAnalyzer.Association] = [] }

    @Test func everySampleCaptureIsListed() {
        #expect(Self.manifest().count >= 25)
    }

    /// Where tshark 4.0 fails (Deflated Explicit VR LE responses), we still read every response.
    @Test func deflatedResponsesThatTSharkCannotRead() throws {
        let capture = try #require(Self.manifest().first { $0.name == "deflated.pcapng" })
        let (_, associations) = try Self.analyze(capture)
        let find = try #require(associations.first?.observer.exchanges.first)
        #expect(find.request.transferSyntax?.isDeflated == true)
        #expect(find.matches.count == 3)
        #expect(find.finalResponse?.status?.code == 0)
    }

    /// Both the one-thread analyzer and the worker threads (`dicomtap analyze --threads N`) print the golden output.
    @Test(arguments: manifest(), [1, 3])
    func textAndJSONEqualTheGoldenFiles(_ capture: Capture, workers: Int) throws {
        for format in [AnalysisReportWriter.Format.text, .json] {
            final class Out: @unchecked Sendable { var text = "" }
            let out = Out()
            let writer = AnalysisReportWriter(format: format) { out.text += $0 }
            var config = CaptureAnalyzer.Configuration()
            config.keepEvents = format == .text
            writer.begin(inputs: ["captures/" + capture.name])
            let analyzer = try writer.analyze(path: Self.captures.appendingPathComponent(capture.name).path,
                                              name: "captures/" + capture.name,
                                              configuration: config, workers: workers)
            writer.warnings(analyzer.warnings, file: "captures/" + capture.name)
            writer.end()
            let golden = Self.captures.appendingPathComponent("expected/\(capture.name).\(format == .json ? "json" : "txt")")
            let expected = String(decoding: FileManager.default.contents(atPath: golden.path) ?? Data(), as: UTF8.self)
            #expect(out.text == expected, "\(capture.name) \(format) \(workers) workers: output differs from \(golden.lastPathComponent) (tools/update_goldens.sh)")
        }
    }

    /// Many associations through the worker threads: every one handed over once, in start order,
    /// with the same observations as on one thread.
    @Test func workersKeepStartOrderAndObserveTheSame() throws {
        let capture = try #require(Self.manifest().first { $0.name == "concurrent.pcapng" })
        let path = Self.captures.appendingPathComponent(capture.name).path
        let renderer = AnalysisRenderer(format: .json)
        var rendering = CaptureAnalyzer.Configuration()
        rendering.renderer = renderer
        var sequential: [String] = []
        _ = try CaptureAnalyzer.analyze(path: path, configuration: rendering, workers: 1,
                                        prepare: { "\($0.index) " + Self.text(renderer.render($0)) },
                                        consume: { sequential.append($0) })
        for workers in [2, 4, 7] {
            final class Seen: @unchecked Sendable { var items: [String] = [] }
            let seen = Seen()
            let analyzer = try CaptureAnalyzer.analyze(path: path, configuration: rendering, workers: workers,
                                                       prepare: { "\($0.index) " + Self.text(renderer.render($0)) },
                                                       consume: { seen.items.append($0) })
            #expect(seen.items == sequential, "\(workers) workers")
            #expect(analyzer.warnings.isEmpty)
        }
        #expect(sequential.count >= 2)
    }

    /// An association still open while too many later ones completed does not hold them back:
    /// they are handed over first, it follows when it completes, and a warning says so.
    @Test func associationOpenTooLongIsReportedLate() throws {
        let capture = try #require(Self.manifest().first { $0.name == "concurrent.pcapng" })
        let path = Self.captures.appendingPathComponent(capture.name).path
        var config = CaptureAnalyzer.Configuration()
        var inOrder: [Int] = []
        _ = try CaptureAnalyzer.analyze(path: path, configuration: config, workers: 1,
                                        prepare: { $0.index }, consume: { inOrder.append($0) })
        #expect(inOrder == Array(1...inOrder.count))
        config.maxWaitingAssociations = 1
        var handed: [Int] = []
        let analyzer = try CaptureAnalyzer.analyze(path: path, configuration: config, workers: 1,
                                                   prepare: { $0.index }, consume: { handed.append($0) })
        #expect(handed.sorted() == inOrder, "every association exactly once")
        #expect(handed != inOrder, "concurrent.pcapng has an association that completes after a later one")
        let warning = analyzer.warnings.first { $0.message.contains("reported after them") }
        #expect(warning != nil, "\(analyzer.warnings)")
    }

    /// With many workers, associations that closed but are still on their way from a worker are
    /// waited for, not reported late: 256 associations one after the other (made by
    /// tools/make_big_capture.py from real peers' streams) come out in order through 2 to 40
    /// workers even with a reorder bound of 4.
    @Test(arguments: [2, 40])
    func manyWorkersKeepStartOrder(workers: Int) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("order-\(getpid())-\(workers)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sequential.pcap").path
        let make = try await runProgram(Peers.python ?? "/usr/bin/python3", [Self.root.appendingPathComponent("tools/make_big_capture.py").path,
                                                                            path, "--mb", "1", "--concurrent", "1"])
        try #require(make.status == 0, "\(make.stderr)")
        var config = CaptureAnalyzer.Configuration()
        config.maxWaitingAssociations = 4
        var handed: [Int] = []
        let analyzer = try CaptureAnalyzer.analyze(path: path, configuration: config, workers: workers,
                                                   prepare: { $0.index }, consume: { handed.append($0) })
        #expect(handed.count == 256)
        #expect(handed == Array(1...handed.count))
        #expect(analyzer.warnings.isEmpty, "\(analyzer.warnings)")
    }

    static func text(_ piece: AnalysisRenderer.Piece?) -> String {
        switch piece {
        case .json(let t), .text(let t), .html(let t, _): return t
        case .counted: return "counted"
        case nil: return "filtered"
        }
    }

    @Test func notACaptureIsAnError() throws {
        let path = Self.captures.appendingPathComponent("rpi-cfind-response.dcm").path
        #expect(throws: CaptureError.self) { try CaptureAnalyzer.analyze(path: path) { _ in } }
    }

    @Test func noDICOMNamesThePortsSeen() throws {
        let capture = try #require(Self.manifest().first { $0.name == "no_dicom.pcapng" })
        let (analyzer, associations) = try Self.analyze(capture)
        #expect(associations.isEmpty)
        #expect(analyzer.warnings.contains { $0.message.contains("8080") })
    }

    @Test func truncatedCaptureReportsWhatCameBeforeTheCut() throws {
        let capture = try #require(Self.manifest().first { $0.name == "truncated.pcapng" })
        let (analyzer, associations) = try Self.analyze(capture)
        #expect(associations.count == 1)
        #expect(analyzer.warnings.contains { $0.message.contains("truncated") && $0.packet != nil })
    }
}

/// The `--association`, `--service` and `--patient-id` filters and the summary table.
@Suite struct AnalyzeFilterTests {
    final class Out: @unchecked Sendable { var text = "" }

    func run(_ name: String, format: AnalysisReportWriter.Format, filter: AnalysisReportWriter.Filter) throws -> String {
        let out = Out()
        let writer = AnalysisReportWriter(format: format, filter: filter) { out.text += $0 }
        writer.begin(inputs: [name])
        let analyzer = try writer.analyze(path: AnalyzeCapturesTests.captures.appendingPathComponent(name).path,
                                          name: name, configuration: CaptureAnalyzer.Configuration())
        writer.warnings(analyzer.warnings, file: name)
        writer.end()
        return out.text
    }

    func associations(_ json: String) -> [[String: Any]] {
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["associations"] as? [[String: Any]] ?? []
    }

    @Test func serviceFilterKeepsOnlyThatService() throws {
        // dcmtk_find_store: one association of C-STOREs, one with a C-FIND.
        let all = associations(try run("dcmtk_find_store.pcapng", format: .json, filter: .init()))
        #expect(all.count == 2)
        let stores = associations(try run("dcmtk_find_store.pcapng", format: .json, filter: .init(service: "C-STORE")))
        #expect(stores.count == 1)
        let exchanges = stores.first?["exchanges"] as? [[String: Any]] ?? []
        #expect(exchanges.count == 3)
        #expect(exchanges.allSatisfy { $0["service"] as? String == "C-STORE" })
        #expect(exchanges.allSatisfy { $0["affectedSOPInstanceUID"] is String })
        let text = try run("dcmtk_find_store.pcapng", format: .text, filter: .init(service: "C-FIND"))
        #expect(text.contains("C-FIND-RQ") && !text.contains("C-STORE-RQ"))
    }

    @Test func associationFilter() throws {
        let second = associations(try run("concurrent.pcapng", format: .json, filter: .init(association: 2)))
        #expect(second.count == 1)
        #expect(second.first?["index"] as? Int == 2)
    }

    @Test func patientIDFilterLooksInRequestsAndResponses() throws {
        #expect(associations(try run("rpi_general_one_match.pcapng", format: .json, filter: .init(patientID: "1234567"))).count == 1)
        #expect(associations(try run("rpi_general_one_match.pcapng", format: .json, filter: .init(patientID: "7654321"))).isEmpty)
        let text = try run("rpi_general_one_match.pcapng", format: .text, filter: .init(patientID: "7654321"))
        #expect(text.hasPrefix("No association matches."))
    }

    @Test func summaryTableHasServiceResponseTimes() throws {
        let text = try run("concurrent.pcapng", format: .summary, filter: .init())
        #expect(text.contains("Associations: 4"))
        #expect(text.contains("released     4"))
        #expect(text.contains("C-FIND          0x0000      4"))
        #expect(text.contains("Service response time"))
        #expect(text.contains("C-ECHO"))
    }

    @Test func jsonContractFields() throws {
        let json = try run("rpi_multiple_matches.pcapng", format: .json, filter: .init())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["inputs"] as? [String] == ["rpi_multiple_matches.pcapng"])
        #expect(object["warnings"] is [Any])
        let a = try #require(associations(json).first)
        for key in ["index", "client", "server", "callingAETitle", "calledAETitle", "startTime", "endTime", "outcome", "reject",
                    "abort", "maxPDULength", "presentationContexts", "exchanges", "findings"] {
            #expect(a.keys.contains(key), "missing \(key)")
        }
        let ex = try #require((a["exchanges"] as? [[String: Any]])?.first)
        for key in ["service", "messageID", "presentationContextID", "sopClassUID", "priority", "request", "responses",
                    "cancelled", "finalStatus", "requestTime", "durationMs"] {
            #expect(ex.keys.contains(key), "missing \(key)")
        }
        #expect(ex["finalStatus"] as? String == "0xC100")
        let request = try #require(ex["request"] as? [String: Any])
        #expect((request["00100020"] as? [String: Any])?["vr"] as? String == "LO")
        #expect((a["startTime"] as? String)?.hasSuffix("Z") == true)
    }
}

/// Fixed-seed mutations of real capture files analysed end to end: a typed error or a report,
/// never a crash or a hang.
@Suite(.cpuHeavy) struct AnalyzeMutationTests {
    @Test func mutatedCapturesNeverCrashTheAnalyzer() throws {
        var state: UInt64 = 0xCAFE_F00D
        func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dicomtap-mutants-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var reports = 0, errors = 0
        for name in ["rpi_general_one_match.pcapng", "null.pcap", "concurrent.pcapng", "deflated.pcapng"] {
            let original = Array(FileManager.default.contents(atPath: AnalyzeCapturesTests.captures.appendingPathComponent(name).path) ?? Data())
            guard original.count > 64 else { continue }
            for round in 0..<60 {
                var bytes = original
                if round % 3 == 2 {
                    bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count))))
                } else {
                    for _ in 0..<(1 + round % 6) {
                        // Past the file header, so most mutants are still captures.
                        let i = 48 + Int(next() % UInt64(bytes.count - 48))
                        bytes[i] ^= UInt8(truncatingIfNeeded: next() | 1)
                    }
                }
                let path = dir.appendingPathComponent("\(round)-\(name)").path
                _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
                do {
                    // The JSON tree, serialized as `analyze` used to, against what the direct writer prints.
                    var tree: [String] = []
                    var keepingAll = CaptureAnalyzer.Configuration()
                    keepingAll.observer.keepsExchanges = true
                    let analyzer = try CaptureAnalyzer.analyze(path: path, configuration: keepingAll) { a in
                        tree.append(AssociationJSON().render(index: a.index, client: a.client.description,
                                                             server: a.server.description, observer: a.observer)
                            .serialized(indent: 1))
                    }
                    _ = analyzer.warnings
                    reports += 1
                    // One thread and three print the same for damaged captures too, text and JSON.
                    var outputs: [[String]] = []
                    for (format, workers) in [(AnalysisReportWriter.Format.json, 1), (.json, 3), (.text, 1), (.text, 3)] {
                        var out: [String] = []
                        var config = CaptureAnalyzer.Configuration()
                        config.renderer = AnalysisRenderer(format: format)
                        _ = try CaptureAnalyzer.analyze(path: path, configuration: config, workers: workers,
                                                        prepare: { AnalyzeCapturesTests.text(AnalysisRenderer(format: format).render($0)) },
                                                        consume: { out.append($0) })
                        outputs.append(out)
                    }
                    #expect(outputs[0] == tree, "\(round)-\(name): direct JSON differs from the tree")
                    #expect(outputs[1] == outputs[0], "\(round)-\(name): JSON on 3 workers")
                    #expect(outputs[3] == outputs[2], "\(round)-\(name): text on 3 workers")
                } catch {
                    #expect(!error.description.isEmpty)
                    errors += 1
                }
            }
        }
        #expect(reports + errors == 240)
        #expect(reports > 0)
    }
}
