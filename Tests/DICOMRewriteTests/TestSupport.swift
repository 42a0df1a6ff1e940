import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

// Test support shared by the rewriting tests (the peers, subprocesses and the in-process proxy
// follow Tests/DICOMProxyTests/TestSupport.swift).

// MARK: - Peers on this machine

/// The real peers the tests run: pynetdicom/pydicom through `Peers/rewrite_peer.py`.
enum Peers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static let script = directory.appendingPathComponent("rewrite_peer.py").path

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


/// The JSON objects of a JSON-lines file.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw TimeoutError(what: "not a JSON object: \($0)")
        }
        return object
    }
}

/// The JSON object a peer printed on stdout.
func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TimeoutError(what: "not a JSON object: \(text)")
    }
    return object
}

/// Every file under `directory` (recursively), with its bytes.
func filesBytes(under directory: String) -> [(path: String, bytes: [UInt8])] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var out: [(String, [UInt8])] = []
    for case let name as String in enumerator {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: path) else { continue }
        out.append((path, [UInt8](data)))
    }
    return out
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        var i = 0
        while i + needle.count <= count {
            if self[i] == needle[0] && Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}
