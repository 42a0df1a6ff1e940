import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

// MARK: - Peers on this machine

/// The real peers the tests run: pynetdicom/pydicom through `Peers/peer.py`, and DCMTK.
enum Peers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static let script = directory.appendingPathComponent("peer.py").path

    /// A python3 that imports pynetdicom and pydicom (the first on PATH that does, then /usr/bin/python3).
    static let python: String? = {
        var candidates: [String] = []
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(String(dir) + "/python3")
        }
        candidates.append("/usr/bin/python3")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: candidate)
            p.arguments = ["-c", "import pynetdicom, pydicom"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return candidate }
        }
        return nil
    }()

    static var pynetdicomAvailable: Bool { python != nil }

    static let echoscu = "/usr/bin/echoscu"
    static let storescu = "/usr/bin/storescu"
    static let storescp = "/usr/bin/storescp"
    static let findscu = "/usr/bin/findscu"
    static var dcmtkAvailable: Bool {
        [echoscu, storescu, storescp].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A fresh temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String
    init(_ name: String = "proxy") throws {
        path = NSTemporaryDirectory() + "dicomtap-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// A value behind a lock (test helper).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    @discardableResult
    func withValue<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withValue { $0 } }
}

struct TimeoutError: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TimeoutError(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

// MARK: - Subprocesses

/// A peer process: stdout and stderr go to files; stopped by its PID (SIGTERM, then SIGKILL).
final class Subprocess: @unchecked Sendable {
    let process = Process()
    let name: String
    let stdoutPath: String
    let stderrPath: String
    private let stdin = Pipe()

    init(_ executable: String, _ arguments: [String], name: String, directory: TemporaryDirectory) throws {
        self.name = name
        stdoutPath = directory.file("\(name).stdout")
        stderrPath = directory.file("\(name).stderr")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = stdin
        try process.run()
    }

    /// Runs `peer.py` with python.
    static func python(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 60) throws -> Subprocess {
        guard let python = Peers.python else { throw TimeoutError(what: "no python with pynetdicom") }
        return try Subprocess(python, [Peers.script, "--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The first line of stdout (a server's port).
    func firstLine(timeout: Duration = .seconds(15)) async throws -> String {
        var line = ""
        try await eventually("\(name) to print its port", timeout: timeout) {
            let out = stdout
            if let nl = out.firstIndex(of: "\n") {
                line = String(out[..<nl])
                return true
            }
            if !process.isRunning { throw TimeoutError(what: "\(name) exited early: \(stderr)") }
            return false
        }
        return line
    }

    func port() async throws -> Int {
        let line = try await firstLine()
        guard let port = Int(line.trimmingCharacters(in: .whitespaces)) else {
            throw TimeoutError(what: "\(name) printed '\(line)' instead of a port; stderr: \(stderr)")
        }
        return port
    }

    /// Waits for the process to exit; kills it if it takes longer than `timeout`.
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) async throws -> Int32 {
        do {
            try await eventually("\(name) to exit", timeout: timeout) { !process.isRunning }
        } catch {
            stop()
            throw TimeoutError(what: "\(name) did not finish in \(timeout); stderr: \(stderr)")
        }
        return process.terminationStatus
    }

    /// Stops the process by its PID if it still runs.
    func stop() {
        guard process.isRunning else { return }
        try? stdin.fileHandleForWriting.close()
        kill(pid, SIGTERM)
        for _ in 0..<50 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A TCP port that was free a moment ago (for peers that cannot bind port 0 themselves: DCMTK).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw TimeoutError(what: "bind") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
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
