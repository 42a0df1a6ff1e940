import Foundation
@_exported import DICOMPeerSupport
import NIOCore
import NIOPosix

/// What the network tests of several targets share beyond DICOMPeerSupport: raw NIO peers for what real
/// peers will not do.

// MARK: - Raw peers (for what real peers will not do)

/// Collects what a connection receives; lets a test wait for a number of bytes or the close.
public final class ByteCollector: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public let received = Locked(ByteBuffer())
    public let closed = Locked(false)
    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.withValue { $0.writeBuffer(&bytes) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closed.withValue { $0 = true }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A test-driven TCP client speaking raw bytes.
public struct RawClient {
    public let channel: any Channel
    public let collector: ByteCollector

    /// Connects; with `first`, those bytes are written on the channel's event loop as soon as it is connected, not
    /// after the test's task runs again (on a loaded machine that can be seconds: past a server's ARTIM timer).
    public static func connect(port: Int, group: any EventLoopGroup, sending first: ByteBuffer? = nil) async throws -> RawClient {
        let collector = ByteCollector()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .flatMap { channel in
                guard let first else { return channel.eventLoop.makeSucceededFuture(channel) }
                return channel.writeAndFlush(first).map { channel }.flatMapError { error in
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .get()
        return RawClient(channel: channel, collector: collector)
    }

    public func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    /// Everything received once at least `count` bytes are in (or the connection closed).
    public func receive(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await eventually("\(count) bytes", timeout: timeout) {
            collector.received.current.readableBytes >= count || collector.closed.current
        }
        return Array(collector.received.current.readableBytesView)
    }

    public func waitUntilClosed(timeout: Duration = .seconds(10)) async throws {
        try await eventually("the proxy to close the connection", timeout: timeout) { collector.closed.current }
    }

    public func close() async {
        try? await channel.close()
    }
}
