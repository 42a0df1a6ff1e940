import Foundation

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

    /// Runs in `workingDirectory` (default: `directory`), stdin a pipe we hold (closed by `stop()`), or /dev/null
    /// with `closedStdin`.
    public init(_ executable: String, _ arguments: [String], name: String, directory: TemporaryDirectory,
                environment: [String: String]? = nil, workingDirectory: String? = nil, closedStdin: Bool = false) throws {
        self.name = name
        stdoutPath = directory.file("\(name).stdout")
        stderrPath = directory.file("\(name).stderr")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory ?? directory.path)
        let output = FileHandle(forWritingAtPath: stdoutPath)
        let errors = FileHandle(forWritingAtPath: stderrPath)
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = closedStdin ? FileHandle.nullDevice : stdin
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try process.run()
        // The child has its own copies: ours would stay open as long as Foundation keeps the Process (a test run
        // once held over a thousand, and a PostgreSQL server started beside them refused to start).
        try? output?.close()
        try? errors?.close()
        if !closedStdin { try? stdin.fileHandleForReading.close() }
    }

    /// Runs a Python script with the python that has pynetdicom.
    public static func python(script: String, _ arguments: [String], name: String, directory: TemporaryDirectory) throws -> Subprocess {
        guard let python = Peers.python else { throw PeerMissing(peer: .pynetdicom, problem: Peer.pynetdicom.problem ?? "") }
        return try Subprocess(python, [script] + arguments, name: name, directory: directory)
    }

    public var pid: Int32 { process.processIdentifier }
    /// What it wrote so far (a byte that is not UTF-8 becomes U+FFFD, never an empty string).
    public var stdout: String { Self.text(of: stdoutPath) }
    public var stderr: String { Self.text(of: stderrPath) }

    private static func text(of path: String) -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }

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
    public func wait(timeout: Duration = .seconds(90)) async throws -> Int32 {
        do {
            try await eventually("\(name) to exit", timeout: timeout) { !process.isRunning }
        } catch {
            stop()
            throw TimeoutError(what: "\(name) did not finish in \(timeout); stderr: \(stderr)")
        }
        return process.terminationStatus
    }

    /// Stops the process by its PID if it still runs.
    /// Its process group (Foundation starts each child in a group of its own) or, failing that, the process: a
    /// script's own children (bash running Chromium) go with it.
    public func stop() {
        try? stdin.fileHandleForWriting.close()
        guard process.isRunning else { return }
        signal(SIGTERM)
        for _ in 0..<50 where process.isRunning { usleep(10_000) }
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
    }

    private func signal(_ number: Int32) {
        if kill(-pid, number) != 0 { kill(pid, number) }
    }

    deinit { stop() }
}

/// How a program ended and what it printed.
public struct ProgramRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` to its end (stdin closed, in `workingDirectory`, `environment` added to ours) without holding a
/// thread while it runs: Swift's concurrency pool has one thread per core, and on a 2-core machine two tests waiting
/// in `waitUntilExit()` stall every other test (a CI run once stood still for 60 s while tshark ran, and tests with
/// timers of a few seconds failed). With `slots`, at most that many such programs run at once.
public func runProgram(_ executable: String, _ arguments: [String], workingDirectory: String? = nil,
                       environment: [String: String]? = nil, slots: PeerSlots? = nil,
                       timeout: Duration = .seconds(300)) async throws -> ProgramRun {
    try await holdingSlot(of: slots) {
        let directory = try TemporaryDirectory("run")
        defer { directory.remove() }
        let process = try Subprocess(executable, arguments, name: URL(fileURLWithPath: executable).lastPathComponent,
                                     directory: directory, environment: environment, workingDirectory: workingDirectory,
                                     closedStdin: true)
        let status = try await process.wait(timeout: timeout)
        return ProgramRun(status: status, stdout: process.stdout, stderr: process.stderr)
    }
}

/// Runs `body` on a thread of its own and waits for it without holding a thread of Swift's concurrency pool (see
/// `runProgram`): for a synchronous call that may block for seconds (a store waiting for a database that is down,
/// a cluster starting). Keep `#expect` out of `body`: it runs outside the test's task.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` (a peer that prints nothing when it listens).
/// With `process`, its exit while we wait is an error naming it, rather than a wait until the timeout.
public func canConnect(port: Int, _ process: Subprocess? = nil) throws -> Bool {
    if let process, !process.process.isRunning { throw TimeoutError(what: "\(process.name) exited: \(process.stderr)") }
    let attempt = loopbackSocket(port: port) { connect($0, $1, $2) }
    close(attempt.fd)
    return attempt.succeeded
}

/// A socket listening on 127.0.0.1:`port` (the caller closes it), or nil when the port cannot be bound.
public func listeningSocket(port: Int) -> Int32? {
    let attempt = loopbackSocket(port: port) { bind($0, $1, $2) }
    guard attempt.succeeded, listen(attempt.fd, 16) == 0 else {
        close(attempt.fd)
        return nil
    }
    return attempt.fd
}

/// A new TCP socket and `operation` (connect or bind) on it with 127.0.0.1:`port`; the caller closes the socket.
private func loopbackSocket(port: Int, _ operation: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32)
    -> (fd: Int32, succeeded: Bool) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { operation(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return (fd, result == 0)
}

/// A TCP port that is free now, for a peer that cannot bind port 0 itself (DCMTK) or a test that must know the
/// port first. Ports come from 20000-32767, below Linux's ephemeral range (32768-60999, where bind(0) and every
/// outgoing connection take theirs), each handed out once per test process and only after a bind to it
/// succeeded. Port 0's choice, closed and handed on, could be given again to a parallel test or taken as the
/// source port of a connection before the peer bound it: a proxy that a probe had found listening then refused
/// storescu ("Connection refused"), seen in a CI run.
public func freePort() throws -> Int {
    for _ in 0..<PortAllocator.shared.range.count {
        let port = PortAllocator.shared.next()
        if canBind(port: port) { return port }
    }
    throw TimeoutError(what: "a free port in \(PortAllocator.shared.range)")
}

private final class PortAllocator: @unchecked Sendable {
    static let shared = PortAllocator()
    let range = 20000..<32768
    private let lock = NSLock()
    private var cursor: Int

    init() { cursor = Int.random(in: range) }

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let port = cursor
        cursor = cursor + 1 == range.upperBound ? range.lowerBound : cursor + 1
        return port
    }
}

private func canBind(port: Int) -> Bool {
    let attempt = loopbackSocket(port: port) { bind($0, $1, $2) }
    close(attempt.fd)
    return attempt.succeeded
}
