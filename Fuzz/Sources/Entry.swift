import Foundation

/// The harnesses of `tools/fuzz.sh`, one libFuzzer executable: `DICOMTAP_FUZZ_HARNESS` names the one
/// to run; with `DICOMTAP_FUZZ_SEEDS=DIR` set too, the executable writes that harness's seed corpus
/// (built from the repository's captures, fixtures and rules, found from the current directory)
/// into DIR and exits without fuzzing. Every other argument is libFuzzer's.
enum Harness: String, CaseIterable {
    case dataset, stream, capture, rewrite, rules, statemachine

    /// What the harness feeds and what it asserts (`tools/fuzz.sh --list`).
    var summary: String {
        switch self {
        case .dataset:
            "data set decoder in implicit LE, explicit LE, explicit BE and deflated: a decoded data set re-encodes to exactly the (inflated) input; fed in pieces it decodes the same"
        case .stream:
            "PDU framing (PDUFrameDecoder through NIOSingleStepByteToMessageProcessor) and the association observer on a two-direction stream cut into chunks: decoded PDUs re-encode to equal PDUs; findings, open requests and buffered bytes stay within their limits"
        case .capture:
            "capture reader (pcap, pcapng), link layers, IP, TCP reassembly and the observer, through CaptureAnalyzer on a temporary file: no crash, every association within the observer's limits"
        case .rewrite:
            "rewriter with the Basic Profile (tools/rewrite-annex-e.yaml): every value the profile de-identifies is marked first; no marker may reach the output (inflated when deflated)"
        case .rules:
            "rewrite-rules YAML loader, the profile options and the rewriter's configuration checks: no crash"
        case .statemachine:
            "UL state machine on random event sequences: every transition and action as PS3.8 Table 9-10 and Tables 9-6 to 9-9 give them (an independent table), the ARTIM timer running exactly in Sta2 and Sta13"
        }
    }

    func run(_ data: UnsafeBufferPointer<UInt8>) {
        switch self {
        case .dataset: DataSetHarness.run(data)
        case .stream: StreamHarness.run(data)
        case .capture: CaptureHarness.run(data)
        case .rewrite: RewriteHarness.run(data)
        case .rules: RulesHarness.run(data)
        case .statemachine: StateMachineHarness.run(data)
        }
    }

    func seeds(root: String) throws -> [[UInt8]] {
        switch self {
        case .dataset: try DataSetHarness.seeds(root: root)
        case .stream: try StreamHarness.seeds(root: root)
        case .capture: try CaptureHarness.seeds(root: root)
        case .rewrite: try RewriteHarness.seeds(root: root)
        case .rules: try RulesHarness.seeds(root: root)
        case .statemachine: StateMachineHarness.seeds()
        }
    }

    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["DICOMTAP_FUZZ_HARNESS"] ?? ""
        guard let harness = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data("DICOMTAP_FUZZ_HARNESS must be one of: \(Harness.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return harness
    }()
}

/// An oracle failed: say why and abort, so libFuzzer keeps the input as a crash reproducer.
func oracleFailure(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ORACLE FAILURE (\(Harness.selected.rawValue)): \(message)\n".utf8))
    abort()
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let harness = Harness.selected
    guard let directory = ProcessInfo.processInfo.environment["DICOMTAP_FUZZ_SEEDS"] else { return 0 }
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seeds = try harness.seeds(root: FileManager.default.currentDirectoryPath)
        for (i, seed) in seeds.enumerated() {
            try Data(seed).write(to: URL(fileURLWithPath: directory).appendingPathComponent(String(format: "seed-%04d", i)))
        }
        print("\(harness.rawValue): \(seeds.count) seeds in \(directory)")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("\(harness.rawValue): cannot write seeds: \(error)\n".utf8))
        exit(1)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.selected.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver (`-sanitize=fuzzer`).
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The executable's entry point: SwiftPM links `main` to `<module>_main` on Linux, which this
/// module (parse-as-library, no top-level code) defines by hand to run libFuzzer's driver.
@_cdecl("dicomtap_fuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput)
}

/// Reads a fuzzer input front to back; past its end every read gives zeros.
struct FuzzInput {
    private let bytes: UnsafeBufferPointer<UInt8>
    private(set) var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var isEmpty: Bool { remaining <= 0 }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint16() -> Int { Int(byte()) | Int(byte()) << 8 }

    mutating func take(_ count: Int) -> [UInt8] {
        let n = max(0, min(count, remaining))
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    mutating func rest() -> [UInt8] { take(remaining) }
}

/// Files under `directory` (relative to `root`) whose names end with one of `suffixes`, sorted.
func files(in directory: String, root: String, suffixes: [String]) -> [String] {
    let path = (root as NSString).appendingPathComponent(directory)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.filter { name in suffixes.contains { name.hasSuffix($0) } }.sorted().map { (path as NSString).appendingPathComponent($0) }
}

func readFile(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
