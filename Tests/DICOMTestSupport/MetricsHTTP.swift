import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A one-request HTTP/1.1 client for the tests (`Connection: close`, the whole response as text).
public enum MetricsHTTP {
    /// Sends one HTTP/1.1 request with `Connection: close` and returns the whole response as text.
    public static func get(_ path: String, port: Int, method: String = "GET") async throws -> String {
        let received = NIOLockedValueBox(ByteBuffer())
        let closed = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(received: received, closed: closed))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            closed.fail(error)  // a promise left open would stop the test process
            throw error
        }
        try await channel.writeAndFlush(ByteBuffer(string: "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"))
        try await closed.futureResult.get()
        return received.withLockedValue { String(buffer: $0) }
    }
    
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<ByteBuffer>
        let closed: EventLoopPromise<Void>
        init(received: NIOLockedValueBox<ByteBuffer>, closed: EventLoopPromise<Void>) {
            self.received = received
            self.closed = closed
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            received.withLockedValue { _ = $0.writeBuffer(&bytes) }
        }
        func channelInactive(context: ChannelHandlerContext) { closed.succeed(()) }
    }
}


/// The port number printed right after `prefix` in `text` ("listening on 127.0.0.1:" in a server's output).
public func printedPort(after prefix: String, in text: String) -> Int? {
    guard let range = text.range(of: prefix) else { return nil }
    return Int(text[range.upperBound...].prefix { $0.isNumber })
}
