import Foundation
import Testing

/// The real peers the tests run, found by what they are (their version), not by where they usually live.
///
/// A test that needs one says so with `.requires(.pynetdicom, ...)`. Outside CI a missing peer skips the
/// test and says once, on stderr, what is missing and how to install it. With `CI=true` or
/// `DICOMTAP_REQUIRE_PEERS=1` (as `.ci/run` runs the suite) a missing or wrong-version peer fails the test
/// with that message instead: a CI machine where a peer failed to install must not land anything.
public enum Peer: String, CaseIterable, Sendable, CustomStringConvertible {
    /// A python3 with pynetdicom 3.0.4 and pydicom 3.0.2 (tools/setup.sh puts them in `.venv`).
    case pynetdicom
    /// DCMTK 3.6.7 or a later 3.6 release: echoscu, findscu, storescu, storescp, dcmqrscp... by `--version`.
    case dcmtk
    /// Wireshark's tshark.
    case tshark
    /// The sqlite3 command-line shell (another program than ours writing SQLite files).
    case sqlite3
    /// The `dicomtap` executable of the configuration under test, built from the current sources.
    case dicomtap
    /// Orthanc 1.10 (Debian package orthanc), a real PACS: `/usr/sbin/Orthanc`.
    case orthanc
    /// Headless Chromium (Debian package chromium): loads the HTML reports.
    case chromium
    /// Wireshark's dumpcap (Debian package wireshark-common, which tshark depends on): records loopback
    /// traffic between real peers in the tests (capturing needs root or CAP_NET_RAW; CI runs as root).
    case dumpcap
    /// HAProxy (Debian package haproxy): the TCP balancer in front of two proxies in the failover test.
    case haproxy

    public var description: String { rawValue }

    /// What is missing and how to get it, for the skip or failure message.
    public var requirement: String {
        switch self {
        case .pynetdicom:
            return "python3 with pynetdicom \(Peers.pynetdicomVersion) and pydicom \(Peers.pydicomVersion) "
                + "(tools/setup.sh installs them into .venv; or set DICOMTAP_PYTHON)"
        case .dcmtk: return "DCMTK 3.6.7 or later 3.6 (echoscu, findscu, storescu, storescp...; Debian package dcmtk, tools/setup.sh)"
        case .tshark: return "tshark (Debian package tshark, tools/setup.sh)"
        case .sqlite3: return "the sqlite3 shell (Debian package sqlite3, tools/setup.sh)"
        case .dicomtap: return "the dicomtap executable built beside the tests from the current sources (swift build --build-tests)"
        case .orthanc: return "Orthanc 1.10 (Debian package orthanc, tools/setup.sh; /usr/sbin/Orthanc)"
        case .chromium: return "Chromium (Debian package chromium, tools/setup.sh)"
        case .dumpcap: return "dumpcap (Debian package wireshark-common, tools/setup.sh) and the right to capture on lo (root)"
        case .haproxy: return "HAProxy (Debian package haproxy, tools/setup.sh; /usr/sbin/haproxy)"
        }
    }

    /// Why the peer is not usable here, or nil when it is.
    public var problem: String? {
        if Self.leftOut.contains(description.lowercased()) { return "left out by DICOMTAP_WITHOUT_PEERS" }
        switch self {
        case .pynetdicom: return Peers.pythonProblem
        case .dcmtk: return Peers.dcmtkProblem
        case .tshark: return Peers.tshark == nil ? "no tshark on PATH or in /usr/bin" : nil
        case .sqlite3: return Peers.sqlite3 == nil ? "no sqlite3 on PATH or in /usr/bin" : nil
        case .dicomtap: return Peers.dicomtapProblem
        case .orthanc: return Peers.orthanc == nil ? "no Orthanc 1.10 in /usr/sbin or on PATH" : nil
        case .chromium: return Peers.chromium == nil ? "no chromium on PATH or in /usr/bin" : nil
        case .dumpcap: return Peers.dumpcap == nil ? "no dumpcap on PATH or in /usr/bin" : nil
        case .haproxy: return Peers.haproxy == nil ? "no haproxy on PATH or in /usr/sbin" : nil
        }
    }

    public var isAvailable: Bool { problem == nil }

    /// Peers named in `DICOMTAP_WITHOUT_PEERS` (comma-separated, e.g. `pynetdicom,dcmtk`) count as
    /// missing: to see which tests need a peer, or that the suite runs without it.
    static let leftOut: Set<String> = Set((ProcessInfo.processInfo.environment["DICOMTAP_WITHOUT_PEERS"] ?? "")
        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
}

/// A required peer that is missing, in CI: the test fails with this message.
public struct PeerMissing: Error, CustomStringConvertible {
    public var peer: Peer
    public var problem: String
    public var description: String {
        "required peer \(peer) is missing: \(problem). Needs \(peer.requirement)."
    }
}

public enum PeerRequirement {
    /// Whether a missing peer fails the run (CI) rather than skipping the test.
    public static var isStrict: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["CI"]?.lowercased() == "true" || env["DICOMTAP_REQUIRE_PEERS"] == "1"
    }

    private static let announced = AnnouncedPeers()
    private static let problems = PeerProblems()

    /// True when every peer is here; false (skip, said once per peer on stderr) or a thrown `PeerMissing`
    /// (strict mode) when one is not.
    public static func check(_ peers: [Peer]) throws -> Bool {
        try check(peers) { $0.problem }
    }

    /// `check(_:)` for a test's condition: each peer is looked for once per run, all of them at the first
    /// condition, each on a thread of its own. Looking runs programs (python importing pynetdicom, Chromium,
    /// Orthanc, tshark, eight DCMTK tools) and, for `dicomtap`, walks Sources/; Swift Testing evaluates the
    /// conditions while it plans the run, one test after another, where each `.requires(.dicomtap)` walked
    /// Sources/ again and the programs ran one after the other on a thread of the cooperative pool.
    public static func check(_ peers: [Peer]) async throws -> Bool {
        var found: [Peer: String?] = [:]
        for peer in peers { found[peer] = await problems.problem(of: peer) }
        return try check(peers) { found[$0] ?? nil }
    }

    private static func check(_ peers: [Peer], problem: (Peer) -> String?) throws -> Bool {
        for peer in peers {
            guard let problem = problem(peer) else { continue }
            let missing = PeerMissing(peer: peer, problem: problem)
            if isStrict { throw missing }
            if announced.first(peer) {
                FileHandle.standardError.write(Data("note: skipping the tests that need \(missing.description)\n".utf8))
            }
            return false
        }
        return true
    }
}

/// Each peer's problem (or none), worked out once, off the cooperative pool.
private actor PeerProblems {
    private var lookups: [Peer: Task<String?, Never>] = [:]

    func problem(of peer: Peer) async -> String? {
        if lookups.isEmpty {
            // Every peer at once: the first condition waits for the slowest lookup, not for all of them in turn.
            for each in Peer.allCases { lookups[each] = Task { (try? await offThePool { each.problem }) ?? nil } }
        }
        return await lookups[peer]?.value ?? nil
    }
}

private final class AnnouncedPeers: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<Peer> = []
    func first(_ peer: Peer) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return seen.insert(peer).inserted
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs only where these real peers are installed at the right version; fails instead of skipping
    /// under CI (`CI=true`) or with `DICOMTAP_REQUIRE_PEERS=1`.
    public static func requires(_ peers: Peer..., sourceLocation: SourceLocation = #_sourceLocation) -> Self {
        let list = peers
        return .enabled("needs \(list.map(\.description).joined(separator: ", "))", sourceLocation: sourceLocation) {
            try await PeerRequirement.check(list)
        }
    }
}

/// Where the peers are on this machine.
public enum Peers {
    public static let pynetdicomVersion = "3.0.4"
    public static let pydicomVersion = "3.0.2"

    /// The repository (this file is Tests/DICOMPeerSupport/Peers.swift).
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let searchPath: [String] = {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in ["/usr/bin", "/usr/local/bin"] where !dirs.contains(dir) { dirs.append(dir) }
        return dirs
    }()

    /// Every executable called `name` on PATH (then /usr/bin, /usr/local/bin), in order.
    public static func executables(named name: String) -> [String] {
        var seen = Set<String>()
        var found: [String] = []
        for dir in searchPath {
            let path = URL(fileURLWithPath: dir).appendingPathComponent(name).path
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            if seen.insert(real).inserted { found.append(path) }
        }
        return found
    }

    // MARK: python with pynetdicom and pydicom

    private static let pythonLookup: (path: String?, problem: String?) = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["DICOMTAP_PYTHON"] { candidates.append(explicit) }
        candidates.append(repository.appendingPathComponent(".venv/bin/python3").path)
        candidates += executables(named: "python3")
        var seen: [String] = []
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let result = run(candidate, ["-c", "import pynetdicom, pydicom; print(pynetdicom.__version__, pydicom.__version__)"])
            guard let result, result.status == 0 else {
                seen.append("\(candidate): no pynetdicom/pydicom")
                continue
            }
            let versions = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if versions == "\(pynetdicomVersion) \(pydicomVersion)" { return (candidate, nil) }
            seen.append("\(candidate): pynetdicom/pydicom \(versions)")
        }
        return (nil, seen.isEmpty ? "no python3 found" : "no python3 with those versions (" + seen.joined(separator: "; ") + ")")
    }()

    /// A python3 with pynetdicom 3.0.4 and pydicom 3.0.2: `$DICOMTAP_PYTHON`, the repository's `.venv`, then PATH.
    public static var python: String? { pythonLookup.path }
    static var pythonProblem: String? { pythonLookup.problem }
    public static var pynetdicomAvailable: Bool { python != nil }

    // MARK: DCMTK

    private static let dcmtkCache = ToolCache()

    /// DCMTK's tool `name` (e.g. "findscu"): the first on PATH whose `--version` says it is DCMTK 3.6.x;
    /// pynetdicom installs scripts of the same names that must not be taken for it.
    public static func dcmtk(_ name: String) -> String? {
        dcmtkCache.value(name) {
            for candidate in executables(named: name) {
                guard let out = run(candidate, ["--version"])?.output else { continue }
                if dcmtkVersion(in: out, tool: name) != nil { return candidate }
            }
            return nil
        }
    }

    /// "3.6.7" from "$dcmtk: findscu v3.6.7 2022-04-22 $", if at least 3.6.7.
    static func dcmtkVersion(in output: String, tool: String) -> String? {
        guard let range = output.range(of: "$dcmtk: \(tool) v") else { return nil }
        let version = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 3, parts[0] == 3, parts[1] > 6 || (parts[1] == 6 && parts[2] >= 7) else { return nil }
        return String(version)
    }

    static let dcmtkTools = ["echoscu", "findscu", "storescu", "storescp", "movescu", "getscu", "dcmqrscp", "dcmdump"]
    static var dcmtkProblem: String? {
        let missing = dcmtkTools.filter { dcmtk($0) == nil }
        return missing.isEmpty ? nil : "no DCMTK 3.6.7+ \(missing.joined(separator: ", ")) on PATH or in /usr/bin"
    }
    public static var dcmtkAvailable: Bool { dcmtkProblem == nil }

    public static var echoscu: String { dcmtk("echoscu") ?? "/usr/bin/echoscu" }
    public static var storescu: String { dcmtk("storescu") ?? "/usr/bin/storescu" }
    public static var storescp: String { dcmtk("storescp") ?? "/usr/bin/storescp" }
    public static var findscu: String { dcmtk("findscu") ?? "/usr/bin/findscu" }
    public static var movescu: String { dcmtk("movescu") ?? "/usr/bin/movescu" }
    public static var getscu: String { dcmtk("getscu") ?? "/usr/bin/getscu" }
    public static var dcmqrscp: String { dcmtk("dcmqrscp") ?? "/usr/bin/dcmqrscp" }

    // MARK: tshark, sqlite3, Orthanc

    /// Orthanc 1.10.x: its `--version` says "Orthanc 1.10...".
    public static let orthanc: String? = (executables(named: "Orthanc") + ["/usr/sbin/Orthanc"]).first { candidate in
        FileManager.default.isExecutableFile(atPath: candidate) && (run(candidate, ["--version"])?.output.contains("Orthanc 1.10") ?? false)
    }

    public static let tshark: String? = executables(named: "tshark").first { candidate in
        run(candidate, ["--version"])?.output.contains("TShark (Wireshark)") == true
    }

    /// Chromium: its `--version` says "Chromium".
    public static let chromium: String? = executables(named: "chromium").first { candidate in
        run(candidate, ["--version"])?.output.contains("Chromium") == true
    }

    /// Wireshark's dumpcap: its `--version` says "Dumpcap (Wireshark)".
    public static let dumpcap: String? = executables(named: "dumpcap").first { candidate in
        run(candidate, ["--version"])?.output.contains("Dumpcap (Wireshark)") == true
    }

    /// HAProxy: its `-v` says "HAProxy version".
    public static let haproxy: String? = (executables(named: "haproxy") + ["/usr/sbin/haproxy"]).first { candidate in
        FileManager.default.isExecutableFile(atPath: candidate) && (run(candidate, ["-v"])?.output.contains("HAProxy version") ?? false)
    }

    public static let sqlite3: String? = executables(named: "sqlite3").first { candidate in
        run(candidate, ["-version"])?.status == 0
    }

    // MARK: dicomtap

    /// The folder of the test bundle being run: `.build/<triple>/<configuration>`.
    public static let productsDirectory: URL = {
        URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
    }()

    /// The `dicomtap` executable of the configuration being tested (beside the test bundle).
    public static var dicomtap: String { productsDirectory.appendingPathComponent("dicomtap").path }

    static var dicomtapProblem: String? {
        let path = dicomtap
        guard FileManager.default.isExecutableFile(atPath: path) else { return "no \(path)" }
        if let source = newestSource(), let built = modificationDate(path), built < source.date {
            return "\(path) is older than \(source.path): build it again"
        }
        return nil
    }

    private static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    private static func newestSource() -> (path: String, date: Date)? {
        let sources = repository.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.contentModificationDateKey]) else {
            return nil
        }
        var newest: (String, Date)?
        for case let url as URL in walker where url.pathExtension == "swift" {
            guard let date = modificationDate(url.path) else { continue }
            if newest == nil || date > newest!.1 { newest = (url.path, date) }
        }
        return newest
    }

    // MARK: running a program

    /// Runs `executable` to completion with stdin closed; its status and stdout+stderr, or nil if it could not start.
    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

private final class ToolCache: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: String?] = [:]
    func value(_ key: String, _ make: () -> String?) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let cached = values[key] { return cached }
        let made = make()
        values[key] = made
        return made
    }
}
