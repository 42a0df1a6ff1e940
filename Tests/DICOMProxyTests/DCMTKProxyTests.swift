import Foundation
import NIOPosix
import Testing
@testable import DICOMProxy

/// DCMTK echoscu and storescu -> proxy -> DCMTK storescp.
@Suite(.peers, .requires(.dcmtk, .pynetdicom))
struct DCMTKProxyTests {
    /// DCMTK findscu (Patient Root) -> proxy -> pynetdicom Q/R SCP with three matches.
    @Test func findscuPatientRootThroughTheProxy() async throws {
        let dir = try TemporaryDirectory("findscu")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        try await withProxy(upstream: scpPort) { proxy in
            let find = try Subprocess(Peers.findscu, ["-v", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=",
                                                      "-k", "PatientID=", "127.0.0.1", String(proxy.port)],
                                      name: "findscu", directory: dir)
            #expect(try await find.wait() == 0, "\(find.stderr)")
            #expect((find.stdout + find.stderr).contains("Roe^Jane"))
            try await eventually("the association to end") {
                proxy.logs.lines.current.contains { $0.contains("END  released") }
            }
            let exchange = proxy.logs.lines.current.first { $0.contains("C-FIND msg") }
            #expect(exchange?.contains("3 matches") == true, "\(exchange ?? "no exchange line")")
            #expect(exchange?.contains("0x0000 Success") == true)
            // The request asked for any patient (PatientID empty): said so, not the first match's ID.
            #expect(exchange?.contains("any patient") == true, "\(exchange ?? "no exchange line")")
            #expect(exchange?.contains("PID-") == false, "\(exchange ?? "no exchange line")")
        }
    }

    /// The request's Patient ID is on the console's exchange line, and not with `--redact-identifiers`
    /// (nor any data set dump, at the most verbose level).
    @Test(arguments: [false, true])
    func exchangeLineNamesTheRequestedPatientUnlessRedacted(_ redact: Bool) async throws {
        let dir = try TemporaryDirectory("findscu-redact")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp"], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        try await withProxy(upstream: scpPort, level: .trace, configure: { $0.redactIdentifiers = redact }) { proxy in
            let find = try Subprocess(Peers.findscu, ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=",
                                                      "-k", "PatientID=PID-7*", "127.0.0.1", String(proxy.port)],
                                      name: "findscu", directory: dir)
            #expect(try await find.wait() == 0, "\(find.stderr)")
            try await eventually("the association to end") {
                proxy.logs.lines.current.contains { $0.contains("END  released") }
            }
            let lines = proxy.logs.lines.current
            let exchange = try #require(lines.first { $0.contains("C-FIND msg") && $0.contains("matches") }, "\(lines)")
            if redact {
                #expect(!lines.contains { $0.contains("PID-") }, "\(lines.filter { $0.contains("PID-") })")
                #expect(lines.contains { $0.contains("data set not shown: --redact-identifiers") })
            } else {
                #expect(exchange.contains("patient PID-7*"), "\(exchange)")
                #expect(lines.contains { $0.contains("Doe^John") }, "the trace level dumps data sets")
            }
        }
    }

    @Test func echoAndLargeStore() async throws {
        let dir = try TemporaryDirectory("dcmtk")
        defer { dir.remove() }
        // 2048 x 2816 x 16 bits: 11.5 MB of pixel data.
        let dataset = dir.file("large.dcm")
        let make = try Subprocess.python(["dataset", dataset], name: "dataset", directory: dir)
        #expect(try await make.wait() == 0)
        let sent = try Data(contentsOf: URL(fileURLWithPath: dataset))
        #expect(sent.count > 10_000_000)

        let output = dir.file("stored")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let scpPort = try freePort()
        // +B: store the data set exactly as received.
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", output, "+B", String(scpPort)],
                                      name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen") { try canConnect(port: scpPort) }

        try await withProxy(upstream: scpPort) { proxy in
            let echo = try Subprocess(Peers.echoscu, ["-v", "127.0.0.1", String(proxy.port)], name: "echoscu", directory: dir)
            #expect(try await echo.wait() == 0, "\(echo.stderr)")
            #expect(echo.stderr.contains("Received Echo Response (Success)") || echo.stdout.contains("Received Echo Response (Success)"))

            let store = try Subprocess(Peers.storescu, ["-v", "127.0.0.1", String(proxy.port), dataset], name: "storescu", directory: dir)
            #expect(try await store.wait(timeout: .seconds(40)) == 0, "\(store.stderr)")
            try await eventually("both associations to end") {
                proxy.logs.lines.current.filter { $0.contains("END  released") }.count == 2
            }
            let log = proxy.logs.text
            #expect(log.contains("\"ECHOSCU\" -> \"ANY-SCP\""))
            #expect(log.contains("C-ECHO msg 1  0x0000 Success"))
            #expect(log.contains("\"STORESCU\" -> \"ANY-SCP\""))
            let store1 = try #require(proxy.logs.lines.current.first { $0.contains("C-STORE msg 1") })
            #expect(store1.contains("patient LARGE-1"))
            #expect(store1.contains("0x0000 Success"))
        }

        // storescp wrote what storescu sent, byte for byte in the data set.
        let stored = try FileManager.default.contentsOfDirectory(atPath: output)
        #expect(stored.count == 1)
        let received = try Data(contentsOf: URL(fileURLWithPath: output + "/" + (stored.first ?? "")))
        let sentDataset = try #require(datasetBytes(ofPart10: sent))
        let receivedDataset = try #require(datasetBytes(ofPart10: received))
        #expect(sentDataset.count > 10_000_000)
        #expect(sentDataset == receivedDataset)
    }
}

/// The data set of a Part 10 file: what follows the file meta information group, whose
/// length (0002,0000) comes right after the 128-byte preamble and "DICM" (PS3.10 §7.1).
func datasetBytes(ofPart10 file: Data) -> Data? {
    let bytes = [UInt8](file.prefix(200))
    guard bytes.count >= 144, bytes[128..<132] == [0x44, 0x49, 0x43, 0x4D],
          bytes[132..<136] == [0x02, 0x00, 0x00, 0x00], bytes[136..<138] == [0x55, 0x4C] else { return nil }
    let groupLength = Int(bytes[140]) | Int(bytes[141]) << 8 | Int(bytes[142]) << 16 | Int(bytes[143]) << 24
    let start = 144 + groupLength
    guard start <= file.count else { return nil }
    return file.subdata(in: start..<file.count)
}


/// `dicomtap proxy` as a user runs it: console lines, then SIGTERM with an association open:
/// the association is aborted after the grace period, the logs are complete, exit status 0.
@Suite(.peers, .requires(.dcmtk, .dicomtap))
struct ProxyCommandTests {
    @Test func runsAndStopsOnSIGTERM() async throws {
        let dir = try TemporaryDirectory("cli")
        defer { dir.remove() }
        let scpPort = try freePort()
        let storescp = try Subprocess(Peers.storescp, ["--output-directory", dir.path, String(scpPort)], name: "storescp", directory: dir)
        defer { storescp.stop() }
        try await eventually("storescp to listen") { try canConnect(port: scpPort) }

        let proxyPort = try freePort()
        let proxy = try Subprocess(Peers.dicomtap, ["proxy", "--listen", "127.0.0.1:\(proxyPort)",
                                                          "--upstream", "127.0.0.1:\(scpPort)", "--grace-period", "0.5",
                                                          "--log-dir", dir.file("logs")], name: "dicomtap", directory: dir)
        defer { proxy.stop() }
        try await eventually("the proxy to listen") { proxy.stdout.contains("listening on 127.0.0.1:\(proxyPort)") }

        let echo = try Subprocess(Peers.echoscu, ["127.0.0.1", String(proxyPort)], name: "echoscu", directory: dir)
        #expect(try await echo.wait() == 0)
        try await eventually("the association's end") { proxy.stdout.contains("END  released") }

        // An association left open: SIGTERM, the grace period, then A-ABORT.
        let holder = try await RawClient.connect(port: proxyPort, group: MultiThreadedEventLoopGroup.singleton)
        try await holder.send(TestPDUs.associateRequest(called: "ANY-SCP", calling: "HOLDER"))
        _ = try await holder.receive(atLeast: 7)
        kill(proxy.pid, SIGTERM)
        #expect(try await proxy.wait(timeout: .seconds(10)) == 0)
        let received = try await holder.receive(atLeast: 10)
        #expect(Array(received.suffix(10)) == TestPDUs.abort(reason: 0))
        let out = proxy.stdout
        #expect(out.contains("C-ECHO msg 1  0x0000 Success"))
        #expect(out.contains("SIGTERM: no new associations"))
        #expect(out.contains("END  aborted by the proxy (aborted-on-shutdown)"))
        let events = try jsonLines(dir.file("logs/events.jsonl"))
        #expect(events.filter { $0["type"] as? String == "association-end" }.count == 2)
    }
}
