import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import NIOCore
import Testing
@testable import DICOMProxy
@testable import DICOMRewrite

/// pynetdicom SCU -> proxy with rewriting -> pynetdicom SCP that records what it received.
@Suite(.peers, .requires(.pynetdicom))
struct PynetdicomRewriteTests {
    static let patientID = "PAT-7731-X"
    static let patientName = "Doe^Johnathan"

    /// A key file and the rules: Patient ID and Patient's Name pseudonymized (at any depth), AE titles substituted.
    func rules(_ dir: TemporaryDirectory, store: String = "map.sqlite") throws -> RewriteRules {
        var rules = RewriteRules()
        for keyword in ["PatientID", "PatientName"] {
            rules.add(AttributeRule(tag: RewriteRules.tag(named: keyword)!, action: .pseudonymize(PseudonymFormat())))
        }
        rules.aeTitles = AETitleRules(called: ["ARCHIVE": "RESEARCH"], calling: ["MODALITY": "GATEWAY"])
        let keyPath = dir.file("pseudonym.key")
        if !FileManager.default.fileExists(atPath: keyPath) {
            _ = FileManager.default.createFile(atPath: keyPath, contents: Data(Self.keyBytes))
            chmod(keyPath, 0o600)
        }
        rules.keyFile = keyPath
        rules.mappingStore = dir.file(store)
        return rules
    }

    /// The bytes of the key file `rules` writes.
    static let keyBytes = Array(UInt8(100)..<140)

    /// The pseudonym computed here, from the key's bytes (not through the proxy).
    func pseudonym(_ value: String, _ vr: VR, dir: TemporaryDirectory) -> String {
        Pseudonymizer(key: try! SecretKey(bytes: Self.keyBytes)).pseudonym(for: value, vr: vr)
    }

    func records(_ dir: TemporaryDirectory) throws -> [[String: Any]] {
        FileManager.default.fileExists(atPath: dir.file("received.jsonl")) ? try jsonLines(dir.file("received.jsonl")) : []
    }

    /// No file under `directory` and no log line holds any of `originals`.
    func expectNoOriginals(_ originals: [String], in directories: [String], logs: String) {
        var scanned = 0
        for directory in directories {
            for file in filesBytes(under: directory) {
                scanned += 1
                for original in originals {
                    let found = file.bytes.contains(bytes: Array(original.utf8))
                    #expect(!found, "\(original) found in \(file.path)")
                }
            }
        }
        #expect(scanned > 0)
        for original in originals { #expect(!logs.contains(original), "\(original) found in the proxy's log lines") }
    }

    /// General, Breast and Cardiac queries: the SCP only ever sees the pseudonyms (the same across
    /// proxy restarts, and from a second proxy with the same key and its own store), the SCU gets
    /// its identifiers back in every pending response, and no log, event or recording holds them.
    @Test func relevantPatientQueriesThroughRestarts() async throws {
        let dir = try TemporaryDirectory("rw-rpi")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl"), "--pending", "3"], name: "scp", directory: dir,
                                        lifetime: 600)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        _ = try rules(dir)
        let expectedID = pseudonym(Self.patientID, .LO, dir: dir)
        let expectedName = pseudonym(Self.patientName, .PN, dir: dir)

        // Two runs of the proxy on one store (a restart), then a proxy with the same key and a new store.
        let runs: [(store: String, sops: [String])] = [("map.sqlite", ["general", "breast", "cardiac"]),
                                                       ("map.sqlite", ["general", "cardiac"]),
                                                       ("other.sqlite", ["breast"])]
        var logText = ""
        for (index, run) in runs.enumerated() {
            let rewriter = try Rewriter.open(rules: try rules(dir, store: run.store))
            try await withProxy(upstream: scpPort, level: .debug, configure: {
                $0.rewriter = rewriter
                $0.logDirectory = dir.file("logs-\(index)")
                $0.recordDirectory = dir.file("rec-\(index)")
            }) { proxy in
                for sop in run.sops {
                    let find = try Subprocess.python(["find", String(proxy.port), "--sop", sop, "--patient-id", Self.patientID,
                                                      "--patient-name", Self.patientName],
                                                     name: "find-\(index)-\(sop)", directory: dir)
                    #expect(try await find.wait() == 0)
                    let answer = try jsonObject(find.stdout)
                    #expect(answer["statuses"] as? [Int] == [0xFF00, 0xFF00, 0xFF00, 0x0000], "\(sop): \(find.stdout) \(find.stderr)")
                    let matches = answer["matches"] as? [[String: Any]] ?? []
                    #expect(matches.count == 3)
                    for match in matches {
                        #expect(match["PatientID"] as? String == Self.patientID)
                        #expect(match["PatientName"] as? String == Self.patientName)
                    }
                }
                try await eventually("the associations' ends") {
                    proxy.logs.lines.current.filter { $0.contains("END  released") }.count == run.sops.count
                }
                // The console shows the upstream side: the AE titles and the pseudonym the SCP got.
                #expect(proxy.logs.contains("\"GATEWAY\" -> \"RESEARCH\""))
                #expect(proxy.logs.contains("patient \(expectedID)"))
                #expect(proxy.logs.contains("RESTORE (0010,0020) PatientID: '\(expectedID)' -> (original)"))
                logText += proxy.logs.text + "\n"
            }
        }
        #expect(try MappingStore(path: dir.file("map.sqlite")).count() == 2)

        let received = try records(dir)
        #expect(received.count == 6)
        #expect(Set(received.compactMap { $0["sop"] as? String })
                == ["1.2.840.10008.5.1.4.37.1", "1.2.840.10008.5.1.4.37.2", "1.2.840.10008.5.1.4.37.3"])
        for record in received {
            #expect(record["PatientID"] as? String == expectedID)
            #expect(record["PatientName"] as? String == expectedName)
            #expect(record["calling"] as? String == "GATEWAY")
        }
        let recordedBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("received.jsonl"))))
        #expect(!recordedBytes.contains(bytes: Array(Self.patientID.utf8)))

        let outputs = (0..<runs.count).flatMap { [dir.file("logs-\($0)"), dir.file("rec-\($0)")] }
        expectNoOriginals([Self.patientID, "Johnathan"], in: outputs, logs: logText)
        // The recordings are of the upstream leg: the pseudonyms are in them.
        let recordings = filesBytes(under: dir.file("rec-0"))
        #expect(recordings.count == 3)
        #expect(recordings.allSatisfy { $0.bytes.contains(bytes: Array(expectedID.utf8)) })
    }

    /// A 64-character Patient ID (LO's maximum), a name in ISO_IR 192, Patient IDs inside a
    /// sequence and a 5 kB comment, with a 64-byte maximum PDU at the SCU and 256 at the SCP:
    /// each message spans many PDUs both ways and is fragmented again for the receiving peer.
    @Test func identifierSpanningManyPDUs() async throws {
        let dir = try TemporaryDirectory("rw-pdus")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl"), "--pending", "2", "--max-pdu", "256"],
                                        name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rewriter = try Rewriter.open(rules: try rules(dir))
        let longID = "H-" + String(repeating: "4711", count: 15) + "XY"
        #expect(longID.utf8.count == 64)
        let name = "Müller^Jürgen=ミュラー^ユルゲン"
        let written = Locked<[UInt8]>([])
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            // Tiny PDUs on purpose (64 and 256 bytes): --min-max-pdu 0.
            $0.minimumMaximumPDULength = 0
            $0.logDirectory = dir.file("logs")
            $0.recordDirectory = dir.file("rec")
            $0.tap = { event in
                if event.role == .requestor, event.direction == .written {
                    written.withValue { $0 += Array(event.bytes.readableBytesView) }
                }
            }
        }) { proxy in
            let find = try Subprocess.python(["find", String(proxy.port), "--sop", "general", "--patient-id", longID,
                                              "--patient-name", name, "--charset", "ISO_IR 192", "--other-id", "OTHER-1",
                                              "--other-id", "OTHER-2", "--comments-size", "5001", "--max-pdu", "64"],
                                             name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["statuses"] as? [Int] == [0xFF00, 0xFF00, 0x0000], "\(find.stdout) \(find.stderr)")
            let matches = answer["matches"] as? [[String: Any]] ?? []
            #expect(matches.count == 2)
            for match in matches {
                #expect(match["PatientID"] as? String == longID)
                #expect(match["PatientName"] as? String == name)
                #expect(match["SpecificCharacterSet"] as? String == "ISO_IR 192")
                #expect(match["OtherPatientIDs"] as? [String] == ["OTHER-1", "OTHER-2"])
                #expect(match["PatientCommentsLength"] as? Int == 5001)
            }
            try await eventually("the association's end") { proxy.logs.contains("END  released") }
            expectNoOriginals([longID, "Müller", "OTHER-1"], in: [dir.file("logs"), dir.file("rec")], logs: proxy.logs.text)
        }
        // What the SCU got was fragmented for its 64-byte maximum: many P-DATA-TF PDUs, none longer.
        var stream = ByteBuffer(bytes: written.current)
        var framer = PDUFrameDecoder()
        var dataPDUs = 0
        while let frame = try framer.decodeFrame(buffer: &stream) {
            guard frame.type == .dataTransfer else { continue }
            dataPDUs += 1
            #expect(frame.body.readableBytes <= 64)
        }
        #expect(dataPDUs > 150)
        // What the SCP got was fragmented for its 256-byte maximum (the upstream leg, as the events show it).
        let upstreamData = try jsonLines(dir.file("logs/events.jsonl")).filter {
            $0["type"] as? String == "pdu" && $0["pduType"] as? String == "P-DATA-TF" && $0["sender"] as? String == "requestor"
        }
        #expect(upstreamData.count > 20)
        #expect(upstreamData.allSatisfy { ($0["length"] as? Int ?? .max) <= 256 + 6 })

        let received = try records(dir)
        #expect(received.count == 1, "\(received)")
        let record = try #require(received.first)
        #expect(record["PatientID"] as? String == pseudonym(longID, .LO, dir: dir))
        #expect(record["PatientName"] as? String == pseudonym(name, .PN, dir: dir))
        #expect(record["OtherPatientIDs"] as? [String] == [pseudonym("OTHER-1", .LO, dir: dir), pseudonym("OTHER-2", .LO, dir: dir)])
        #expect(record["PatientCommentsLength"] as? Int == 5001)
    }

    /// C-STORE of a data set in Explicit VR Big Endian and in Deflated Explicit VR Little Endian:
    /// the SCP gets the pseudonyms in the same transfer syntax, pixel data untouched.
    @Test func storeBigEndianAndDeflated() async throws {
        let dir = try TemporaryDirectory("rw-store")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rewriter = try Rewriter.open(rules: try rules(dir))
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            // The SCU's 1024-byte maximum on purpose: --min-max-pdu 0.
            $0.minimumMaximumPDULength = 0
            $0.logDirectory = dir.file("logs")
            $0.recordDirectory = dir.file("rec")
        }) { proxy in
            for ts in ["be", "deflated"] {
                let store = try Subprocess.python(["store", String(proxy.port), "--ts", ts, "--patient-id", Self.patientID,
                                                   "--patient-name", Self.patientName, "--max-pdu", "1024"],
                                                  name: "store-\(ts)", directory: dir)
                #expect(try await store.wait() == 0)
                #expect(try jsonObject(store.stdout)["status"] as? Int == 0, "\(store.stdout) \(store.stderr)")
            }
            try await eventually("the associations' ends") {
                proxy.logs.lines.current.filter { $0.contains("END  released") }.count == 2
            }
            expectNoOriginals([Self.patientID, "Johnathan"], in: [dir.file("logs"), dir.file("rec")], logs: proxy.logs.text)
        }
        let received = try records(dir)
        #expect(received.compactMap { $0["ts"] as? String } == ["1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"])
        for record in received {
            #expect(record["PatientID"] as? String == pseudonym(Self.patientID, .LO, dir: dir))
            #expect(record["PatientName"] as? String == pseudonym(Self.patientName, .PN, dir: dir))
            #expect(record["PatientBirthDate"] as? String == "19700101")
            #expect(record["Rows"] as? Int == 64)
            #expect(record["PixelBytes"] as? Int == 8192)
        }
    }

    /// The mapping store already maps the pseudonym of the SCU's Patient ID to another patient
    /// (as a collision would, written by another proxy on the same file): the C-FIND never
    /// reaches the SCP, the association is aborted with a finding, the store still maps the
    /// pseudonym to the first patient, and the proxy goes on serving the next association.
    @Test func aCollisionAbortsTheAssociationAndMapsNothingWrong() async throws {
        let dir = try TemporaryDirectory("rw-collision")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rules = try rules(dir)
        let taken = pseudonym(Self.patientID, .LO, dir: dir)
        // Written through another store on the same file: not in the proxy's cache.
        try MappingStore(path: dir.file("map.sqlite")).commit([PseudonymRecord(pseudonym: taken, original: "SOMEONE-ELSE-9",
                                                                               vr: .LO, tag: Tag(0x0010_0020))])
        let rewriter = try Rewriter.open(rules: rules)
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            $0.logDirectory = dir.file("logs")
        }) { proxy in
            let find = try Subprocess.python(["find", String(proxy.port), "--patient-id", Self.patientID,
                                              "--patient-name", Self.patientName], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let answer = try jsonObject(find.stdout)
            #expect(answer["aborted"] as? Bool == true, "\(find.stdout) \(find.stderr)")
            try await eventually("the finding") { proxy.logs.contains("pseudonym-collision") || proxy.logs.contains("already in the mapping store") }
            #expect(proxy.logs.contains("cannot-rewrite"))

            // The next association, another patient: served.
            let next = try Subprocess.python(["find", String(proxy.port), "--patient-id", "PAT-OTHER-2",
                                              "--patient-name", "Other^Patient"], name: "find-next", directory: dir)
            #expect(try await next.wait() == 0)
            #expect(try jsonObject(next.stdout)["statuses"] as? [Int] == [0xFF00, 0xFF00, 0xFF00, 0x0000], "\(next.stdout)")
        }
        // The SCP saw the first association aborted, and only the second one's C-FIND.
        let received = try records(dir)
        #expect(received.map { $0["service"] as? String } == ["A-ABORT", "C-FIND"], "\(received)")
        #expect(received.allSatisfy { $0["PatientID"] as? String != taken })
        #expect(try MappingStore(path: dir.file("map.sqlite")).original(of: taken)?.original == "SOMEONE-ELSE-9")
    }

    /// A Patient ID from the SCP that the proxy never issued goes to the SCU unchanged and is
    /// flagged; with `logOriginals` the console shows what was rewritten.
    @Test func unknownPseudonymAndLogOriginals() async throws {
        let dir = try TemporaryDirectory("rw-unknown")
        defer { dir.remove() }
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl"), "--pending", "1", "--unknown-id", "NOTISSUED99"],
                                        name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rewriter = try Rewriter.open(rules: try rules(dir))
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            $0.logOriginals = true
            $0.logDirectory = dir.file("logs")
        }) { proxy in
            let find = try Subprocess.python(["find", String(proxy.port), "--patient-id", Self.patientID, "--patient-name",
                                              Self.patientName], name: "find", directory: dir)
            #expect(try await find.wait() == 0)
            let matches = try jsonObject(find.stdout)["matches"] as? [[String: Any]] ?? []
            #expect(matches.compactMap { $0["PatientID"] as? String } == [Self.patientID, "NOTISSUED99"])
            try await eventually("the association's end") { proxy.logs.contains("END  released") }
            #expect(proxy.logs.contains("!! warning unknown-pseudonym: (0010,0020) PatientID 'NOTISSUED99' from the SCP"))
            let expectedID = pseudonym(Self.patientID, .LO, dir: dir)
            #expect(proxy.logs.contains("REWRITE (0010,0020) PatientID: '\(Self.patientID)' -> '\(expectedID)'"))
        }
        let events = try String(contentsOfFile: dir.file("logs/events.jsonl"), encoding: .utf8)
        #expect(events.contains("\"unknown-pseudonym\""))
    }
}

extension PynetdicomRewriteTests {
    /// C-GET: the identifier goes to the SCP pseudonymized, and the C-STORE sub-operation the SCP
    /// sends back on the same association (an instance the archive holds under the pseudonyms,
    /// prepared with the same key) reaches the SCU with the original identifiers.
    @Test func getMapsTheRetrievedInstanceBack() async throws {
        let dir = try TemporaryDirectory("rw-get")
        defer { dir.remove() }
        let rules = try rules(dir)
        let pseudonymID = pseudonym(Self.patientID, .LO, dir: dir)
        let pseudonymName = pseudonym(Self.patientName, .PN, dir: dir)
        // The archive's data was prepared with the same key; its names were recorded in the store then.
        try MappingStore(path: dir.file("map.sqlite")).issued(PseudonymRecord(pseudonym: pseudonymName, original: Self.patientName,
                                                                               vr: .PN, tag: Tag(0x0010_0010)))
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl"), "--get-name", pseudonymName],
                                        name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rewriter = try Rewriter.open(rules: rules)
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            $0.logDirectory = dir.file("logs")
            $0.recordDirectory = dir.file("rec")
        }) { proxy in
            let get = try Subprocess.python(["get", String(proxy.port), "--patient-id", Self.patientID], name: "get", directory: dir)
            #expect(try await get.wait() == 0)
            let answer = try jsonObject(get.stdout)
            #expect(answer["statuses"] as? [Int] == [0xFF00, 0x0000], "\(get.stdout) \(get.stderr)")
            let stored = answer["stored"] as? [[String: Any]] ?? []
            #expect(stored.count == 1)
            #expect(stored.first?["PatientID"] as? String == Self.patientID)
            #expect(stored.first?["PatientName"] as? String == Self.patientName)
            #expect(stored.first?["PixelBytes"] as? Int == 8192)
            try await eventually("the association's end") { proxy.logs.contains("END  released") }
            #expect(!proxy.logs.contains("unknown-pseudonym"))
            expectNoOriginals([Self.patientID, "Johnathan"], in: [dir.file("logs"), dir.file("rec")], logs: proxy.logs.text)
        }
        let received = try records(dir)
        #expect(received.first?["service"] as? String == "C-GET")
        #expect(received.first?["PatientID"] as? String == pseudonymID)
    }

    /// C-MOVE through the proxy with `--calling-ae MODALITY=GATEWAY`: a move to the SCU's own
    /// title reaches the SCP as GATEWAY (the title the SCP knows the SCU by), any other destination
    /// as it was; the Patient ID is pseudonymized as in C-FIND.
    @Test func moveDestinationFollowsTheCallingTitle() async throws {
        let dir = try TemporaryDirectory("rewrite-move")
        defer { dir.remove() }
        let rules = try rules(dir)
        let scp = try Subprocess.python(["scp", "--record", dir.file("received.jsonl")], name: "scp", directory: dir)
        defer { scp.stop() }
        let scpPort = try await scp.port()
        let rewriter = try Rewriter.open(rules: rules)
        try await withProxy(upstream: scpPort, configure: {
            $0.rewriter = rewriter
            $0.logDirectory = dir.file("logs")
        }) { proxy in
            for destination in ["MODALITY", "WORKSTATION"] {
                let move = try Subprocess.python(["move", String(proxy.port), "--patient-id", Self.patientID,
                                                  "--destination", destination], name: "move-\(destination)", directory: dir)
                #expect(try await move.wait() == 0)
                let answer = try jsonObject(move.stdout)
                #expect(answer["statuses"] as? [Int] == [0xA801], "\(move.stdout) \(move.stderr)")
            }
            try await eventually("both associations' end") {
                proxy.logs.text.components(separatedBy: "END  released").count == 3
            }
            // The association's text log says what changed (SCP-side value only, without --log-originals).
            let logs = filesBytes(under: dir.file("logs")).map { String(decoding: $0.bytes, as: UTF8.self) }.joined()
            #expect(logs.contains("REWRITE (0000,0600) MoveDestination: (original) -> 'GATEWAY'"), "\(logs)")
        }
        let received = try records(dir).filter { $0["service"] as? String == "C-MOVE" }
        #expect(received.count == 2)
        #expect(received.map { $0["MoveDestination"] as? String } == ["GATEWAY", "WORKSTATION"])
        #expect(received.allSatisfy { $0["calling"] as? String == "GATEWAY" })
        #expect(received.allSatisfy { $0["PatientID"] as? String == pseudonym(Self.patientID, .LO, dir: dir) })
    }
}
