import ArgumentParser
import DICOMMetrics
import DICOMNetwork
import DICOMServices
import DICOMStore
import DICOMUL
import Dispatch
import Foundation
import Logging
import NIOCore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve Relevant Patient Information Queries (PS3.4 Annex Q) and C-ECHO from a SQLite store.",
        discussion: """
        Accepts the General, Breast Imaging and Cardiac Relevant Patient Information Query SOP classes and \
        Verification. One match: one Pending response with the identifier built for the requested template, then \
        Success; no match: Success; several: 0xC100; a template we cannot build: 0xC200; an identifier without \
        Patient ID or Content Template Sequence: 0xA900 with Offending Element. C-CANCEL is honoured.
        --import loads Part 10 files (patient module + SR content) and JSON files in the format of docs/STORE.md \
        (files or folders) into --db before serving. SIGINT/SIGTERM: stop, close every association, exit 0.
        --tls-port serves DICOM over TLS (PS3.15 B.12, BCP 195: TLS 1.2 or 1.3) beside or instead of the plain --port; \
        --tls-ca checks client certificates, --tls-require-client-cert refuses clients without one. A failed TLS \
        handshake is logged with its reason.

        EXAMPLES:
          dicomtap serve --port 11112 --db rpi.sqlite --import demo
          dicomtap serve --port 11112 --db rpi.sqlite --ae-title DICOMTAP-RPI \\
              --allow MODALITY@127.0.0.1 -v
          dicomtap serve --port 11112 --tls-port 2762 --tls-cert server.crt \\
              --tls-key server.key --tls-ca ca.crt --db rpi.sqlite
        """)

    @Option(help: "Port to listen on for plain DICOM (0 lets the OS choose; the port is printed).") var port: Int?
    @Option(help: "Address to listen on.") var host: String = "0.0.0.0"
    @Option(help: "The SQLite store (created if missing).") var db: String
    @Option(name: .customLong("import"), parsing: .upToNextOption,
            help: ArgumentHelp("Files or folders to import before serving.", valueName: "path"))
    var imports: [String] = []
    @Option(help: "Our AE title; associations calling another are rejected (default: answer to any).") var aeTitle: String?
    @Option(name: .customLong("allow"),
            help: ArgumentHelp("Calling AE title allowed to associate, from anywhere or only from ADDRESS[/PREFIX] "
                               + "(repeatable; default: any; others get A-ASSOCIATE-RJ 1/1/3).",
                               valueName: "AE[@address[/prefix]]"))
    var allowed: [String] = []
    @Option(help: "Largest PDU we accept, in bytes.") var maxPDU: UInt32 = 65536
    @Option(help: ArgumentHelp("ARTIM timeout in seconds (A-ASSOCIATE-RQ wait, close after release/abort).", valueName: "seconds"))
    var artimTimeout: Double = 30
    @Option(help: ArgumentHelp("Abort an association silent for this many seconds.", valueName: "seconds"))
    var idleTimeout: Double = 300
    @Option(help: ArgumentHelp("Associations served at once per port (default: as many as the open file limit allows, said at "
                               + "start). At the limit, the oldest connection without an A-ASSOCIATE-RQ is closed to make room; "
                               + "when all hold associations, a new one gets A-ASSOCIATE-RJ 2/3/2.", valueName: "count"))
    var maxAssociations: Int?
    @Option(help: ArgumentHelp("Wait this many seconds before answering each query (a slow SCP, to test SCU timeouts and C-CANCEL).",
                               valueName: "seconds"))
    var responseDelay: Double?
    @OptionGroup var metricsOptions: MetricsOptions
    @Flag(help: "Leave Patient IDs out of the log.") var redactIdentifiers = false
    @Flag(name: [.short, .long], help: "Log every association and query (rejections, aborts, timeouts and failures are always logged).")
    var verbose = false
    @OptionGroup var tlsOptions: TLSListenOptions

    func validate() throws {
        guard port != nil || tlsOptions.tlsPort != nil else {
            throw ValidationError("give --port N (plain DICOM), --tls-port N (DICOM over TLS), or both")
        }
        if let port { guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") } }
        if let port, port != 0, port == tlsOptions.tlsPort {
            throw ValidationError("--port and --tls-port must differ: a TLS port is never also a plain one (PS3.15 B.1)")
        }
        try checkSeconds(artimTimeout, "--artim-timeout", zero: false)
        try checkSeconds(idleTimeout, "--idle-timeout", zero: false)
        try ConnectionLimitOptions.check(maxAssociations)
        try checkSeconds(responseDelay, "--response-delay")
        _ = try parsedAllowList()
    }

    /// --allow as an allow-list; nil when none is given (any calling AE title).
    func parsedAllowList() throws -> CallingAEAllowList? {
        guard !allowed.isEmpty else { return nil }
        do { return try CallingAEAllowList(parsing: allowed) } catch { throw ValidationError("--allow \(error)") }
    }

    func run() async throws {
        var logger = Logger(label: "dicomtap.serve") { _ in ConsoleLogHandler() }
        logger.logLevel = verbose ? .info : .notice
        // Before the store is opened or created: the paths, then the port.
        try PathCheck.writableFile(db, "--db")
        for path in imports { try PathCheck.readable(path, "--import") }
        let tls = try tlsOptions.context(command: "serve")
        do {
            for port in [port, tlsOptions.tlsPort].compactMap({ $0 }) {
                try SocketFailure.checkListening(host: host, port: port)
            }
        } catch {
            throw CLIError("\(error)")
        }
        try metricsOptions.checkListening()
        let store: RPIStore
        do {
            store = try RPIStore(path: db)
            if !imports.isEmpty {
                let summary = try store.importPaths(imports)
                write("\(summary)\n")
            }
        } catch {
            FileHandle.standardError.write(Data("dicomtap serve: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let allowList = try parsedAllowList()
        let signals = TerminationSignals()
        let metrics = metricsOptions.endpoint.map { _ in DICOMMetrics() }
        var configuration = ServerConfiguration(
            aeTitle: aeTitle, allowList: allowList,
            supportedContexts: RPIService.supportedContexts, maxPDULength: maxPDU,
            artimTimeout: .fromSeconds(artimTimeout), idleTimeout: .fromSeconds(idleTimeout),
            messageLimits: RPIService.messageLimits,
            logger: logger,
            tap: metricsTap(metrics))
        let limits = ConnectionLimitOptions.sized(maxAssociations, perAssociation: 1, files: "its connection")
        configuration.maxAssociations = limits.limit
        let service = RPIService(store: store, logger: logger, responseDelay: responseDelay.map { .nanoseconds(Int64($0 * 1e9)) },
                                 redactIdentifiers: redactIdentifiers)
        // One server per port, the same store and service behind both: the plain one, and the TLS one.
        var servers: [(DICOMServer, String)] = []
        do {
            if let port {
                servers.append((try await DICOMServer.start(host: host, port: port, configuration: configuration, handler: service),
                                ""))
            }
            if let tlsPort = tlsOptions.tlsPort {
                configuration.tls = tls
                servers.append((try await DICOMServer.start(host: host, port: tlsPort, configuration: configuration, handler: service),
                                tlsOptions.summary))
            }
        } catch {
            for (server, _) in servers { await server.shutdown() }
            FileHandle.standardError.write(Data("dicomtap serve: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let patients = try store.patientCount()
        for (server, kind) in servers {
            write("listening on \(SocketFailure.address(host: host, port: server.port))\(kind.isEmpty ? "" : " (\(kind))") as \(aeTitle ?? "any AE title"); \(patients) patients in \(db)"
                  + (allowList.map { "; allowed: \($0)" } ?? "") + "\n")
        }
        for line in limits.lines { write("\(line)\n") }
        let listening = "listening on " + servers.map { SocketFailure.address(host: host, port: $0.0.port) + ($0.1.isEmpty ? "" : " (TLS)") }
            .joined(separator: " and ")
        var metricsEndpoint: MetricsEndpoint?
        if let metrics {
            do {
                metricsEndpoint = try await metricsOptions.start(metrics, health: { HealthStatus(healthy: true, reason: listening) })
            } catch {
                for (server, _) in servers { await server.shutdown() }
                throw error
            }
        }
        _ = await signals.next()
        await metricsEndpoint?.close()
        for (server, _) in servers { await server.shutdown() }
        write("stopped\n")
    }

    /// Each association observed for --metrics-listen.
    private func metricsTap(_ metrics: DICOMMetrics?) -> (@Sendable (Int) -> AssociationTap?)? {
        guard let metrics else { return nil }
        return { _ in metrics.tap() }
    }
}
