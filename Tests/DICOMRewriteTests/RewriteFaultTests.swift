import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import NIOCore
import Testing
@testable import DICOMProxy
@testable import DICOMRewrite

/// With rewriting on, a message towards the SCP that the proxy cannot rewrite must never reach
/// the SCP: pynetdicom SCU -> tap -> proxy (pseudonymizing Patient ID and Name) -> tap -> pynetdicom
/// SCP that records what its handlers saw. The taps record every byte each peer sent and received.
@Suite(.peers, .requires(.pynetdicom))
struct RewriteFaultTests {
    static let patientID = "PAT-7731-X"
    static let patientName = "Doe^Johnathan"
    static let originals = [patientID, "Johnathan"]
    /// A-ABORT from the UL service provider, reason-not-specified: what the proxy sends for cannot-rewrite.
    static let cannotRewriteAbort = wireAbort(source: 2, reason: 0)

    let setup = PynetdicomRewriteTests()

    /// One good C-STORE, then a C-STORE whose data set ends inside its last element (sent as it is
    /// from a Part 10 file; Patient ID and Name in front of the cut element): both peers get an
    /// A-ABORT, the SCP's handler saw only the good one, the SCP received not one byte of the
    /// second message (after the first message's last fragment only the A-ABORT), no original
    /// identifier is in what the SCP received or in any log, event or recording, and the proxy
    /// goes on serving.
    @Test func unrewritableStoreIsNeverForwarded() async throws {
        let dir = try TemporaryDirectory("rwf-store")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await WireTap.start(to: scpPort, prefix: "scp", directory: dir)
        let rewriter = try Rewriter.open(rules: try setup.rules(dir))
        let logDir = dir.file("logs")
        let recordDir = dir.file("rec")
        try await withProxy(upstream: scpTap.port, routes: ["DIRECT": scpPort], configure: {
            $0.rewriter = rewriter
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
        }) { proxy in
            let scuTap = try await WireTap.start(to: proxy.port, prefix: "scu", directory: dir)
            let store = try Subprocess.python(["store", String(scuTap.port), "--ts", "le", "--patient-id", Self.patientID,
                                               "--patient-name", Self.patientName, "--malformed", "--first-good", "1",
                                               "--good-patient-id", "GOOD-1"], name: "store", directory: dir)
            #expect(try await store.wait() == 0)
            let answer = try jsonObject(store.stdout)
            #expect((answer["statuses"] as? [Any])?.map { $0 as? Int } == [0, nil], "\(store.stdout) \(store.stderr)")
            #expect(answer["aborted"] as? Bool == true)
            #expect(answer["abort"] as? [Int] == [2, 0])

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            // The SCU did send the original identifier (the test is not vacuous) ...
            #expect(scuLeg.sentBytes.contains(bytes: Array(Self.patientID.utf8)))
            // ... and got the A-ABORT as the last thing.
            #expect(scuLeg.receivedTrailing == 0)
            #expect(scuLeg.received.last == Self.cannotRewriteAbort, "the SCU received \(scuLeg.received)")
            #expect(scuLeg.received.filter { $0.type == 0x07 }.count == 1)

            // The SCP: the first message whole, then only the A-ABORT.
            #expect(scpLeg.sentTrailing == 0)
            let scpGot = scpLeg.sent
            let firstEnd = try #require(scpGot.firstIndex { pdu in
                pdu.pdvs.contains { !$0.messageControlHeader.isCommand && $0.messageControlHeader.isLastFragment }
            })
            #expect(Array(scpGot[(firstEnd + 1)...]) == [Self.cannotRewriteAbort],
                    "after the first message the SCP received: \(Array(scpGot[(firstEnd + 1)...]))")
            expectNoOriginals(inBytes: scpLeg.sentBytes, what: "what the SCP received")
        }

        // The SCP's handler saw the good C-STORE only, under the pseudonym; then it got the A-ABORT.
        let received = try jsonLines(dir.file("received.jsonl"))
        let stores = received.filter { $0["service"] as? String == "C-STORE" }
        #expect(stores.count == 1)
        #expect(stores.first?["PatientID"] as? String == setup.pseudonym("GOOD-1", .LO, dir: dir))
        #expect(received.contains { $0["service"] as? String == "A-ABORT" && $0["source"] as? Int == 2 && $0["reason"] as? Int == 0 })

        try expectProxyReported(logDir: logDir, recordDir: recordDir, detail: "runs past the end of the input")
    }

    /// A C-FIND (the association's first message) whose identifier ends inside its last element:
    /// both peers get an A-ABORT, the SCP's handler never sees the query, and the SCP receives
    /// nothing after the A-ASSOCIATE-RQ but the A-ABORT: not the command set either.
    @Test func unrewritableFindIsNeverForwarded() async throws {
        let dir = try TemporaryDirectory("rwf-find")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await WireTap.start(to: scpPort, prefix: "scp", directory: dir)
        let rewriter = try Rewriter.open(rules: try setup.rules(dir))
        let logDir = dir.file("logs")
        let recordDir = dir.file("rec")
        try await withProxy(upstream: scpTap.port, routes: ["DIRECT": scpPort], configure: {
            $0.rewriter = rewriter
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
        }) { proxy in
            let scuTap = try await WireTap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--patient-id", Self.patientID, "--patient-name",
                                              Self.patientName, "--malformed"], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["aborted"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect(answer["abort"] as? [Int] == [2, 0])

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.sentBytes.contains(bytes: Array(Self.patientID.utf8)))
            #expect(scuLeg.receivedTrailing == 0)
            #expect(scuLeg.received.map(\.type) == [0x02, 0x07])
            #expect(scuLeg.received.last == Self.cannotRewriteAbort)

            // Privacy first: no original identifier reached the SCP.
            expectNoOriginals(inBytes: scpLeg.sentBytes, what: "what the SCP received")
            // And nothing of the message at all: the A-ASSOCIATE-RQ, then the A-ABORT.
            #expect(scpLeg.sentTrailing == 0)
            #expect(scpLeg.sent.map(\.type) == [0x01, 0x07], "the SCP received: \(scpLeg.sent)")
            #expect(scpLeg.sent.last == Self.cannotRewriteAbort)

            // The proxy goes on: a well-formed query straight to the SCP.
            let next = try Subprocess.python(["find", String(proxy.port), "--called", "DIRECT", "--patient-id", "NEXT-1",
                                              "--patient-name", "Roe^Jane"], name: "find-next", directory: dir)
            #expect(try await next.wait() == 0)
            #expect(try jsonObject(next.stdout)["statuses"] as? [Int] == [0xFF00, 0xFF00, 0xFF00, 0x0000], "\(next.stdout) \(next.stderr)")
            try await eventually("the second association's end") { proxy.logs.contains("END  released") }
            expectNoOriginals(inText: proxy.logs.text, what: "the proxy's log lines")
        }
        let received = try jsonLines(dir.file("received.jsonl"))
        let queries = received.filter { $0["service"] as? String == "C-FIND" }
        // Only the second association's query.
        #expect(queries.count == 1)
        #expect(queries.first?["PatientID"] as? String == setup.pseudonym("NEXT-1", .LO, dir: dir))
        #expect(received.contains { $0["service"] as? String == "A-ABORT" && $0["source"] as? Int == 2 && $0["reason"] as? Int == 0 })

        try expectProxyReported(logDir: logDir, recordDir: recordDir, detail: "runs past the end of the input")
    }

    /// With rewriting on and `maximumPDULength` 4096, a C-FIND whose identifier comes in one PDU of
    /// about 6 kB: both peers get the A-ABORT for an over-long PDU (2/6) and the SCP's handler never
    /// sees the query; the proxy logs the PDU's first bytes in hex, and that hex must not carry the
    /// original identifiers (the SCU's PDU is not logged raw with rewriting on, as for a malformed one).
    @Test func overLongPDUFromTheSCUKeepsOriginalsOutOfTheLogs() async throws {
        let dir = try TemporaryDirectory("rwf-pdu")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let scpTap = try await WireTap.start(to: scpPort, prefix: "scp", directory: dir)
        let rewriter = try Rewriter.open(rules: try setup.rules(dir))
        let logDir = dir.file("logs")
        let recordDir = dir.file("rec")
        try await withProxy(upstream: scpTap.port, configure: {
            $0.rewriter = rewriter
            $0.maximumPDULength = 4096
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
        }) { proxy in
            let scuTap = try await WireTap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--patient-id", Self.patientID, "--patient-name",
                                              Self.patientName, "--comments-size", "6000"], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["aborted"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            #expect(answer["abort"] as? [Int] == [2, 6])

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.sent.contains { $0.length > 4096 && $0.bytes.contains(bytes: Array(Self.patientID.utf8)) })
            #expect(scuLeg.received.last == wireAbort(source: 2, reason: 6))
            #expect(scpLeg.sent.last == wireAbort(source: 2, reason: 6))
            #expect(scpLeg.sent.allSatisfy { $0.length <= 4096 })
            expectNoOriginals(inBytes: scpLeg.sentBytes, what: "what the SCP received")
            try await eventually("the association's end") { proxy.logs.contains("END  aborted by the proxy (malformed-pdu)") }
            #expect(proxy.logs.contains("exceeds the limit of 4096 bytes"))
            expectNoOriginals(inText: proxy.logs.text, what: "the proxy's log lines")
        }
        let received = FileManager.default.fileExists(atPath: dir.file("received.jsonl")) ? try jsonLines(dir.file("received.jsonl")) : []
        #expect(!received.contains { $0["service"] as? String == "C-FIND" })
        for file in filesBytes(under: logDir) + filesBytes(under: recordDir) {
            expectNoOriginals(inBytes: file.bytes, what: file.path)
            expectNoOriginals(inText: String(decoding: file.bytes, as: UTF8.self), what: file.path)
        }
    }

    /// With rewriting on (MODALITY reaches the SCP as GATEWAY), an SCP that accepts only the calling
    /// title MODALITY rejects: the SCU gets exactly the A-ASSOCIATE-RJ the SCP sent (1/1/3), and the
    /// SCP got the A-ASSOCIATE-RQ with the rewritten title.
    @Test func upstreamRejectionPassesUnchangedWhileRewriting() async throws {
        let dir = try TemporaryDirectory("rwf-rj")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl"), "--require-calling-aet", "MODALITY"],
                                        name: "scp", directory: dir)
        defer { scp.stop() }
        let scpTap = try await WireTap.start(to: try await scp.port(), prefix: "scp", directory: dir)
        let rewriter = try Rewriter.open(rules: try setup.rules(dir))
        try await withProxy(upstream: scpTap.port, configure: { $0.rewriter = rewriter }) { proxy in
            let scuTap = try await WireTap.start(to: proxy.port, prefix: "scu", directory: dir)
            let find = try Subprocess.python(["find", String(scuTap.port), "--patient-id", Self.patientID], name: "find", directory: dir)
            #expect(try await find.wait() == 2)
            #expect(try jsonObject(find.stdout)["rejected"] as? Bool == true, "\(find.stdout) \(find.stderr)")

            let scuLeg = try await scuTap.finish()
            let scpLeg = try await scpTap.finish()
            #expect(scuLeg.receivedTrailing == 0 && scpLeg.sentTrailing == 0)
            #expect(scpLeg.received == [RecordedPDU(bytes: [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x01, 0x03])])
            #expect(scuLeg.received == scpLeg.received)
            #expect(scuLeg.sent.map(\.type) == [0x01] && scpLeg.sent.map(\.type) == [0x01])
            #expect(scuLeg.sentBytes.contains(bytes: Array("MODALITY".utf8)))
            #expect(scpLeg.sentBytes.contains(bytes: Array("GATEWAY".utf8)))
            #expect(!scpLeg.sentBytes.contains(bytes: Array("MODALITY".utf8)))
            try await eventually("the association's end") { proxy.logs.contains("END  rejected") }
            #expect(proxy.logs.contains("calling-AE-title-not-recognized"), "\(proxy.logs.text)")
        }
    }

    // MARK: Checks

    /// The proxy's outputs for a message it could not rewrite: the finding, both A-ABORTs, the end,
    /// and no original identifier anywhere (as text or as hex).
    func expectProxyReported(logDir: String, recordDir: String, detail: String) throws {
        let events = try jsonLines(logDir + "/events.jsonl").filter { $0["association"] as? String == "0001" }
        let finding = try #require(events.first { $0["type"] as? String == "finding" && $0["code"] as? String == "cannot-rewrite" })
        #expect((finding["message"] as? String)?.contains(detail) == true, "\(finding)")
        let end = try #require(events.last { $0["type"] as? String == "association-end" })
        #expect((end["proxyAction"] as? String)?.hasPrefix("cannot rewrite:") == true, "\(end)")
        let texts = filesBytes(under: logDir).filter { $0.path.hasSuffix(".txt") }
        #expect(texts.count >= 1)
        let text = texts.map { String(decoding: $0.bytes, as: UTF8.self) }.joined(separator: "\n")
        #expect(text.contains("cannot-rewrite"), "\(text)")
        #expect(text.contains("aborted by the proxy (cannot-rewrite)"), "\(text)")
        var scanned = 0
        for file in filesBytes(under: logDir) + filesBytes(under: recordDir) {
            scanned += 1
            expectNoOriginals(inBytes: file.bytes, what: file.path)
            expectNoOriginals(inText: String(decoding: file.bytes, as: UTF8.self), what: file.path)
        }
        #expect(scanned >= 3)
    }

    func expectNoOriginals(inBytes bytes: [UInt8], what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let found = Self.originals.filter { bytes.contains(bytes: Array($0.utf8)) }
        #expect(found.isEmpty, "\(found) found in \(what)", sourceLocation: sourceLocation)
    }

    /// Neither as text nor in a hex dump or a hex string (`rawBytes`, `bytes`) of the text.
    func expectNoOriginals(inText text: String, what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let found = Self.originals.filter { text.contains($0) }
        #expect(found.isEmpty, "\(found) found in \(what)", sourceLocation: sourceLocation)
        for blob in hexBlobs(in: text) {
            let inHex = Self.originals.filter { blob.contains(bytes: Array($0.utf8)) }
            let dump = blob.map { String(format: "%02x", $0) }.joined(separator: " ")
            #expect(inHex.isEmpty, "\(inHex) found written in hex in \(what): \(dump)", sourceLocation: sourceLocation)
        }
    }
}

// MARK: - Recorded streams

/// One PDU as it was on the wire.
struct RecordedPDU: Equatable, CustomStringConvertible {
    var bytes: [UInt8]
    var type: UInt8 { bytes[0] }
    var length: Int { Int(bytes[2]) << 24 | Int(bytes[3]) << 16 | Int(bytes[4]) << 8 | Int(bytes[5]) }

    /// The PDVs of a P-DATA-TF (none for other PDUs).
    var pdvs: [PresentationDataValueItem] {
        var buffer = ByteBuffer(bytes: bytes)
        var framer = PDUFrameDecoder(maximumPDULength: Int(UInt32.max))
        guard let frame = try? framer.decodeFrame(buffer: &buffer), case .dataTransfer(let data)? = try? PDUDecoder.decode(frame) else {
            return []
        }
        return data.items
    }

    var description: String {
        let head = bytes.prefix(16).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "PDU 0x\(String(format: "%02x", type)) length \(length): \(head)\(bytes.count > 16 ? " ..." : "")"
    }
}

func wireAbort(source: UInt8, reason: UInt8) -> RecordedPDU {
    RecordedPDU(bytes: [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, source, reason])
}

/// The PDUs of a recorded stream, and how many bytes follow the last complete one.
func recordedPDUs(_ bytes: [UInt8]) -> (pdus: [RecordedPDU], trailing: Int) {
    var pdus: [RecordedPDU] = []
    var offset = 0
    while bytes.count - offset >= 6 {
        let length = Int(bytes[offset + 2]) << 24 | Int(bytes[offset + 3]) << 16 | Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
        guard bytes.count - offset - 6 >= length else { break }
        pdus.append(RecordedPDU(bytes: Array(bytes[offset..<(offset + 6 + length)])))
        offset += 6 + length
    }
    return (pdus, bytes.count - offset)
}

/// A recording relay (`rewrite_peer.py tap`) in front of `port`.
struct WireTap {
    let process: Subprocess
    let port: Int
    let prefix: String

    static func start(to port: Int, prefix: String, directory: TemporaryDirectory) async throws -> WireTap {
        let process = try Subprocess.python(["tap", String(port), directory.file(prefix)], name: "tap-\(prefix)", directory: directory)
        return WireTap(process: process, port: try await process.port(), prefix: directory.file(prefix))
    }

    struct Leg {
        /// From the tap's client (the SCU side) on, and back.
        var sentBytes: [UInt8]
        var receivedBytes: [UInt8]
        var sent: [RecordedPDU] { recordedPDUs(sentBytes).pdus }
        var received: [RecordedPDU] { recordedPDUs(receivedBytes).pdus }
        var sentTrailing: Int { recordedPDUs(sentBytes).trailing }
        var receivedTrailing: Int { recordedPDUs(receivedBytes).trailing }
    }

    /// Waits for both directions to close (the tap exits) and reads what it recorded.
    func finish() async throws -> Leg {
        #expect(try await process.wait(timeout: .seconds(60)) == 0)
        return Leg(sentBytes: try [UInt8](Data(contentsOf: URL(fileURLWithPath: prefix + ".c2s"))),
                   receivedBytes: try [UInt8](Data(contentsOf: URL(fileURLWithPath: prefix + ".s2c"))))
    }
}

/// The bytes written as hex in `text`: hex dump rows (`0010  44 6f 65 ...`, consecutive rows joined)
/// and JSON hex strings of at least 8 bytes.
func hexBlobs(in text: String) -> [[UInt8]] {
    func byte(_ s: Substring) -> UInt8? { UInt8(s, radix: 16) }
    var blobs: [[UInt8]] = []
    var current: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let trimmed = line.drop { $0 == " " }
        let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, parts[0].count == 4, byte(parts[0].prefix(2)) != nil, byte(parts[0].suffix(2)) != nil,
           trimmed.dropFirst(4).hasPrefix("  "), parts.dropFirst().allSatisfy({ $0.count == 2 && byte($0) != nil }) {
            current += parts.dropFirst().compactMap { byte($0) }
        } else if !current.isEmpty {
            blobs.append(current)
            current = []
        }
        // JSON strings of hex digits.
        var rest = line[...]
        while let quote = rest.firstIndex(of: "\"") {
            let after = rest[rest.index(after: quote)...]
            guard let end = after.firstIndex(of: "\"") else { break }
            let candidate = after[..<end]
            if candidate.count >= 16, candidate.count % 2 == 0, candidate.allSatisfy(\.isHexDigit) {
                var bytes: [UInt8] = []
                var i = candidate.startIndex
                while i < candidate.endIndex {
                    let j = candidate.index(i, offsetBy: 2)
                    if let b = byte(candidate[i..<j]) { bytes.append(b) }
                    i = j
                }
                blobs.append(bytes)
            }
            rest = after[after.index(after: end)...]
        }
    }
    if !current.isEmpty { blobs.append(current) }
    return blobs
}
