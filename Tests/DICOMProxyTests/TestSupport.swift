import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@_exported import DICOMTestSupport
@testable import DICOMProxy

extension Peers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static let script = directory.appendingPathComponent("peer.py").path
}

extension Subprocess {
    /// Runs `peer.py` with python.
    static func python(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 60) throws -> Subprocess {
        try python(script: Peers.script, ["--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }
}

// MARK: - The proxy, in process

/// Log lines the proxy wrote, formatted as on the console.
final class LogCapture: Sendable {
    let lines = Locked<[String]>([])
    var text: String { lines.current.joined(separator: "\n") }
    func contains(_ s: String) -> Bool { lines.current.contains { $0.contains(s) } }
}

struct CapturingLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let capture: LogCapture

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let text = ConsoleLogHandler.format(message: "\(event.message)", level: event.level, metadata: merged, time: wallClock())
        capture.lines.withValue { $0 += text.split(separator: "\n").map(String.init) }
    }
}

/// A proxy on port 0 of 127.0.0.1, on its own event loop group, stopped by `stop()`.
struct ProxyHarness {
    let group: MultiThreadedEventLoopGroup
    let server: DICOMProxyServer
    let port: Int
    let logs: LogCapture

    static func start(upstream: Int?, routes: [String: Int] = [:], level: Logger.Level = .info,
                      configure: (inout ProxyConfiguration) -> Void = { _ in }) async throws -> ProxyHarness {
        var configuration = ProxyConfiguration(
            listen: ProxyEndpoint(host: "127.0.0.1", port: 0),
            routing: RoutingTable(routes: routes.mapValues { ProxyEndpoint(host: "127.0.0.1", port: $0) },
                                  defaultUpstream: upstream.map { ProxyEndpoint(host: "127.0.0.1", port: $0) }))
        configuration.connectTimeout = .seconds(3)
        configure(&configuration)
        let logs = LogCapture()
        var logger = Logger(label: "test.proxy") { _ in CapturingLogHandler(capture: logs) }
        logger.logLevel = level
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            let server = try DICOMProxyServer(configuration: configuration, group: group, logger: logger)
            let address = try await server.start()
            return ProxyHarness(group: group, server: server, port: address.port ?? 0, logs: logs)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    func stop(grace: Duration = .seconds(2)) async {
        await server.shutdown(gracePeriod: grace)
        try? await group.shutdownGracefully()
    }
}

/// Runs `body` with a proxy and stops the proxy afterwards, also when `body` throws.
func withProxy<T>(upstream: Int?, routes: [String: Int] = [:], level: Logger.Level = .info,
                  configure: (inout ProxyConfiguration) -> Void = { _ in },
                  _ body: (ProxyHarness) async throws -> T) async throws -> T {
    let proxy = try await ProxyHarness.start(upstream: upstream, routes: routes, level: level, configure: configure)
    do {
        let result = try await body(proxy)
        await proxy.stop()
        return result
    } catch {
        await proxy.stop()
        throw error
    }
}

// MARK: - Raw peers (for what real peers will not do)

/// Collects what a connection receives; lets a test wait for a number of bytes or the close.
final class ByteCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let received = Locked(ByteBuffer())
    let closed = Locked(false)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.withValue { $0.writeBuffer(&bytes) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.withValue { $0 = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A test-driven TCP client speaking raw bytes.
struct RawClient {
    let channel: any Channel
    let collector: ByteCollector

    static func connect(port: Int, group: any EventLoopGroup) async throws -> RawClient {
        let collector = ByteCollector()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawClient(channel: channel, collector: collector)
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    /// Everything received once at least `count` bytes are in (or the connection closed).
    func receive(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await eventually("\(count) bytes", timeout: timeout) {
            collector.received.current.readableBytes >= count || collector.closed.current
        }
        return Array(collector.received.current.readableBytesView)
    }

    func waitUntilClosed(timeout: Duration = .seconds(10)) async throws {
        try await eventually("the proxy to close the connection", timeout: timeout) { collector.closed.current }
    }

    func close() async {
        try? await channel.close()
    }
}

/// An upstream SCP stand-in: answers the A-ASSOCIATE-RQ of each connection with a fixed
/// A-ASSOCIATE-AC (followed by `afterAccept`, if any), or never answers (`silent`), and keeps
/// everything it received.
final class ScriptedUpstream: @unchecked Sendable {
    enum Behavior: Sendable {
        case silent
        case accept(afterAccept: [UInt8])
    }

    let channel: any Channel
    let received = Locked(ByteBuffer())
    let closedConnections = Locked(0)
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(_ behavior: Behavior, group: any EventLoopGroup) async throws -> ScriptedUpstream {
        let box = Locked<ScriptedUpstream?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let upstream = box.current else { return }
                    try channel.pipeline.syncOperations.addHandler(ScriptedPeerHandler(behavior: behavior, upstream: upstream))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let upstream = ScriptedUpstream(channel: channel)
        box.withValue { $0 = upstream }
        return upstream
    }

    func stop() async {
        try? await channel.close()
    }
}

final class ScriptedPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let behavior: ScriptedUpstream.Behavior
    let upstream: ScriptedUpstream
    var buffer = ByteBuffer()
    var answered = false

    init(behavior: ScriptedUpstream.Behavior, upstream: ScriptedUpstream) {
        self.behavior = behavior
        self.upstream = upstream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        var copy = bytes
        upstream.received.withValue { $0.writeBuffer(&copy) }
        buffer.writeBuffer(&bytes)
        guard !answered, case .accept(let extra) = behavior,
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self),
              buffer.readableBytes >= 6 + Int(length) else { return }
        answered = true
        var reply = TestPDUs.associateAccept()
        reply.writeBytes(extra)
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream.closedConnections.withValue { $0 += 1 }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// PDUs the raw peers send.
enum TestPDUs {
    static let verification = "1.2.840.10008.1.1"
    static let implicitLittleEndian = "1.2.840.10008.1.2"

    static func associateRequest(called: String = "SCRIPTED", calling: String = "RAWSCU") -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: called, callingAETitle: calling, items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: verification,
                                                                       transferSyntaxes: [implicitLittleEndian])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
        ])
        return PDU.associateRequest(AssociateRequest(fields: fields)).encoded()
    }

    static func associateAccept() -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "SCRIPTED", callingAETitle: "RAWSCU", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance,
                                                                     transferSyntax: implicitLittleEndian)),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
        ])
        return PDU.associateAccept(AssociateAccept(fields: fields)).encoded()
    }

    /// A-ABORT from the service provider with `reason` (PS3.8 Table 9-26).
    static func abort(reason: UInt8) -> [UInt8] { [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, reason] }

    /// A-ASSOCIATE-RJ (PS3.8 Table 9-21).
    static func reject(result: UInt8, source: UInt8, reason: UInt8) -> [UInt8] {
        [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, result, source, reason]
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined(separator: " ") }
}

// MARK: - Files the proxy wrote

/// The objects of an `events.jsonl`.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw TimeoutError(what: "not a JSON object: \($0)")
        }
        return object
    }
}
