import DICOMPeerSupport
import DICOMTestSupport
import DICOMMappingPostgres
import DICOMRewrite
import Foundation
import Testing

/// The PostgreSQL server of these tests: `DICOMTAP_TEST_POSTGRES_URL` (`.ci/run` starts one with
/// tools/pg_test_cluster.sh). Each test makes a database of its own on it. Outside CI without a
/// server the tests skip, saying so once; in CI (`CI=true` or `DICOMTAP_REQUIRE_PEERS=1`) they fail.
enum TestDatabase {
    static var url: String? {
        guard let url = ProcessInfo.processInfo.environment["DICOMTAP_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    static let requirement = "a PostgreSQL server: set DICOMTAP_TEST_POSTGRES_URL=postgresql://USER@127.0.0.1:PORT/DB "
        + "(tools/pg_test_cluster.sh start DIR starts a throwaway one and prints it; .ci/run does this)"

    static let announced = Locked(false)

    static func check() throws -> Bool {
        if url != nil { return true }
        if PeerRequirement.isStrict {
            throw TestFailure("required PostgreSQL server is missing: DICOMTAP_TEST_POSTGRES_URL is not set. Needs \(requirement).")
        }
        let first = announced.withValue { said in
            defer { said = true }
            return !said
        }
        if first {
            FileHandle.standardError.write(Data("note: skipping the tests that need \(requirement)\n".utf8))
        }
        return false
    }

    /// A new, empty database on the test server (or on the server at `server`); its URL.
    static func create(_ prefix: String, on server: String? = nil) async throws -> String {
        let base = try #require(server ?? url)
        var components = try #require(URLComponents(string: base))
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        try await psql(base, "CREATE DATABASE \(name)")
        components.path = "/" + name
        return try #require(components.string)
    }

    /// Runs one SQL statement with psql (another client than ours); its output.
    @discardableResult
    static func psql(_ url: String, _ sql: String) async throws -> String {
        let run = try await runProgram("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        guard run.status == 0 else { throw TestFailure("psql \(sql): \(run.stdout)\(run.stderr)") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func settings(_ url: String) throws -> PostgresStoreSettings {
        try PostgresStoreSettings(url: url, environment: [:])
    }
}

/// A cluster of a test's own (tools/pg_test_cluster.sh), which the test may stop and start again.
struct OwnCluster {
    let dir: String
    let url: String

    static func start() async throws -> OwnCluster {
        let dir = "/tmp/dicomtap-pg-\(UUID().uuidString.prefix(8).lowercased())"
        let url = try await offThePool { try run("start", dir) }
        return OwnCluster(dir: dir, url: url)
    }

    func pause() async throws { let dir = dir; _ = try await offThePool { try Self.run("pause", dir) } }
    func resume() async throws { let dir = dir; _ = try await offThePool { try Self.run("resume", dir) } }
    func stop() { _ = try? Self.run("stop", dir) }

    /// Runs tools/pg_test_cluster.sh (posix_spawn and waitpid: the server it starts outlives it, which
    /// Foundation's Process waits for here); its output.
    @discardableResult
    static func run(_ command: String, _ dir: String) throws -> String {
        let script = Peers.repository.appendingPathComponent("tools/pg_test_cluster.sh").path
        let output = dir + ".\(command).out"
        let line = "'\(script)' \(command) '\(dir)' >'\(output)' 2>&1 </dev/null"
        var pid: pid_t = 0
        let arguments = ["/bin/bash", "-c", line]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // Nothing of ours past stderr goes to the server: it counts the descriptors it inherits against its own
        // max_files_per_process, and with the hundreds the test process holds it refused to start ("insufficient
        // file descriptors available to start server process").
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        _ = closeFrom?(&actions, 3)
        guard posix_spawn(&pid, "/bin/bash", &actions, nil, &argv, environ) == 0 else {
            throw TestFailure("pg_test_cluster.sh \(command): cannot start bash")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        unlink(output)
        guard status == 0 else { throw TestFailure("pg_test_cluster.sh \(command): \(text)") }
        return text
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs only with a PostgreSQL server for the tests; fails instead of skipping in CI.
    static var postgres: Self {
        .enabled("needs a PostgreSQL server (DICOMTAP_TEST_POSTGRES_URL)") { try TestDatabase.check() }
    }
}

/// A test prerequisite or helper that failed, in words.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34 and later; its header declares it only for _GNU_SOURCE),
/// looked up at run time: nil on an older C library, where the server inherits our descriptors as before.
private let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
