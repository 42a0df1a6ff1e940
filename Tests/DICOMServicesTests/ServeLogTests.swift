import DICOMCore
import DICOMNetwork
import DICOMServices
import DICOMStore
import DICOMUL
import DICOMTestSupport
import DIMSE
import Foundation
import Logging
import NIOCore
import Testing

/// What `serve` logs, as an administrator reads it on the console: each line names the association
/// (calling and called AE titles, the peer's address), what happened and why, with the status sent;
/// the patient only without `--redact-identifiers`; an idle association is said to time out.
@Suite(.ownExecutor) struct ServeLogTests {
    struct Serve {
        let server: DICOMServer
        let logs: LogCapture
        var port: Int { server.port }
    }

    static func start(redact: Bool = false, idleTimeout: TimeAmount? = .seconds(300)) async throws -> Serve {
        let store = try RPIStore.inMemory()
        _ = try store.importPaths([Repository.demo])
        let logs = LogCapture()
        var logger = Logger(label: "test.serve") { _ in
            ConsoleLogHandler { text in logs.lines.withValue { $0 += text.split(separator: "\n").map(String.init) } }
        }
        logger.logLevel = .info // serve --verbose
        let configuration = ServerConfiguration(aeTitle: "RPI-SCP", allowList: CallingAEAllowList(aeTitles: ["MODALITY"]),
                                                supportedContexts: RPIService.supportedContexts, idleTimeout: idleTimeout,
                                                messageLimits: RPIService.messageLimits, logger: logger)
        let server = try await DICOMServer.start(port: 0, configuration: configuration,
                                                 handler: RPIService(store: store, logger: logger, redactIdentifiers: redact))
        return Serve(server: server, logs: logs)
    }

    func query(_ serve: Serve, _ patientID: String, model: RPIQueryModel = .general, template: String? = nil,
               calling: String = "MODALITY") async throws -> RPIQueryResult {
        try await RPIQuery(patientID: patientID, model: model, template: template, callingAETitle: calling,
                           calledAETitle: "RPI-SCP").run(host: "127.0.0.1", port: serve.port)
    }

    func line(_ serve: Serve, containing text: String) async throws -> String {
        try await eventually("a log line with \(text)", timeout: peerMargin) { serve.logs.contains(text) }
        return serve.logs.lines.current.first { $0.contains(text) }!
    }

    @Test func eachLineSaysWhoWhatAndWhy() async throws {
        let serve = try await Self.start()
        defer { Task { await serve.server.shutdown() } }

        _ = try await query(serve, "PAT-0004")
        let match = try await line(serve, containing: "one match")
        #expect(match.contains("\"MODALITY\" -> \"RPI-SCP\" from 127.0.0.1:"), "\(match)")
        #expect(match.contains("C-FIND msg 1 general, patient PAT-0004, TID 9007: one match, 0x0000 Success"), "\(match)")
        // The console prefixes each line with the association's number, as the proxy does.
        #expect(match.range(of: #"^\d\d:\d\d:\d\d\.\d{3} \[\d{4}\] "#, options: .regularExpression) != nil, "\(match)")

        _ = try await query(serve, "PAT-1000")
        let many = try await line(serve, containing: "0xC100")
        #expect(many.contains("patient PAT-1000") && many.contains("2 patients match"), "\(many)")

        // A calling AE title not allowed: rejected, with the reason and the address.
        await #expect(throws: (any Error).self) { try await query(serve, "PAT-0004", calling: "STRANGER") }
        let rejected = try await line(serve, containing: "association rejected")
        #expect(rejected.contains("\"STRANGER\" -> \"RPI-SCP\" from 127.0.0.1:"), "\(rejected)")
        #expect(rejected.contains("STRANGER") && rejected.contains("A-ASSOCIATE-RJ"), "\(rejected)")
    }

    @Test func redactedLogsHaveNoPatientID() async throws {
        let serve = try await Self.start(redact: true)
        defer { Task { await serve.server.shutdown() } }
        _ = try await query(serve, "PAT-0004")
        let match = try await line(serve, containing: "one match")
        #expect(match.contains("patient (redacted)"), "\(match)")
        #expect(!serve.logs.text.contains("PAT-0004"), "\(serve.logs.text)")
    }

    /// An association that sends nothing for the idle timeout: the log says idle timeout, with who it was.
    @Test func idleTimeoutIsNotAProtocolError() async throws {
        let serve = try await Self.start(idleTimeout: .seconds(1))
        defer { Task { await serve.server.shutdown() } }
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: serve.port, parameters: AssociationParameters(
            callingAETitle: "MODALITY", calledAETitle: "RPI-SCP",
            contexts: [PresentationContextProposal(id: 1, abstractSyntax: RPIQueryModel.general.sopClassUID,
                                                   transferSyntaxes: PresentationContextProposal.defaultTransferSyntaxes)]))
        defer { Task { await client.abort() } }
        let idle = try await line(serve, containing: "idle timeout")
        #expect(idle.contains("\"MODALITY\" -> \"RPI-SCP\" from 127.0.0.1:") && idle.contains("sent nothing for 1.0 s"), "\(idle)")
        #expect(!serve.logs.contains("protocol error"), "\(serve.logs.text)")
    }

    /// 0xC200's Error Comment fits LO's 64 characters whole: the unsupported template and the ones to use.
    @Test(arguments: [(RPIQueryModel.general, "9001", "TID 9001 unsupported; use 9007, 9000, 3802"),
                      (.breast, "3802", "TID 3802 unsupported; use 9000"),
                      (.cardiac, "9007", "TID 9007 unsupported; use 3802")])
    func unsupportedTemplateCommentFits(_ model: RPIQueryModel, _ template: String, _ comment: String) async throws {
        let serve = try await Self.start()
        defer { Task { await serve.server.shutdown() } }
        let result = try await query(serve, "PAT-0004", model: model, template: template)
        #expect(result.finalStatus?.status == 0xC200)
        #expect(result.finalStatus?.errorComment == comment)
        #expect(comment.count <= ErrorComment.maximumLength)
    }

    /// Every Error Comment the store's outcomes give fits, and one built from a long value is cut after a word.
    @Test func errorCommentsFit() {
        #expect(ErrorComment.fitting("short") == "short")
        let long = ErrorComment.fitting("mapping resource " + String(repeating: "X", count: 30) + " unsupported; use DCMR and more words here")
        #expect(long.count <= 64 && long.hasSuffix("..."), "\(long)")
        #expect(!long.dropLast(3).hasSuffix(" "))
    }
}
