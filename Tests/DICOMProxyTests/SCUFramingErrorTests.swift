import DICOMInspect
import DICOMRewrite
import DICOMUL
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

/// When the SCU's stream loses its PDU framing (a PDU type that does not exist, a length over
/// the limit), the proxy says where and aborts both peers. Without rewriting, the first bytes
/// are hex dumped to the console, the text log and `events.jsonl` as before; with rewriting on
/// they may hold original identifiers, so only offsets and lengths are written unless
/// `logOriginals`. The bad bytes carry a marker that must (not) be found.
@Suite(.peers) struct SCUFramingErrorTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static let marker = Array("ORIGINAL-ID-MARKER-4417".utf8)

    enum Mode: String, Sendable, CaseIterable, CustomStringConvertible {
        case relaying, rewriting, rewritingWithOriginals
        var description: String { rawValue }
    }

    enum Garbage: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Type byte 0xFF, then a length and the marker.
        case unknownType
        /// An A-RELEASE-RQ type byte whose length field is the first 4 bytes of the marker (over 16 MiB).
        case tooLarge
        var description: String { rawValue }

        var bytes: [UInt8] {
            switch self {
            case .unknownType: return [0xFF, 0x00, 0x00, 0x00, 0x00, UInt8(marker.count)] + marker
            case .tooLarge: return [0x05, 0x00] + marker
            }
        }
    }

    @Test(arguments: Mode.allCases, Garbage.allCases)
    func bytesOfTheSCUAreShownOnlyWithoutRewritingOrWhenAsked(_ mode: Mode, _ garbage: Garbage) async throws {
        let dir = try TemporaryDirectory("scu-framing")
        defer { dir.remove() }
        let logDir = dir.file("logs")
        let recordDir = dir.file("rec")
        var rewriter: Rewriter?
        if mode != .relaying {
            var rules = RewriteRules()
            rules.aeTitles = AETitleRules(called: ["SCRIPTED": "ARCHIVE"], calling: [:])
            rewriter = try Rewriter.open(rules: rules)
        }
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        let rq = TestPDUs.associateRequest()
        let console = try await withProxy(upstream: upstream.port, configure: {
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
            $0.rewriter = rewriter
            $0.logOriginals = mode == .rewritingWithOriginals
        }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(rq)
            _ = try await client.receive(atLeast: TestPDUs.associateAccept().readableBytes)
            try await client.send(garbage.bytes)
            try await client.waitUntilClosed()
            try await eventually("the end") { proxy.logs.contains("END  aborted by the proxy (malformed-pdu)") }
            return proxy.logs.text
        }
        let textLog = try Self.text(in: logDir, suffix: ".txt")
        let events = try Self.text(in: logDir, suffix: ".jsonl")
        let recording = try Self.bytes(in: recordDir, suffix: ".pcap")

        let shown = mode != .rewriting
        // The hex dump's first row holds the header and the marker's first 10 bytes.
        let dumpRow = hexDump(ByteBuffer(bytes: garbage.bytes))[0]
        let markerHex = hexString(ByteBuffer(bytes: Self.marker))
        #expect(console.contains(dumpRow) == shown, "\(console)")
        #expect(textLog.contains(dumpRow) == shown, "\(textLog)")
        #expect(events.contains(markerHex) == shown, "\(events)")
        // A length field made of the marker's bytes is not said either.
        let lengthField = String(UInt32(Self.marker[0]) << 24 | UInt32(Self.marker[1]) << 16 | UInt32(Self.marker[2]) << 8
                                 | UInt32(Self.marker[3]))
        #expect(console.contains(lengthField) == (shown && garbage == .tooLarge))
        #expect(events.contains(lengthField) == (shown && garbage == .tooLarge))
        // With rewriting the recording is of the upstream leg, where the SCU's bytes never went.
        #expect(recording.contains(bytes: Self.marker) == (mode == .relaying))

        // What is said in every mode: what failed and where.
        let code = garbage == .unknownType ? "unknown PDU type" : "PDU too large"
        for output in [console, textLog, events] {
            #expect(output.contains("cannot frame the requestor's stream: \(code)"), "\(output)")
            #expect(output.contains("at byte \(rq.readableBytes)"), "\(output)")
            #expect(output.contains("--log-originals") == (mode == .rewriting), "\(output)")
            if garbage == .tooLarge { #expect(output.contains("exceeds the limit of \(16 << 20) bytes"), "\(output)") }
        }
    }

    static func text(in directory: String, suffix: String) throws -> String {
        String(decoding: try bytes(in: directory, suffix: suffix), as: UTF8.self)
    }

    static func bytes(in directory: String, suffix: String) throws -> [UInt8] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }.sorted()
            .flatMap { Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) }
    }
}
