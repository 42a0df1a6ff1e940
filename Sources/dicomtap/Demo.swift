import ArgumentParser
import DICOMDemo
import DICOMServices
import DICOMStore
import Dispatch
import Foundation
import Logging

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run our SCP on the shipped demo data, the proxy in front of it, and one query through the proxy.",
        discussion: """
        Starts `serve` on the demo data (demo/, in memory) and `proxy` in front of it on free loopback ports, runs a \
        Relevant Patient Information Query through the proxy, prints the proxy's annotated exchange and the result, \
        then stops. --keep-running leaves both up and prints their ports, for your own SCUs (e.g. \
        /usr/bin/echoscu, pynetdicom) until Ctrl-C.

        EXAMPLES:
          dicomtap demo
          dicomtap demo --brief --patient-id PAT-0003
          dicomtap demo --keep-running
        """)

    @Option(help: "Demo data to load (files or folders).") var data: [String] = []
    @Option(help: "Patient ID to ask for.") var patientID: String = Demo.defaultPatientID
    @Option(help: "Issuer of Patient ID.") var issuer: String?
    @Option(help: "Query model: general, breast, cardiac.") var model: String = "general"
    @Flag(help: "Show exchanges only, not every PDU and DIMSE message.") var brief = false
    @Flag(help: "Also show every data set in the proxy's annotated exchange.") var datasets = false
    @Flag(help: "Leave serve and proxy running after the query.") var keepRunning = false
    @Flag(help: "DICOM over TLS on both legs (mutual TLS), with a throwaway CA and certificates made by openssl in a temporary folder.")
    var tls = false

    func validate() throws {
        guard RPIQueryModel(rawValue: model) != nil else { throw ValidationError("--model must be general, breast or cardiac") }
    }

    /// `demo/` under the current directory, else next to the executable's package checkout.
    static func defaultData() -> String? {
        var candidates = [FileManager.default.currentDirectoryPath + "/demo"]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(url.appendingPathComponent("demo").path)
            url = url.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/patients.json") }
    }

    func run() async throws {
        let paths: [String]
        if data.isEmpty {
            guard let found = Self.defaultData() else {
                FileHandle.standardError.write(Data("dicomtap demo: no demo/ folder here; run it from the repository or give --data\n".utf8))
                throw ExitCode(1)
            }
            paths = [found]
        } else {
            for path in data { try PathCheck.readable(path, "--data") }
            paths = data
        }
        let demo = Demo(dataPaths: paths, patientID: patientID, issuer: issuer, model: RPIQueryModel(rawValue: model)!,
                        proxyLevel: brief ? .info : datasets ? .trace : .debug, tls: tls)
        let log: @Sendable (String) -> Void = { write($0.hasSuffix("\n") ? $0 : $0 + "\n") }
        let signals = keepRunning ? TerminationSignals() : nil
        let running: Demo.Running
        do {
            running = try await demo.start(log: log)
        } catch {
            FileHandle.standardError.write(Data("dicomtap demo: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var failed = false
        do {
            let result = try await demo.query(running, log: log)
            failed = result.finalStatus?.meaning.category != .success
        } catch {
            FileHandle.standardError.write(Data("dicomtap demo: query failed: \(error)\n".utf8))
            failed = true
        }
        if keepRunning {
            log("""
                running until Ctrl-C:
                  SCP   DICOMTAP-RPI at 127.0.0.1:\(running.serverPort)
                  proxy 127.0.0.1:\(running.proxyPort) -> 127.0.0.1:\(running.serverPort)
                  try:  dicomtap query 127.0.0.1 \(running.proxyPort) --called-ae DICOMTAP-RPI --patient-id PAT-0003
                        /usr/bin/echoscu -aec DICOMTAP-RPI 127.0.0.1 \(running.proxyPort)
                """)
            _ = await signals?.next()
        }
        await running.stop()
        if failed { throw ExitCode(1) }
    }
}
