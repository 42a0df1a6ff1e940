import DICOMNetwork
@testable import DICOMProxy
@_exported import DICOMTestSupport
import Logging
import NIOCore
import NIOPosix

// What the proxy's and the rewriter's tests share beyond DICOMTestSupport: the proxy, in process.

/// A proxy on port 0 of 127.0.0.1, on its own event loop group, stopped by `stop()`.
public struct ProxyHarness {
    public let group: MultiThreadedEventLoopGroup
    public let server: DICOMProxyServer
    public let port: Int
    public let logs: LogCapture

    /// `threads`: of the proxy's event loop group (1: every association on one event loop).
    public static func start(upstream: Int?, routes: [String: Int] = [:], level: Logger.Level = .info, threads: Int = 2,
                      configure: (inout ProxyConfiguration) -> Void = { _ in }) async throws -> ProxyHarness {
        var configuration = ProxyConfiguration(
            listen: ProxyEndpoint(host: "127.0.0.1", port: 0),
            routing: RoutingTable(routes: routes.mapValues { ProxyEndpoint(host: "127.0.0.1", port: $0) },
                                  defaultUpstream: upstream.map { ProxyEndpoint(host: "127.0.0.1", port: $0) }))
        // Generous: a Python SCP on a loaded machine may take seconds to answer (tests of the timeout set their own).
        configuration.connectTimeout = .seconds(20)
        configure(&configuration)
        let logs = LogCapture()
        var logger = Logger(label: "test.proxy") { _ in ConsoleLogHandler { text in logs.lines.withValue { $0 += text.split(separator: "\n").map(String.init) } } }
        logger.logLevel = level
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            let server = try DICOMProxyServer(configuration: configuration, group: group, logger: logger)
            let address = try await server.start()
            return ProxyHarness(group: group, server: server, port: address.port ?? 0, logs: logs)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    public func stop(grace: Duration = .seconds(2)) async {
        await server.shutdown(gracePeriod: grace)
        try? await group.shutdownGracefully()
    }
}

/// Runs `body` with a proxy and stops the proxy afterwards, also when `body` throws.
public func withProxy<T>(upstream: Int?, routes: [String: Int] = [:], level: Logger.Level = .info, threads: Int = 2,
                  configure: (inout ProxyConfiguration) -> Void = { _ in },
                  _ body: (ProxyHarness) async throws -> T) async throws -> T {
    let proxy = try await ProxyHarness.start(upstream: upstream, routes: routes, level: level, threads: threads, configure: configure)
    do {
        let result = try await body(proxy)
        await proxy.stop()
        return result
    } catch {
        await proxy.stop()
        throw error
    }
}

