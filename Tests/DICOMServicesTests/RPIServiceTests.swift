import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMServices
import DICOMStore
import DICOMTestSupport
import DICOMUL
import DIMSE
import Foundation
import Logging
import NIOCore
import Testing

/// The repository's shipped demo data and the seed document's pynetdicom programs (tools/peers).
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let demo = root.appendingPathComponent("demo").path
    static let seedSCU = root.appendingPathComponent("tools/peers/seed_rpi_scu.py").path
    static let seedSCP = root.appendingPathComponent("tools/peers/seed_rpi_scp.py").path
    /// The `dicomtap` executable built beside the test bundle.
    static var dicomtap: String { Peers.dicomtap }
}

/// How long a test waits for a real peer (or our own server) to start, answer or exit: a margin for a loaded
/// 2-core machine (CI runs other builds beside the tests), not a bound any test checks.
let peerMargin: Duration = .seconds(90)

/// Our SCP on the demo data, on a free port, quiet.
struct ServeHarness {
    let server: DICOMServer
    let store: RPIStore
    var port: Int { server.port }

    /// `untilCancelled`: a C-FIND is handed to `RPIService` only once its C-CANCEL has arrived (`UntilCancelled`), a
    /// SCP slower than any SCU timeout without a race against a fixed delay.
    static func start(aeTitle: String? = nil, allowed: Set<String>? = nil, delay: Duration? = nil,
                      untilCancelled: Bool = false) async throws -> ServeHarness {
        let store = try RPIStore.inMemory()
        _ = try store.importPaths([Repository.demo])
        var logger = Logger(label: "test.serve")
        logger.logLevel = .critical
        let service = RPIService(store: store, logger: logger, responseDelay: delay)
        let configuration = ServerConfiguration(aeTitle: aeTitle, allowList: allowed.map { CallingAEAllowList(aeTitles: $0) },
                                                supportedContexts: RPIService.supportedContexts,
                                                messageLimits: RPIService.messageLimits, logger: logger)
        let server = untilCancelled
            ? try await DICOMServer.start(port: 0, configuration: configuration, handler: UntilCancelled(service: service))
            : try await DICOMServer.start(port: 0, configuration: configuration, handler: service)
        return ServeHarness(server: server, store: store)
    }
}

/// `RPIService` behind a wait: each C-FIND waits for its C-CANCEL (at most `limit`) before `RPIService` answers it,
/// which then sees the C-CANCEL and answers 0xFE00. A test of an SCU's timeout and C-CANCEL against it depends on
/// the order of events (request, the SCU's timeout, C-CANCEL, answer), not on the C-CANCEL beating a fixed delay on
/// a loaded machine. Without the C-CANCEL, `RPIService` answers after `limit` as if nothing had been cancelled.
struct UntilCancelled: DICOMServiceHandler {
    let service: RPIService
    var limit: Duration = .seconds(120)

    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        if case .cFindRequest(let find) = request.command {
            let deadline = ContinuousClock.now + limit
            while !association.isCancelled(messageID: find.messageID), ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        try await service.handle(request, association: association, responder: responder)
    }
}

/// Statuses the seed SCU printed (`status 0xFF00` lines) and the identifiers (the JSON line after each pending status).
struct SeedSCUOutput {
    var statuses: [String] = []
    var identifiers: [[String: Any]] = []

    init(_ stdout: String) {
        var expectIdentifier = false
        for line in stdout.split(separator: "\n").map(String.init) {
            if line.hasPrefix("status ") {
                let status = String(line.dropFirst(7).prefix(6))
                statuses.append(status)
                expectIdentifier = status == "0xFF00" || status == "0xFF01"
            } else if expectIdentifier, line.hasPrefix("{"),
                      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                identifiers.append(object)
                expectIdentifier = false
            }
        }
    }

    /// A string value of a DICOM JSON attribute (PN as its Alphabetic group).
    func value(_ tag: String, in index: Int = 0) -> String? {
        guard index < identifiers.count, let element = identifiers[index][tag] as? [String: Any],
              let values = element["Value"] as? [Any], let first = values.first else { return nil }
        if let pn = first as? [String: Any] { return pn["Alphabetic"] as? String }
        return first as? String
    }
}

@Suite(.serialized, .peers) struct RPIServiceTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var arguments: [String]
        var statuses: [String]
        var patientName: String?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "one match", arguments: ["--patient-id", "PAT-0001"], statuses: ["0xFF00", "0x0000"], patientName: "Meyer^Anna"),
        Case(name: "no match", arguments: ["--patient-id", "NOBODY"], statuses: ["0x0000"]),
        Case(name: "two matches", arguments: ["--patient-id", "PAT-1000"], statuses: ["0xC100"]),
        Case(name: "issuer disambiguates", arguments: ["--patient-id", "PAT-1000", "--issuer", "HOSP-B"],
             statuses: ["0xFF00", "0x0000"], patientName: "Smith^Joan"),
        Case(name: "no template", arguments: ["--patient-id", "PAT-0001", "--no-template"], statuses: ["0xA900"]),
        Case(name: "breast", arguments: ["--patient-id", "PAT-0004", "--model", "breast"], statuses: ["0xFF00", "0x0000"],
             patientName: "Garcia^Maria^Luisa"),
        Case(name: "cardiac", arguments: ["--patient-id", "PAT-0005", "--model", "cardiac"], statuses: ["0xFF00", "0x0000"],
             patientName: "Okafor^Daniel"),
        Case(name: "non-ASCII name", arguments: ["--patient-id", "PAT-0002"], statuses: ["0xFF00", "0x0000"],
             patientName: "Müller^Jürgen"),
    ]

    @Test(.requires(.pynetdicom), arguments: cases)
    func seedSCUAgainstServe(_ c: Case) async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.server.shutdown() } }
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        // A loaded machine may take longer than pynetdicom's 30 s per response: the test waits for the answer, not a clock.
        let scu = try Subprocess.python(script: Repository.seedSCU, ["127.0.0.1", String(serve.port), "--timeout", "80"] + c.arguments,
                                        name: "seed-scu", directory: dir)
        _ = try await scu.wait(timeout: peerMargin)
        let output = SeedSCUOutput(scu.stdout)
        #expect(output.statuses == c.statuses, "stdout: \(scu.stdout)\nstderr: \(scu.stderr)")
        if let name = c.patientName {
            #expect(output.value("00100010") == name, "stdout: \(scu.stdout)")
            // The identifier meets the template: SR content with a CONTAINER root and content items.
            #expect(output.value("0040A040") == "CONTAINER")
            #expect((output.identifiers.first?["0040A730"] as? [String: Any])?["Value"] != nil)
        }
    }

    /// The seed SCU's C-CANCEL against serve answering only once it has come (`untilCancelled`): Cancel (0xFE00)
    /// alone. A serve that ignored the C-CANCEL would answer the match and Success. The seed SCU starts its
    /// `--cancel-after` timer before it sends the C-FIND: 2 s leaves the request ample time to go out first.
    @Test(.requires(.pynetdicom)) func seedSCUCancelsAgainstSlowServe() async throws {
        let serve = try await ServeHarness.start(untilCancelled: true)
        defer { Task { await serve.server.shutdown() } }
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        let scu = try Subprocess.python(script: Repository.seedSCU,
                                        ["127.0.0.1", String(serve.port), "--patient-id", "PAT-0001", "--cancel-after", "2"],
                                        name: "seed-scu", directory: dir)
        _ = try await scu.wait(timeout: peerMargin)
        #expect(SeedSCUOutput(scu.stdout).statuses == ["0xFE00"], "stdout: \(scu.stdout)\nstderr: \(scu.stderr)")
    }

    /// The seed's pynetdicom SCP on the demo data; its port.
    static func seedSCP(_ dir: TemporaryDirectory, _ extra: [String] = []) async throws -> (Subprocess, Int) {
        let scp = try Subprocess.python(script: Repository.seedSCP, ["--port", "0", "--data", Repository.demo] + extra,
                                        name: "seed-scp", directory: dir)
        let line = try await scp.firstLine(timeout: peerMargin)
        guard let port = Int(line.split(separator: " ").last ?? "") else {
            scp.stop()
            throw TimeoutError(what: "seed SCP printed \(line)")
        }
        return (scp, port)
    }

    /// Our query's timeout sends C-CANCEL and the seed SCP answers it: the SCP holds its Pending response for
    /// 120 s watching for the C-CANCEL, so the answer is Cancel whenever the C-CANCEL comes, not only if it beats a
    /// short delay. pynetdicom forgets a C-CANCEL that arrives before it starts serving the C-FIND: the 2 s timeout
    /// leaves it ample time to start, however loaded the machine.
    @Test(.requires(.pynetdicom)) func ourQueryCancelsAndLeavesOutTheTemplateAgainstSeedSCP() async throws {
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        let (slow, slowPort) = try await Self.seedSCP(dir, ["--pending-delay", "120"])
        defer { slow.stop() }
        let timedOut = try await RPIQuery(patientID: "PAT-0001", timeout: .seconds(2)).run(host: "127.0.0.1", port: slowPort)
        #expect(timedOut.ending == .timedOut(cancelAnswered: true), "\(timedOut.responses.map(\.status)) \(slow.stderr)")
        #expect(timedOut.responses.last?.status == 0xFE00)
        var bad = RPIQuery(patientID: "PAT-0001")
        bad.includesTemplate = false
        let invalid = try await bad.run(host: "127.0.0.1", port: slowPort)
        #expect(invalid.finalStatus?.status == 0xA900)
    }

    @Test(.requires(.pynetdicom), arguments: cases.filter { $0.name != "no template" })
    func ourQueryAgainstSeedSCP(_ c: Case) async throws {
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        let (scp, port) = try await Self.seedSCP(dir)
        defer { scp.stop() }
        var query = RPIQuery(patientID: "", timeout: .seconds(90))  // a margin: the seed SCP answers at once
        var i = 0
        while i < c.arguments.count {
            let value = c.arguments[i + 1]
            switch c.arguments[i] {
            case "--patient-id": query.patientID = value
            case "--issuer": query.issuer = value
            case "--model": query.model = RPIQueryModel(rawValue: value)!
            default: Issue.record("unknown argument \(c.arguments[i])")
            }
            i += 2
        }
        let result = try await query.run(host: "127.0.0.1", port: port)
        #expect(result.responses.map { statusText($0.status) } == c.statuses, "\(scp.stderr)")
        #expect(result.ending == .completed)
        if let name = c.patientName {
            let identifier = try #require(result.matches.first)
            let charset = identifier.characterSet(inheriting: .default)
            #expect(identifier[Tag(0x0010_0010)]?.string(characterSet: charset) == name)
        }
    }

    /// Our query's timeout, then C-CANCEL, against serve answering only once the C-CANCEL came (and then after its
    /// `responseDelay`, which it sees out before it looks for a C-CANCEL): Cancel alone.
    @Test func queryTimeoutSendsCancelAndServeAnswersIt() async throws {
        let serve = try await ServeHarness.start(delay: .milliseconds(100), untilCancelled: true)
        defer { Task { await serve.server.shutdown() } }
        let query = RPIQuery(patientID: "PAT-0001", timeout: .milliseconds(300))
        let result = try await query.run(host: "127.0.0.1", port: serve.port)
        #expect(result.ending == .timedOut(cancelAnswered: true))
        #expect(result.responses.map(\.status) == [0xFE00])
    }

    @Test func responsesCarryOffendingElementAndComment() async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.server.shutdown() } }
        let many = try await RPIQuery(patientID: "PAT-1000").run(host: "127.0.0.1", port: serve.port)
        #expect(many.responses.count == 1)
        #expect(many.finalStatus?.status == 0xC100)
        #expect(many.finalStatus?.errorComment?.contains("2") == true)
        // A template the breast model cannot carry.
        let wrongTemplate = try await RPIQuery(patientID: "PAT-0004", model: .breast, template: "3802").run(host: "127.0.0.1", port: serve.port)
        #expect(wrongTemplate.finalStatus?.status == 0xC200)
    }

    @Test(.requires(.dcmtk)) func dcmtkEchoscuAndUnknownCallingAE() async throws {
        let serve = try await ServeHarness.start(aeTitle: "RPI-SCP", allowed: ["MODALITY"])
        defer { Task { await serve.server.shutdown() } }
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        let ok = try Subprocess(Peers.echoscu, ["-aet", "MODALITY", "-aec", "RPI-SCP", "127.0.0.1", String(serve.port)],
                                name: "echoscu", directory: dir)
        #expect(try await ok.wait(timeout: peerMargin) == 0, "\(ok.stderr)")
        let bad = try Subprocess(Peers.echoscu, ["-aet", "STRANGER", "-aec", "RPI-SCP", "127.0.0.1", String(serve.port)],
                                 name: "echoscu-bad", directory: dir)
        #expect(try await bad.wait(timeout: peerMargin) != 0)
        #expect(bad.stderr.contains("Calling AE Title Not Recognized"), "\(bad.stderr)")
    }

    /// Twenty seed SCU processes started at once, four patients among them: each gets its own patient's match and
    /// Success. No time limit is checked: twenty python interpreters starting on a loaded 2-core machine take what
    /// they take, and each has `peerMargin` after the previous one was seen to finish. Answers crossed between
    /// associations, refused or dropped associations show as another identifier, other statuses or none.
    @Test(.requires(.pynetdicom)) func twentyConcurrentSeedSCUs() async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.server.shutdown() } }
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        let ids = (0..<20).map { ["PAT-0001", "PAT-0002", "PAT-0003", "PAT-0005"][$0 % 4] }
        let scus = try ids.enumerated().map { n, id in
            try Subprocess.python(script: Repository.seedSCU,
                                  ["127.0.0.1", String(serve.port), "--patient-id", id, "--model", id == "PAT-0005" ? "cardiac" : "general"],
                                  name: "scu\(n)", directory: dir)
        }
        for (scu, id) in zip(scus, ids) {
            let status = try await scu.wait(timeout: peerMargin)
            let output = SeedSCUOutput(scu.stdout)
            #expect(status == 0, "\(scu.name): \(scu.stderr)")
            #expect(output.statuses == ["0xFF00", "0x0000"], "\(scu.name): \(scu.stdout) \(scu.stderr)")
            #expect(output.value("00100020") == id, "\(scu.name) asked for \(id): \(scu.stdout)")
        }
    }

    @Test(.requires(.dicomtap)) func queryCommandExitCodes() async throws {
        let serve = try await ServeHarness.start(allowed: ["DICOMTAP"], delay: nil)
        defer { Task { await serve.server.shutdown() } }
        let slow = try await ServeHarness.start(untilCancelled: true)
        defer { Task { await slow.server.shutdown() } }
        let dir = try TemporaryDirectory("rpi")
        defer { dir.remove() }
        func run(_ arguments: [String]) async throws -> (Int32, String) {
            let p = try Subprocess(Repository.dicomtap, ["query", "127.0.0.1"] + arguments, name: "query", directory: dir)
            let code = try await p.wait(timeout: peerMargin)
            return (code, p.stdout + p.stderr)
        }
        let (ok, okText) = try await run([String(serve.port), "--patient-id", "PAT-0003"])
        #expect(ok == 0, "\(okText)")
        #expect(okText.contains("Yamada^Tarou=山田^太郎=やまだ^たろう"), "\(okText)")
        let (json, jsonText) = try await run([String(serve.port), "--patient-id", "PAT-0001", "--format", "json"])
        #expect(json == 0)
        #expect(jsonText.contains("\"status\": \"0xFF00\""), "\(jsonText)")
        #expect(try await run([String(serve.port), "--patient-id", "PAT-1000"]).0 == 4)
        #expect(try await run([String(serve.port), "--patient-id", "PAT-0001", "--calling-ae", "OTHER"]).0 == 2)
        #expect(try await run([String(slow.port), "--patient-id", "PAT-0001", "--timeout", "0.3"]).0 == 5)
        let (deflated, deflatedText) = try await run([String(serve.port), "--patient-id", "PAT-0002", "--transfer-syntax", "deflated"])
        #expect(deflated == 0, "\(deflatedText)")
        #expect(deflatedText.contains("Deflated Explicit VR Little Endian"), "\(deflatedText)")
    }

    @Test(.requires(.dcmtk, .dicomtap)) func demoCommandKeepsRunningForOtherTools() async throws {
        let dir = try TemporaryDirectory("demo")
        defer { dir.remove() }
        let demo = try Subprocess(Repository.dicomtap, ["demo", "--data", Repository.demo, "--brief", "--keep-running"],
                                  name: "demo", directory: dir)
        defer { demo.stop() }
        var proxyPort: Int?
        try await eventually("the demo to print its ports", timeout: peerMargin) {
            if let line = demo.stdout.split(separator: "\n").first(where: { $0.contains("proxy 127.0.0.1:") && $0.contains("->") }),
               let port = line.split(separator: " ").first(where: { $0.hasPrefix("127.0.0.1:") }).flatMap({ Int($0.split(separator: ":")[1]) }) {
                proxyPort = port
                return true
            }
            if !demo.process.isRunning { throw TimeoutError(what: "demo exited: \(demo.stdout) \(demo.stderr)") }
            return false
        }
        #expect(demo.stdout.contains("query: 1 match, final Success 0x0000"), "\(demo.stdout)")
        let port = try #require(proxyPort)
        let echo = try Subprocess(Peers.echoscu, ["-aec", "DICOMTAP-RPI", "127.0.0.1", String(port)], name: "echoscu", directory: dir)
        #expect(try await echo.wait(timeout: peerMargin) == 0, "\(echo.stderr)")
        kill(demo.pid, SIGTERM)
        #expect(try await demo.wait(timeout: peerMargin) == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("C-ECHO"), "the proxy's exchange line for echoscu: \(demo.stdout)")
    }

    /// Our client with the General RPI query context accepted.
    static func generalAssociation(port: Int) async throws -> (DICOMClient, AcceptedContext) {
        let model = RPIQueryModel.general
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: AssociationParameters(
            contexts: [PresentationContextProposal(id: 1, abstractSyntax: model.sopClassUID,
                                                   transferSyntaxes: PresentationContextProposal.defaultTransferSyntaxes)]))
        guard let context = client.context(for: model.sopClassUID) else {
            await client.abort()
            throw TimeoutError(what: "the General RPI context was not accepted")
        }
        return (client, context)
    }

    /// A C-CANCEL that arrives after the final response is ignored: the next request, even with the same
    /// Message ID, is answered in full (PS3.7 §9.3.2.3).
    @Test func lateCancelDoesNotCancelTheNextRequest() async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.server.shutdown() } }
        let model = RPIQueryModel.general
        let (client, context) = try await Self.generalAssociation(port: serve.port)
        let identifier = try context.encode(RPIQuery(patientID: "PAT-0001").identifier())
        func find() async throws -> [UInt16] {
            try await client.send(.cFindRequest(CFindRequest(messageID: 7, affectedSOPClassUID: model.sopClassUID)),
                                  dataSet: identifier, contextID: context.id)
            var statuses: [UInt16] = []
            while let message = try await client.receive(timeout: .seconds(90)), let status = message.command.status {
                statuses.append(status)
                if status != 0xFF00 { break }
            }
            return statuses
        }
        #expect(try await find() == [0xFF00, 0x0000])
        try await client.send(.cCancelRequest(CCancelRequest(messageIDBeingRespondedTo: 7)), dataSet: nil, contextID: context.id)
        #expect(try await find() == [0xFF00, 0x0000])
        try await client.release()
    }

    /// An identifier past serve's 1 MiB limit ends that association with an A-ABORT; serve goes on.
    @Test func oversizedIdentifierIsAborted() async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.server.shutdown() } }
        let model = RPIQueryModel.general
        let (client, context) = try await Self.generalAssociation(port: serve.port)
        var big = RPIQuery(patientID: "PAT-0001").identifier()
        big.set(DataElement(tag: DICOMCore.Tag(0x0040_A160), vr: .UT, string: String(repeating: "x", count: 2 << 20))!)
        try await client.send(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: model.sopClassUID)),
                              dataSet: try context.encode(big), contextID: context.id)
        await #expect(throws: AssociationError.self) {
            while try await client.receive(timeout: .seconds(90)) != nil {}
            throw AssociationError.closedByPeer
        }
        let after = try await RPIQuery(patientID: "PAT-0001").run(host: "127.0.0.1", port: serve.port)
        #expect(after.matches.count == 1)
    }
}
