import ArgumentParser
import DICOMMetrics
import DICOMNetwork
import DICOMProxy
import DICOMRewrite
import Dispatch

/// `--metrics-listen`, shared by `proxy` and `serve`.
struct MetricsOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Serve Prometheus metrics at /metrics and a health check at /healthz over HTTP on this address "
            + "(a bare port listens on every address; off by default).",
        valueName: "[host:]port"))
    var metricsListen: String?

    var endpoint: ProxyEndpoint? { metricsListen.flatMap { ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") } }

    func validate() throws {
        if let metricsListen, endpoint == nil {
            throw ValidationError("--metrics-listen '\(metricsListen)' is not [HOST:]PORT (e.g. 9464 or 127.0.0.1:9464)")
        }
    }

    /// Says early (before files are opened or data loaded) that the metrics port cannot be listened on.
    func checkListening() throws {
        guard let endpoint else { return }
        do {
            try SocketFailure.checkListening(host: endpoint.host, port: endpoint.port)
        } catch {
            throw CLIError("--metrics-listen: \(error)")
        }
    }

    /// Starts the endpoint when asked for, and says where it listens.
    func start(_ metrics: DICOMMetrics, health: @escaping @Sendable () -> HealthStatus) async throws -> MetricsEndpoint? {
        guard let endpoint else { return nil }
        do {
            let server = try await MetricsEndpoint.start(host: endpoint.host, port: endpoint.port, metrics: metrics, health: health)
            write("metrics on http://\(SocketFailure.address(host: endpoint.host, port: server.port))/metrics and /healthz\n")
            return server
        } catch {
            throw CLIError("--metrics-listen: \(error)")
        }
    }
}

/// `dicomtap_mapping_store_records`: the proxy's mapping store counted at start and every 30 s, on a queue of its
/// own (a count reads the table; never on an event loop). A failed count leaves the last value.
final class MappingStoreGauge {
    private let timer: DispatchSourceTimer

    init(store: any PseudonymStore, metrics: DICOMMetrics, every interval: DispatchTimeInterval = .seconds(30)) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "dicomtap.mapping-store-size"))
        timer.schedule(deadline: .now(), repeating: interval)
        timer.setEventHandler {
            if let count = try? store.count() { metrics.mappingStoreSize(count) }
        }
        timer.resume()
    }

    func stop() { timer.cancel() }
}
