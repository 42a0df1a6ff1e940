import ArgumentParser
import DICOMMetrics
import DICOMNetwork
import DICOMProxy

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
    func checkListening() async throws {
        guard let endpoint else { return }
        do {
            try await SocketFailure.checkListening(host: endpoint.host, port: endpoint.port)
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
