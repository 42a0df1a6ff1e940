import Foundation
import NIOCore
import NIOPosix

/// What the integration tests of several targets share: real peers on this machine, subprocesses stopped
/// by PID, temporary directories, free ports, polling.
// MARK: - Peers on this machine

/// The real peers the tests run: pynetdicom/pydicom through `Peers/peer.py`, and DCMTK.
public enum Peers {

    /// A python3 that imports pynetdicom and pydicom (the first on PATH that does, then /usr/bin/python3).
    public static let python: String? = {
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

    public static var pynetdicomAvailable: Bool { python != nil }

    public static let echoscu = "/usr/bin/echoscu"
    public static let storescu = "/usr/bin/storescu"
    public static let storescp = "/usr/bin/storescp"
    public static let findscu = "/usr/bin/findscu"
    public static var dcmtkAvailable: Bool {
        [echoscu, storescu, storescp].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A fresh temporary directory, removed by `remove()`.
public struct TemporaryDirectory {
    public let path: String
    public init(_ name: String = "proxy") throws {
        path = NSTemporaryDirectory() + "dicomtap-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { path + "/" + name }
}

/// A value behind a lock (test helper).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    @discardableResult
    public func withValue<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    public var current: Value { withValue { $0 } }
}

public struct TimeoutError: Error, CustomStringConvertible {
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out: \(what)" }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TimeoutError(what: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

// MARK: - Subprocesses

/// A peer process: stdout and stderr go to files; stopped by its PID (SIGTERM, then SIGKILL).
public final class Subprocess: @unchecked Sendable {
    public let process = Process()
    public let name: String
    public let stdoutPath: String
    public let stderrPath: String
    private let stdin = Pipe()

    public init(_ executable: String, _ arguments: [String], name: String, directory: TemporaryDirectory,
                environment: [String: String]? = nil) throws {
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
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try process.run()
    }

    /// Runs a Python script with the python that has pynetdicom.
    public static func python(script: String, _ arguments: [String], name: String, directory: TemporaryDirectory) throws -> Subprocess {
        guard let python = Peers.python else { throw TimeoutError(what: "no python with pynetdicom") }
        return try Subprocess(python, [script] + arguments, name: name, directory: directory)
    }

    public var pid: Int32 { process.processIdentifier }
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The first line of stdout (a server's port).
    public func firstLine(timeout: Duration = .seconds(15)) async throws -> String {
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

    public func port() async throws -> Int {
        let line = try await firstLine()
        guard let port = Int(line.trimmingCharacters(in: .whitespaces)) else {
            throw TimeoutError(what: "\(name) printed '\(line)' instead of a port; stderr: \(stderr)")
        }
        return port
    }

    /// Waits for the process to exit; kills it if it takes longer than `timeout`.
    @discardableResult
    public func wait(timeout: Duration = .seconds(30)) async throws -> Int32 {
        do {
            try await eventually("\(name) to exit", timeout: timeout) { !process.isRunning }
        } catch {
            stop()
            throw TimeoutError(what: "\(name) did not finish in \(timeout); stderr: \(stderr)")
        }
        return process.terminationStatus
    }

    /// Stops the process by its PID if it still runs.
    public func stop() {
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
public func freePort() throws -> Int {
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

    public static func connect(port: Int, group: any EventLoopGroup) async throws -> RawClient {
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


// MARK: - SQLite files changed by another program than ours

public struct SQLiteShellError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Whether the sqlite3 command-line shell is installed (tools/setup.sh installs it).
public let sqlite3ShellAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")

/// Runs `sql` on the SQLite file at `path` with the sqlite3 shell: another connection than the store's.
public func sqlite3(_ path: String, _ sql: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = [path, sql]
    let err = Pipe()
    p.standardError = err
    try p.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw SQLiteShellError(message: "sqlite3 \(sql): \(message)") }
}
