import DICOMNetwork
import NIOCore
import NIOHTTP1
import NIOPosix

/// What `/healthz` answers: healthy or not, and why, in words an operator reads in a load balancer's log.
public struct HealthStatus: Sendable, Equatable {
    public var healthy: Bool
    public var reason: String
    public init(healthy: Bool, reason: String) {
        self.healthy = healthy
        self.reason = reason
    }
}

/// The HTTP side of `--metrics-listen`: `GET /metrics` (Prometheus text exposition of `DICOMMetrics`) and
/// `GET /healthz` (200 or 503, the reason in the body). Plain HTTP/1.1 on NIO, nothing else served.
public final class MetricsEndpoint: Sendable {
    public let localAddress: SocketAddress
    private let channel: any Channel

    private init(channel: any Channel, localAddress: SocketAddress) {
        self.channel = channel
        self.localAddress = localAddress
    }

    /// Binds `host:port` (port 0: one the OS picks) and serves until `close()`. A bind that fails throws a
    /// `SocketFailure` saying why and what to do.
    public static func start(host: String, port: Int, metrics: DICOMMetrics,
                             health: @escaping @Sendable () -> HealthStatus,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(SocketFailure) -> MetricsEndpoint {
        let channel: any Channel
        do {
            channel = try await bind(host: host, port: port, metrics: metrics, health: health, group: group)
        } catch {
            throw SocketFailure(listeningOn: host, port: port, error: error)
        }
        guard let address = channel.localAddress else {
            try? await channel.close()
            throw SocketFailure(.listen, host: host, port: port, reason: "no local address after binding")
        }
        return MetricsEndpoint(channel: channel, localAddress: address)
    }

    private static func bind(host: String, port: Int, metrics: DICOMMetrics, health: @escaping @Sendable () -> HealthStatus,
                             group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, health: health))
                }
            }
            .bind(host: host, port: port).get()
    }

    public var port: Int { localAddress.port ?? 0 }

    public func close() async {
        try? await channel.close()
    }
}

/// One request, one response; the connection is kept alive as the client asks.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: DICOMMetrics
    private let health: @Sendable () -> HealthStatus
    private var request: HTTPRequestHead?

    init(metrics: DICOMMetrics, health: @escaping @Sendable () -> HealthStatus) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var status = HTTPResponseStatus.ok
        var contentType = "text/plain; charset=utf-8"
        var body = ByteBuffer()
        switch (head.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            contentType = "text/plain; version=0.0.4; charset=utf-8"
            body.writeBytes(metrics.exposition())
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            let result = health()
            status = result.healthy ? .ok : .serviceUnavailable
            body.writeString((result.healthy ? "ok: " : "unhealthy: ") + result.reason + "\n")
        case (.GET, _), (.HEAD, _):
            status = .notFound
            body.writeString("not found: this endpoint serves /metrics and /healthz\n")
        default:
            status = .methodNotAllowed
            body.writeString("only GET and HEAD are served\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
