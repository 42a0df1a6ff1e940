import DICOMCore
import DICOMNetwork
import DICOMProxy
import DICOMServices
import DICOMStore
import Foundation
import Logging
import NIOCore

/// `dicomtap demo`: our SCP on the shipped demo data, our proxy in front of it, our SCU querying through the
/// proxy, all on free loopback ports; the proxy prints the annotated exchange, the SCU the result.
package struct Demo: Sendable {
    package var dataPaths: [String]
    package var patientID: String
    package var issuer: String?
    package var model: RPIQueryModel
    /// Proxy console detail: info (exchanges), debug (+ every PDU and message), trace (+ data sets).
    package var proxyLevel: Logger.Level
    /// DICOM over TLS on both legs (mutual TLS), with a throwaway CA and certificates in a temporary folder.
    package var tls: Bool
    /// How long the query waits for each response (30 s, as `dicomtap query`; the tests allow more on a busy machine).
    package var queryTimeout: Duration = .seconds(30)

    package init(dataPaths: [String], patientID: String = Demo.defaultPatientID, issuer: String? = nil,
                model: RPIQueryModel = .general, proxyLevel: Logger.Level = .trace, tls: Bool = false) {
        self.tls = tls
        self.dataPaths = dataPaths
        self.patientID = patientID
        self.issuer = issuer
        self.model = model
        self.proxyLevel = proxyLevel
    }

    /// A patient of the shipped demo data with one match in every issuer.
    package static let defaultPatientID = "PAT-0001"
    package static let serverAETitle = "DICOMTAP-RPI"

    /// The running pieces, for `--keep-running` and tests.
    package struct Running: Sendable {
        package let server: DICOMServer
        package let proxy: DICOMProxyServer
        package let serverPort: Int
        package let proxyPort: Int
        package let patients: Int
        /// With --tls: the SCU's side (the demo CA, its certificate) and the folder of the throwaway certificates.
        let scuTLS: TLSContext?
        let certificates: DemoCertificates?

        package func stop() async {
            defer { certificates?.remove() }
            // The proxy logs an association's end after the SCU has its last answer; let it finish first.
            for _ in 0..<50 where await proxy.openAssociationCount() > 0 {
                try? await Task.sleep(for: .milliseconds(20))
            }
            await proxy.shutdown(gracePeriod: .seconds(2))
            await server.shutdown()
        }
    }

    /// Imports the demo data into an in-memory store and starts the SCP and the proxy on free loopback ports.
    package func start(log: @escaping @Sendable (String) -> Void) async throws -> Running {
        let store = try RPIStore.inMemory()
        let summary = try store.importPaths(dataPaths)
        log("store: \(summary)")
        var serveLogger = Logger(label: "serve") { _ in ConsoleLogHandler() }
        serveLogger.logLevel = .notice
        let certificates = tls ? try DemoCertificates.make() : nil
        if let certificates { log("tls: a throwaway CA and certificates for serve, proxy and query in \(certificates.folder)") }
        var serverConfiguration = ServerConfiguration(aeTitle: Demo.serverAETitle, supportedContexts: RPIService.supportedContexts,
                                                      messageLimits: RPIService.messageLimits, logger: serveLogger)
        var configuration = ProxyConfiguration(listen: ProxyEndpoint(host: "127.0.0.1", port: 0), routing: RoutingTable())
        let scuTLS: TLSContext?
        do {
            serverConfiguration.tls = try certificates?.server("serve")
            if let certificates {
                configuration.listen = nil
                configuration.tlsListen = ProxyEndpoint(host: "127.0.0.1", port: 0)
                configuration.listenTLS = try certificates.server("proxy")
                configuration.upstreamTLS = try certificates.client("proxy")
            }
            scuTLS = try certificates?.client("scu")
        } catch {
            certificates?.remove()
            throw error
        }
        let server: DICOMServer
        do {
            server = try await DICOMServer.start(host: "127.0.0.1", port: 0, configuration: serverConfiguration,
                                                 handler: RPIService(store: store, logger: serveLogger))
        } catch {
            certificates?.remove()
            throw error
        }
        configuration.routing = RoutingTable(routes: [:], defaultUpstream: ProxyEndpoint(host: "127.0.0.1", port: server.port, tls: tls))
        configuration.connectTimeout = .seconds(5)
        var proxyLogger = Logger(label: "proxy") { _ in ConsoleLogHandler() }
        proxyLogger.logLevel = proxyLevel
        let proxy: DICOMProxyServer
        let proxyPort: Int
        do {
            proxy = try DICOMProxyServer(configuration: configuration, logger: proxyLogger)
            proxyPort = try await proxy.start().port ?? 0
        } catch {
            await server.shutdown()
            certificates?.remove()
            throw error
        }
        let scheme = tls ? "tls://" : ""
        log("serve: \(Demo.serverAETitle) on \(scheme)127.0.0.1:\(server.port)   proxy: \(scheme)127.0.0.1:\(proxyPort) -> "
            + "\(scheme)127.0.0.1:\(server.port)")
        return Running(server: server, proxy: proxy, serverPort: server.port, proxyPort: proxyPort, patients: summary.patients,
                       scuTLS: scuTLS, certificates: certificates)
    }

    /// Runs one query through the proxy and reports it.
    package func query(_ running: Running, log: @escaping @Sendable (String) -> Void) async throws -> RPIQueryResult {
        var query = RPIQuery(patientID: patientID, issuer: issuer, model: model, callingAETitle: "DEMO-SCU",
                             calledAETitle: Demo.serverAETitle, timeout: TimeAmount(queryTimeout))
        query.tls = running.scuTLS
        log("query: \(model.rawValue) (\(UIDRegistry.name(for: model.sopClassUID) ?? model.sopClassUID)) for Patient ID \(patientID) via the proxy")
        log("request identifier:\n" + TextDumpRenderer().render(query.identifier(), prefix: "  "))
        var number = 0
        let result = try await query.run(host: "127.0.0.1", port: running.proxyPort) { _ in }
        for response in result.responses {
            number += 1
            log(RPIQueryReport.text(response, number: number))
        }
        log(RPIQueryReport.summary(result))
        return result
    }
}
