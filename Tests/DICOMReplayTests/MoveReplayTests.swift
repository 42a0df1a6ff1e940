import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import NIOCore
import Testing
import DICOMCapture
@testable import DICOMProxy
@testable import DICOMReplay

// MARK: - A C-MOVE recorded between real DCMTK peers

/// DCMTK's Q/R SCP (dcmqrscp, AE DCMQRSCP) holding one Secondary Capture image, with DCMTK storescp (AE
/// STORESCP) as the only move destination in its HostTable, and the capture of a real `movescu` -> proxy ->
/// dcmqrscp exchange that moved the image to storescp. Generated in the test (no committed capture).
struct RecordedMoveSite {
    static let patientID = "MOVE-1"
    static let destination = "STORESCP"

    let dir: TemporaryDirectory
    let dcmqrscp: Subprocess
    let qrPort: Int
    let storescp: Subprocess
    let storePort: Int
    /// storescp's output folder (`--unique-filenames`: an image moved twice is two files).
    let received: String
    /// The proxy's recording of the C-MOVE association.
    let capture: String

    var receivedFiles: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: received)) ?? []).sorted() }

    static func start(_ name: String) async throws -> RecordedMoveSite {
        let dir = try TemporaryDirectory(name)
        do {
            return try await start(in: dir)
        } catch {
            dir.remove()
            throw error
        }
    }

    private static func start(in dir: TemporaryDirectory) async throws -> RecordedMoveSite {
        let image = dir.file("image.dcm")
        try DCMTKMoveSite.secondaryCaptureFile(patientID: patientID, patientName: "Move^Test").write(to: URL(fileURLWithPath: image))
        let received = dir.file("received")
        let storage = dir.file("qr-storage")
        for folder in [received, storage] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

        // DCMTK cannot listen on port 0: ports the OS had free a moment ago.
        let storePort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--aetitle", destination, "--unique-filenames", "--output-directory", received,
                                                       String(storePort)], name: "storescp", directory: dir)
        let qrPort = try freePort()
        let config = dir.file("dcmqrscp.cfg")
        try DCMTKMoveSite.writeConfiguration(to: config, qrPort: qrPort, storage: storage, destination: destination, storePort: storePort)
        // Forking (the default): dcmqrscp 3.6.7 in single-process mode (-s) crashes after the first association.
        let dcmqrscp = try Subprocess(Peers.dcmqrscp, ["-c", config, String(qrPort)], name: "dcmqrscp", directory: dir)
        do {
            try await eventually("storescp to listen", timeout: peerMargin) { try canConnect(port: storePort, storescp) }
            try await eventually("dcmqrscp to listen", timeout: peerMargin) { try canConnect(port: qrPort, dcmqrscp) }

            let store = try Subprocess(Peers.storescu, ["-aet", "STORESCU", "-aec", "DCMQRSCP", "127.0.0.1", String(qrPort), image],
                                       name: "storescu", directory: dir)
            #expect(try await store.wait(timeout: peerMargin) == 0, "\(store.stderr)")

            var recordedOutput = ""
            let capture = try await recordThroughProxy(upstream: qrPort, directory: dir) { proxyPort in
                let move = try await movescu(proxyPort, destination: destination, name: "movescu-recorded", directory: dir)
                recordedOutput = move.stdout + move.stderr
                #expect(move.process.terminationStatus == 0, "\(recordedOutput)")
            }
            #expect(recordedOutput.contains("DIMSE Status                  : 0x0000"), "\(recordedOutput)")
            let site = RecordedMoveSite(dir: dir, dcmqrscp: dcmqrscp, qrPort: qrPort, storescp: storescp, storePort: storePort,
                                        received: received, capture: capture)
            // The image reached the move destination (movescu had the final response after it did).
            try await eventually("storescp to write the moved image", timeout: peerMargin) { site.receivedFiles.count == 1 }
            return site
        } catch {
            dcmqrscp.stop()
            storescp.stop()
            throw error
        }
    }

    /// Stops the peers by their PIDs and removes the folder.
    func finish() {
        dcmqrscp.stop()
        storescp.stop()
        dir.remove()
    }

    static func movescu(_ port: Int, destination: String, name: String, directory: TemporaryDirectory) async throws -> Subprocess {
        try await DCMTKMoveSite.movescu(port, patientID: patientID, destination: destination, name: name, directory: directory,
                                        timeout: peerMargin)
    }
}

/// What movescu -d printed for the final C-MOVE-RSP: its status line, counts and Error Comment.
func finalMoveResponse(_ movescu: Subprocess) -> String {
    let output = movescu.stdout + movescu.stderr
    guard let final = output.range(of: "Received Final Move Response", options: .backwards) else { return "" }
    return String(output[final.lowerBound...].prefix(1500))
}

// MARK: - The replayed SCP

/// `replay --serve` of a recorded C-MOVE never answers the recorded Success with "1 completed": nothing would reach
/// the move destination. 0xA801 without an address for the destination, 0xA702 with one, 0 sub-operations
/// completed, and storescp (the real destination) receives nothing. A request with another Move Destination does
/// not match the recording.
@Suite(.peers, .requires(.dcmtk), .serialized)
struct MoveServeReplayTests {
    @Test func movescuAgainstTheReplayedSCP() async throws {
        let site = try await RecordedMoveSite.start("replay-move-serve")
        defer { site.finish() }
        let conversation = try RecordedConversation.load(path: site.capture)
        let recorded = try #require(conversation.associations.first)
        #expect(recorded.callingAETitle == "MOVESCU")
        let move = try #require(recorded.requestorRequests.first { $0.commandField == .cMoveRequest })
        #expect(move.finalResponse?.status == 0x0000)
        #expect(move.finalResponse?.command.subOperationCounts?.completed == 1)

        // What analyze and the proxy's console say of the recorded C-MOVE: its destination and sub-operations, not "0 matches".
        final class Out: @unchecked Sendable { var text = "" }
        let out = Out()
        let writer = AnalysisReportWriter(format: .text) { out.text += $0 }
        writer.begin(inputs: [site.capture])
        _ = try writer.analyze(path: site.capture, configuration: CaptureAnalyzer.Configuration())
        writer.end()
        let analyzeLine = try #require(out.text.split(separator: "\n").first { $0.hasPrefix("  C-MOVE msg ") }, "\(out.text)")
        #expect(analyzeLine.contains(", to STORESCP, 1 completed, 0 failed, 0 warning"), "\(analyzeLine)")
        #expect(!analyzeLine.contains("match"), "\(analyzeLine)")
        var exchanges: [DICOMInspect.Exchange] = []
        var observation = CaptureAnalyzer.Configuration()
        observation.observer.keepsExchanges = true
        _ = try CaptureAnalyzer.analyze(path: site.capture, configuration: observation) { exchanges += $0.observer.exchanges }
        let consoleLine = ProxyEventFormat.exchangeLine(try #require(exchanges.first { $0.service == .cMove }))
        #expect(consoleLine.contains("patient MOVE-1  0x0000 Success"), "\(consoleLine)")
        #expect(consoleLine.contains("to STORESCP  1 completed, 0 failed, 0 warning"), "\(consoleLine)")
        #expect(!consoleLine.contains("match"), "\(consoleLine)")
        site.dcmqrscp.stop()  // no real Q/R SCP in the room any more; storescp still listens

        var options = SCPReplayOptions(port: 0)
        options.host = "127.0.0.1"
        let server = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            // No address for STORESCP: 0xA801, nothing completed, an Error Comment.
            let unknown = try await RecordedMoveSite.movescu(server.port, destination: RecordedMoveSite.destination,
                                                             name: "movescu-unknown", directory: site.dir)
            let answer = finalMoveResponse(unknown)
            #expect(answer.contains("DIMSE Status                  : 0xa801"), "\(unknown.stdout)\(unknown.stderr)")
            #expect(answer.contains("Completed Suboperations       : 0"), "\(answer)")
            #expect(answer.contains("Failed Suboperations          : 0"), "\(answer)")
            #expect(answer.contains("Warning Suboperations         : 0"), "\(answer)")
            #expect(answer.contains("Move Destination STORESCP unknown to replay"), "\(answer)")
            #expect(!(unknown.stdout + unknown.stderr).contains("0xff00"), "no pending response pretends sub-operations")
            #expect(unknown.process.terminationStatus != 0)
            #expect(server.answered == 0)
            let refused = try #require(server.findings.first)
            #expect(server.findings.count == 1)
            #expect(refused.code == .subOperationsNotReplayed)
            #expect(refused.message.contains("answered 0xA801"), "\(refused.message)")
            #expect(refused.message.contains("--move-destination STORESCP=HOST:PORT"), "\(refused.message)")
            #expect(refused.message.contains("the recording answered 0x0000 Success (1 completed, 0 failed, 0 warning)"),
                    "\(refused.message)")

            // Another Move Destination, same identifier: not the recorded request.
            let other = try await RecordedMoveSite.movescu(server.port, destination: "ELSEWHERE", name: "movescu-other",
                                                           directory: site.dir)
            #expect(finalMoveResponse(other).contains("DIMSE Status                  : 0xc000"), "\(other.stdout)\(other.stderr)")
            #expect(server.findings.count == 2)
            let unmatched = try #require(server.findings.last)
            #expect(unmatched.code == .unmatchedRequest)
            #expect(unmatched.message.contains("with MoveDestination=ELSEWHERE, QueryRetrieveLevel=PATIENT, PatientID=MOVE-1 matches no"), "\(unmatched.message)")
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()

        // With STORESCP's address: 0xA702, still nothing completed and nothing sent.
        options.moveDestinations = [MoveDestination(aeTitle: RecordedMoveSite.destination, host: "127.0.0.1", port: site.storePort)]
        let known = try await SCPReplayer.start(conversation, options: options, logger: quietLogger())
        do {
            let move = try await RecordedMoveSite.movescu(known.port, destination: RecordedMoveSite.destination,
                                                          name: "movescu-known", directory: site.dir)
            let answer = finalMoveResponse(move)
            #expect(answer.contains("DIMSE Status                  : 0xa702"), "\(move.stdout)\(move.stderr)")
            #expect(answer.contains("Completed Suboperations       : 0"), "\(answer)")
            #expect(answer.contains("replay does not perform C-MOVE sub-operations"), "\(answer)")
            let finding = try #require(known.findings.first)
            #expect(known.findings.count == 1)
            #expect(finding.code == .subOperationsNotReplayed)
            #expect(finding.message.contains("answered 0xA702"), "\(finding.message)")
            #expect(finding.message.contains("127.0.0.1:\(site.storePort)"), "\(finding.message)")
        } catch {
            await known.shutdown()
            throw error
        }
        await known.shutdown()
        // Each movescu had its final response before it ended, and a replayed SCP would have sent any sub-operation
        // before that: storescp still holds only the image the recorded move brought.
        #expect(site.receivedFiles.count == 1, "\(site.receivedFiles)")
    }

    @Test func moveDestinationOption() throws {
        let parsed = try MoveDestination(parsing: "STORESCP=127.0.0.1:11112")
        #expect(parsed == MoveDestination(aeTitle: "STORESCP", host: "127.0.0.1", port: 11112))
        #expect(try MoveDestination(parsing: " PACS =[::1]:104").description == "PACS=[::1]:104")
        for bad in ["STORESCP", "=host:104", "STORESCP=host", "STORESCP=:104", "STORESCP=host:0", "SEVENTEEN_CHARS_AE=h:1"] {
            #expect(throws: ReplayError.self, "\(bad)") { try MoveDestination(parsing: bad) }
        }
    }
}

// MARK: - The replayed SCU and the command

/// `dicomtap replay --to` a real dcmqrscp: without --allow-move the recorded C-MOVE is skipped and the report says
/// why and how to send it; with it the C-MOVE is sent (storescp receives the image again) and its sub-operation
/// counts are compared; against a site where the destination is down, the counts differ. And `replay --serve`
/// with `--move-destination` as a user runs it.
@Suite(.peers, .requires(.dcmtk, .dicomtap), .serialized)
struct MoveReplayCommandTests {
    func dicomtap(_ arguments: [String], name: String, directory: TemporaryDirectory) async throws -> Subprocess {
        let p = try Subprocess(Peers.dicomtap, ["replay"] + arguments, name: name, directory: directory)
        _ = try await p.wait(timeout: peerMargin)
        return p
    }

    @Test func scuSideSendsMovesOnlyWhenAllowed() async throws {
        let site = try await RecordedMoveSite.start("replay-move-scu")
        defer { site.finish() }
        let target = "127.0.0.1:\(site.qrPort)"

        let skipped = try await dicomtap([site.capture, "--to", target], name: "skipped", directory: site.dir)
        #expect(skipped.process.terminationStatus == 0, "\(skipped.stdout)\(skipped.stderr)")
        #expect(skipped.stdout.contains("C-MOVE-RQ Patient Root Query/Retrieve Information Model - MOVE (message 1 -> skipped)"),
                "\(skipped.stdout)")
        #expect(skipped.stdout.contains("skipped: not sent: a C-MOVE makes the SCP send real images to Move Destination STORESCP; "
                                        + "--allow-move sends it"), "\(skipped.stdout)")
        #expect(skipped.stdout.contains("association 1: MOVESCU -> DCMQRSCP: 1 request, 1 skipped\n"), "\(skipped.stdout)")
        #expect(skipped.stdout.contains("result: matched (1 request in 1 association; 1 skipped: not sent, not compared)"),
                "\(skipped.stdout)")
        // The replay released the association after its last request: had the C-MOVE gone out, it would have
        // waited for the final response, which dcmqrscp sends after the C-STORE to storescp.
        #expect(site.receivedFiles.count == 1, "\(site.receivedFiles)")

        let allowed = try await dicomtap([site.capture, "--to", target, "--allow-move"], name: "allowed", directory: site.dir)
        #expect(allowed.process.terminationStatus == 0, "\(allowed.stdout)\(allowed.stderr)")
        #expect(allowed.stdout.contains("replayed 1 pending + 0x0000 Success (1 completed, 0 failed, 0 warning)"), "\(allowed.stdout)")
        #expect(allowed.stdout.contains("result: matched (1 request in 1 association)"), "\(allowed.stdout)")
        #expect(site.receivedFiles.count == 2, "\(site.receivedFiles)")

        // The move destination down: dcmqrscp cannot store, and the final counts differ from the recording's.
        site.storescp.stop()
        let down = try await dicomtap([site.capture, "--to", target, "--allow-move", "--format", "json"], name: "down",
                                      directory: site.dir)
        #expect(down.process.terminationStatus == 1, "\(down.stdout)\(down.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(down.stdout.utf8)) as? [String: Any], "\(down.stdout)")
        let association = try #require((json["associations"] as? [[String: Any]])?.first)
        let exchange = try #require((association["exchanges"] as? [[String: Any]])?.first)
        let recordedCounts = (exchange["recorded"] as? [String: Any])?["subOperations"] as? [String: Int]
        let replayedCounts = (exchange["replayed"] as? [String: Any])?["subOperations"] as? [String: Int]
        #expect(recordedCounts == ["completed": 1, "failed": 0, "warning": 0], "\(exchange)")
        #expect(replayedCounts?["completed"] == 0, "\(exchange)")
        let differences = try #require(exchange["differences"] as? [[String: Any]])
        let final = differences.filter { $0["response"] as? String == "final" }
        #expect(final.contains { $0["kind"] as? String == "status" }, "\(differences)")
        #expect(final.contains { $0["pathText"] as? String == "(0000,1021) NumberOfCompletedSuboperations"
                                 && $0["recorded"] as? String == "US 1" && $0["replayed"] as? String == "US 0" }, "\(differences)")
    }

    @Test func serveWithAMoveDestination() async throws {
        let site = try await RecordedMoveSite.start("replay-move-cli")
        defer { site.finish() }
        site.dcmqrscp.stop()
        let serve = try Subprocess(Peers.dicomtap, ["replay", site.capture, "--serve", "127.0.0.1:0", "--move-destination",
                                                    "STORESCP=127.0.0.1:\(site.storePort)"], name: "serve", directory: site.dir)
        defer { serve.stop() }
        let line = try await serve.firstLine(timeout: peerMargin)
        let port = try #require(line.split(separator: " ").first { $0.hasPrefix("127.0.0.1:") }
            .flatMap { Int($0.dropFirst("127.0.0.1:".count).prefix { $0.isNumber }) }, "\(line)")
        let move = try await RecordedMoveSite.movescu(port, destination: RecordedMoveSite.destination, name: "movescu", directory: site.dir)
        #expect(finalMoveResponse(move).contains("DIMSE Status                  : 0xa702"), "\(move.stdout)\(move.stderr)")
        kill(serve.pid, SIGTERM)
        #expect(try await serve.wait(timeout: peerMargin) == 0, "\(serve.stderr)")
        #expect(serve.stdout.contains("0 request(s) answered from the recording, 0 unmatched, 1 refused"), "\(serve.stdout)")
        #expect(serve.stdout.contains("sub-operations-not-replayed"), "\(serve.stdout)")
        #expect(site.receivedFiles.count == 1, "\(site.receivedFiles)")

        let invalid = try await dicomtap([site.capture, "--serve", "0", "--move-destination", "STORESCP"], name: "invalid",
                                         directory: site.dir)
        #expect(invalid.process.terminationStatus != 0)
        #expect(invalid.stderr.contains("--move-destination must be AE=host:port"), "\(invalid.stderr)")
    }
}
