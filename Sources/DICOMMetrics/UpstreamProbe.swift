import DICOMNetwork
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The proxy's background check for `/healthz`: every `interval` it opens a TCP connection to each upstream
/// (the default one and every route) and closes it at once, without sending a PDU (an SCP sees a connection
/// that ends before an A-ASSOCIATE-RQ, as from a port scanner or a load balancer's own check). Healthy when
/// every upstream accepted a connection within `window`.
public final class UpstreamProbe: Sendable {
    public struct Target: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { SocketFailure.address(host: host, port: port) }
    }

    private struct Outcome: Sendable {
        var lastSuccess: NIODeadline?
        var lastFailure: String?
    }

    public let targets: [Target]
    public let interval: TimeAmount
    public let window: TimeAmount
    public let connectTimeout: TimeAmount
    private let outcomes: NIOLockedValueBox<[Target: Outcome]>
    private let task: NIOLockedValueBox<RepeatedTask?>
    private let onFailure: @Sendable (Target, String) -> Void

    /// `targets` in the order given (the default upstream, then the routes), each once. `onFailure` is told each
    /// failed connection (the proxy counts it in its metrics).
    public init(targets: [Target], interval: TimeAmount = .seconds(10), window: TimeAmount = .seconds(30),
                connectTimeout: TimeAmount = .seconds(5), onFailure: @escaping @Sendable (Target, String) -> Void = { _, _ in }) {
        var seen = Set<Target>()
        self.targets = targets.filter { seen.insert($0).inserted }
        self.interval = interval
        self.window = window
        self.connectTimeout = connectTimeout
        self.onFailure = onFailure
        outcomes = NIOLockedValueBox([:])
        task = NIOLockedValueBox(nil)
    }

    /// Starts checking now and then every `interval`.
    public func start(on eventLoop: any EventLoop) {
        let repeated = eventLoop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { [self] _ in
            checkAll(on: eventLoop)
        }
        task.withLockedValue { $0 = repeated }
    }

    public func stop() {
        task.withLockedValue { $0?.cancel(); $0 = nil }
    }

    /// One round over every target; the future completes when each has connected or failed.
    @discardableResult
    public func checkAll(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let checks = targets.map { target in
            ClientBootstrap(group: eventLoop)
                .connectTimeout(connectTimeout)
                .connect(host: target.host, port: target.port)
                .flatMap { channel in channel.close() }
                .map { self.note(target, failure: nil) }
                .recover { error in self.note(target, failure: Self.describe(error)) }
        }
        return EventLoopFuture.andAllComplete(checks, on: eventLoop)
    }

    private func note(_ target: Target, failure: String?) {
        outcomes.withLockedValue {
            var outcome = $0[target] ?? Outcome()
            if let failure { outcome.lastFailure = failure } else { outcome.lastSuccess = .now(); outcome.lastFailure = nil }
            $0[target] = outcome
        }
        if let failure { onFailure(target, failure) }
    }

    /// Healthy when every target accepted a connection within `window`; otherwise the first one that did not,
    /// and why.
    public func status(now: NIODeadline = .now()) -> HealthStatus {
        let outcomes = outcomes.withLockedValue { $0 }
        var problems: [String] = []
        for target in targets {
            let outcome = outcomes[target]
            if let success = outcome?.lastSuccess, now - success <= window { continue }
            let seconds = window.nanoseconds / 1_000_000_000
            if let failure = outcome?.lastFailure {
                problems.append("upstream \(target) did not accept a TCP connection in the last \(seconds) s (\(failure))")
            } else if outcome?.lastSuccess != nil {
                problems.append("upstream \(target) was not checked in the last \(seconds) s")
            } else {
                problems.append("upstream \(target) not checked yet")
            }
        }
        if problems.isEmpty {
            return HealthStatus(healthy: true, reason: targets.isEmpty ? "listening" :
                "listening; every upstream (\(targets.map(\.description).joined(separator: ", "))) accepted a connection")
        }
        return HealthStatus(healthy: false, reason: problems.joined(separator: "; "))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error { return "timed out" }
        return SocketFailure.reason(error)
    }
}
