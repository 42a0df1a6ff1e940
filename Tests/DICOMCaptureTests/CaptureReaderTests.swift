import DICOMPeerSupport
import Foundation
import NIOCore
import Testing
@testable import DICOMCapture

/// Capture files written here (every link type) and by dumpcap (fixtures) read back through
/// `CaptureReader` -> `PacketDecoder` -> `TCPReassembler`.
@Suite(.cpuHeavy) struct CaptureReaderTests {
    struct LinkCase: CustomTestStringConvertible, Sendable {
        var link: TestLink
        var ipv6: Bool
        var testDescription: String { "\(link) \(ipv6 ? "IPv6" : "IPv4")" }
        /// What `pcap_datalink` reports for the file's link type.
        var dlt: Int32 { link.fileLinkType == 101 ? LinkType.raw : Int32(link.fileLinkType) }
    }

    static let linkCases: [LinkCase] = {
        let links: [TestLink] = [
            .ethernet(vlanTags: []), .ethernet(vlanTags: [0x8100]), .ethernet(vlanTags: [0x88A8, 0x8100]),
            .sll, .sll2,
            .null(bigEndian: false, ipv6Family: 10), .null(bigEndian: true, ipv6Family: 24),
            .null(bigEndian: false, ipv6Family: 28), .null(bigEndian: false, ipv6Family: 30),
            .loop(ipv6Family: 24), .loop(ipv6Family: 30),
            .raw,
        ]
        return links.flatMap { [LinkCase(link: $0, ipv6: false), LinkCase(link: $0, ipv6: true)] }
            + [LinkCase(link: .rawIPv4, ipv6: false), LinkCase(link: .rawIPv6, ipv6: true)]
    }()

    /// A conversation with a reordered pair, a duplicate, a non-TCP packet, then FINs.
    static func conversationFile(_ testCase: LinkCase) -> (records: [PcapRecord], conversation: Conversation,
                                                           clientIP: TestIP, serverIP: TestIP) {
        let clientIP: TestIP = testCase.ipv6 ? .ipv6(1) : .v4(0xC0A8_0A01)
        let serverIP: TestIP = testCase.ipv6 ? .ipv6(2) : .v4(0xC0A8_0A02)
        var conversation = Conversation(client: Endpoint(address: clientIP.address, port: 51_234),
                                        server: Endpoint(address: serverIP.address, port: 11_112),
                                        clientISN: 0xFFFF_F000, serverISN: 12_345)
        var specs = conversation.handshake()
        var request = conversation.send(.client, pattern(5000, seed: 1), segmentSize: 1448)
        request.swapAt(1, 2)
        specs += request
        specs.append(request[0]) // a duplicate
        specs += conversation.send(.server, pattern(3000, seed: 2), segmentSize: 1448)
        specs += conversation.send(.client, pattern(7, seed: 3))
        specs += conversation.close()
        var records: [PcapRecord] = []
        let start: Int64 = 1_700_000_000_123_456_789
        for (n, spec) in specs.enumerated() {
            let frame = conversation.frame(spec, link: testCase.link, clientIP: clientIP, serverIP: serverIP)
            records.append(PcapRecord(timestampNanoseconds: start + Int64(n) * 1_000_001, data: frame))
            if n == 4 {
                // A UDP datagram in between.
                let udp: [UInt8]
                switch (clientIP, serverIP) {
                case let (.v4(s), .v4(d)): udp = Build.ipv4(source: s, destination: d, protocol: 17, body: [0, 1, 0, 2, 0, 8, 0, 0])
                case let (.v6(s), .v6(d)): udp = Build.ipv6(source: s, destination: d, body: [0, 1, 0, 2, 0, 8, 0, 0], finalNextHeader: 17)
                default: udp = []
                }
                records.append(PcapRecord(timestampNanoseconds: start + Int64(n) * 1_000_001 + 1,
                                          data: testCase.link.frame(udp, isIPv6: testCase.ipv6)))
            }
        }
        return (records, conversation, clientIP, serverIP)
    }

    @Test(arguments: linkCases)
    func everyLinkTypeRoundTrips(_ testCase: LinkCase) throws {
        let directory = try TemporaryDirectory()
        let (records, conversation, clientIP, serverIP) = Self.conversationFile(testCase)
        let path = try directory.write("capture.pcap", PcapWriter.bytes(linkType: testCase.link.fileLinkType, records: records))
        let reader = try CaptureReader(path: path)
        #expect(reader.linkType == testCase.dlt)
        #expect(reader.snapshotLength == 262_144)

        let result = try runPipeline(path: path, keepPackets: true)
        #expect(result.endError == nil)
        #expect(result.packets.map(\.index) == Array(1...records.count))
        #expect(result.packets.map(\.timestampNanoseconds) == records.map(\.timestampNanoseconds))
        #expect(result.packets.map { Array($0.data.readableBytesView) } == records.map(\.data))
        #expect(result.decodeStatistics.tcpSegments == records.count - 1)
        #expect(result.decodeStatistics.notTCP == 1)
        #expect(result.skipped.map(\.1) == [.notTCP(ipProtocol: 17)])
        #expect(result.collector.problems == [])
        let connection = try #require(result.collector.only)
        #expect(connection.sawSYN)
        #expect(connection.client.host == (testCase.ipv6 ? "2001:db8::1" : "192.168.10.1"))
        #expect(connection.client.port == 51_234)
        #expect(connection.server.address == serverIP.address)
        #expect(connection.client.address == clientIP.address)
        #expect(connection.toServer.bytes == conversation.clientBytes)
        #expect(connection.toClient.bytes == conversation.serverBytes)
        #expect(connection.toServer.gaps.isEmpty && connection.toClient.gaps.isEmpty)
        #expect(connection.closed == .fin)
        #expect(result.reassemblyStatistics.duplicateSegments == 1)
    }

    @Test func microsecondPcapTimestampsAreScaled() throws {
        let directory = try TemporaryDirectory()
        let frame = TestLink.rawIPv4.frame(Build.ipv4(source: 1, destination: 2, body: PacketDecoderTests.tcp), isIPv6: false)
        let bytes = PcapWriter.bytes(linkType: 228, records: [PcapRecord(timestampNanoseconds: 1_500_000_000_654_321_000, data: frame)],
                                     nanosecond: false)
        let reader = try CaptureReader(path: try directory.write("micro.pcap", bytes))
        let packet = try #require(try reader.next())
        #expect(packet.timestampNanoseconds == 1_500_000_000_654_321_000)
        #expect(packet.capturedLength == frame.count && packet.originalLength == frame.count)
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
        #expect(reader.isFinished && reader.endError == nil)
    }

    /// Packets each get their own bytes (a packet kept while later ones are read does not
    /// change), and a small packet kept after a large one does not hold the large one's storage.
    @Test func keptPacketsOwnTheirBytesAndNotALargeStorage() throws {
        let directory = try TemporaryDirectory()
        let large = Array(repeating: UInt8(0xAB), count: 60_000)
        let small = Array(repeating: UInt8(0xCD), count: 100)
        let path = try directory.write("sizes.pcap", PcapWriter.bytes(linkType: 1, records: [
            PcapRecord(timestampNanoseconds: 1, data: small), PcapRecord(timestampNanoseconds: 2, data: large),
            PcapRecord(timestampNanoseconds: 3, data: small), PcapRecord(timestampNanoseconds: 4, data: small),
        ]))
        let reader = try CaptureReader(path: path)
        let first = try #require(try reader.next())
        let second = try #require(try reader.next())
        _ = consume second
        let third = try #require(try reader.next())
        let fourth = try #require(try reader.next())
        #expect(Array(first.data.readableBytesView) == small)
        #expect(Array(third.data.readableBytesView) == small)
        #expect(Array(fourth.data.readableBytesView) == small)
        #expect(third.data.storageCapacity < 4096, "\(third.data.storageCapacity)")
        #expect(fourth.data.storageCapacity < 4096)
    }

    @Test func snaplenCutRecordsKeepTheOriginalLength() throws {
        let directory = try TemporaryDirectory()
        var conversation = Conversation(client: Endpoint(address: .v4(1), port: 2000), server: Endpoint(address: .v4(2), port: 104))
        let specs = conversation.handshake() + conversation.send(.client, pattern(300), segmentSize: 100)
        let records = specs.map { spec -> PcapRecord in
            let frame = conversation.frame(spec, link: .ethernet(vlanTags: []), clientIP: .v4(1), serverIP: .v4(2))
            return PcapRecord(timestampNanoseconds: 1, data: Array(frame.prefix(14 + 20 + 20 + 40)), originalLength: frame.count)
        }
        let path = try directory.write("cut.pcap", PcapWriter.bytes(linkType: 1, snaplen: 94, records: records))
        let result = try runPipeline(path: path)
        #expect(result.collector.problems == [])
        let stream = try #require(result.collector.only?.toServer)
        #expect(stream.bytes == pattern(40) + Array(pattern(300)[100..<140]) + Array(pattern(300)[200..<240]))
        #expect(stream.gaps.map(\.streamOffsets) == [40..<100, 140..<200, 240..<300])
        #expect(stream.gaps.allSatisfy { $0.reason == .notCaptured })
    }

    /// Damaged and foreign packets in a file are skipped with their reason; the connection
    /// around them is still rebuilt.
    @Test func malformedPacketsInAFileAreSkipped() throws {
        let directory = try TemporaryDirectory()
        var conversation = Conversation(client: Endpoint(address: .v4(0x0A00_0001), port: 40_000),
                                        server: Endpoint(address: .v4(0x0A00_0002), port: 104))
        let specs = conversation.handshake() + conversation.send(.client, pattern(3000), segmentSize: 1000)
            + conversation.send(.server, pattern(10, seed: 1)) + conversation.close()
        var frames = specs.map { conversation.frame($0, link: .ethernet(vlanTags: []), clientIP: .v4(0x0A00_0001),
                                                    serverIP: .v4(0x0A00_0002)) }
        let tcp = PacketDecoderTests.tcp
        let junk: [(Int, [UInt8], SkipReason)] = [
            (3, PacketDecoderTests.ethernet(Build.ipv4(source: 0x0A00_0001, destination: 0x0A00_0002, body: tcp, ihlOverride: 3)),
             .malformed(.ipv4HeaderLength(12))),
            (4, PacketDecoderTests.ethernet([UInt8](repeating: 0, count: 28), etherType: 0x0806), .notIP(etherType: 0x0806)),
            (5, PacketDecoderTests.ethernet(Build.ipv4(source: 0x0A00_0001, destination: 0x0A00_0002, body: tcp,
                                                       flagsAndFragment: 100)), .ipFragment),
            (6, PacketDecoderTests.ethernet(Build.ipv4(source: 0x0A00_0001, destination: 0x0A00_0002,
                                                       body: Build.tcp(sourcePort: 40_000, destinationPort: 104, seq: 0, ack: 0,
                                                                       flags: .ack, payload: [], dataOffsetOverride: 2))),
             .malformed(.tcpDataOffset(headerLength: 8, segmentLength: 20))),
            (7, Array(PacketDecoderTests.ethernet(Build.ipv4(source: 1, destination: 2, body: tcp)).prefix(20)),
             .headerNotCaptured(.ipv4)),
        ]
        for (position, bytes, _) in junk { frames.insert(bytes, at: position) } // at packets 4...8
        let records = frames.enumerated().map { PcapRecord(timestampNanoseconds: Int64($0.offset), data: $0.element) }
        let path = try directory.write("mixed.pcap", PcapWriter.bytes(linkType: 1, records: records))
        let result = try runPipeline(path: path)
        #expect(result.skipped.map(\.1) == junk.map(\.2))
        #expect(result.skipped.map(\.0) == junk.map { $0.0 + 1 }) // 1-based packet numbers
        #expect(result.decodeStatistics.malformed == 2)
        #expect(result.decodeStatistics.headerNotCaptured == 1)
        #expect(result.decodeStatistics.ipFragments == 1)
        #expect(result.decodeStatistics.notTCP == 1)
        #expect(result.collector.problems == [])
        #expect(result.collector.only?.toServer.bytes == conversation.clientBytes)
        #expect(result.collector.only?.toClient.bytes == conversation.serverBytes)
        #expect(result.collector.only?.closed == .fin)
    }

    // MARK: - Bad files

    @Test func fileThatIsNotACapture() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("notes.txt", Array("this is not a capture file, just some text\n".utf8))
        let error = #expect(throws: CaptureError.self) { _ = try CaptureReader(path: path) }
        #expect(error?.code == .notACapture)
        #expect(error?.message == "unknown file format")
        #expect(error?.path == path)
        // A DICOM file is not a capture either.
        let dicom = try directory.write("file.dcm", [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + [2, 0, 0, 0])
        #expect(throws: CaptureError.self) { _ = try CaptureReader(path: dicom) }
    }

    @Test func missingFileAndDirectory() throws {
        let directory = try TemporaryDirectory()
        do {
            _ = try CaptureReader(path: directory.url.appendingPathComponent("missing.pcap").path)
            Issue.record("opened a missing file")
        } catch {
            #expect(error.code == .cannotOpen)
            #expect(error.message == "no such file or directory")
            #expect(error.description.hasSuffix("missing.pcap: cannot open capture: no such file or directory"))
        }
        do {
            _ = try CaptureReader(path: directory.url.path)
            Issue.record("opened a directory")
        } catch {
            #expect(error.code == .cannotOpen)
        }
    }

    @Test func emptyFileIsATruncatedCapture() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("empty.pcap", [])
        do {
            _ = try CaptureReader(path: path)
            Issue.record("opened an empty file")
        } catch {
            #expect(error.code == .truncated && error.packetIndex == 0)
        }
    }

    /// A classic pcap cut inside a record: the packets before it, then `truncated` naming the
    /// last complete packet; a cut between records cannot be told from the end of the file.
    @Test func truncatedPcapReportsWhereItWasCut() throws {
        let directory = try TemporaryDirectory()
        var conversation = Conversation(client: Endpoint(address: .v4(1), port: 2000), server: Endpoint(address: .v4(2), port: 104))
        let specs = conversation.handshake() + conversation.send(.client, pattern(300), segmentSize: 100)
        let frames = specs.map { conversation.frame($0, link: .sll, clientIP: .v4(1), serverIP: .v4(2)) }
        let records = frames.map { PcapRecord(timestampNanoseconds: 5, data: $0) }
        let full = PcapWriter.bytes(linkType: 113, records: records)
        // Offsets: 24-byte file header, then 16-byte record headers.
        var recordStarts: [Int] = []
        var offset = 24
        for frame in frames {
            recordStarts.append(offset)
            offset += 16 + frame.count
        }
        #expect(offset == full.count)

        for (cut, expectedPackets, expectError) in [
            (recordStarts[3] + 16 + 30, 3, true), // inside packet 4's bytes
            (recordStarts[3] + 7, 3, true), // inside packet 4's record header
            (recordStarts[3], 3, false), // exactly between packets 3 and 4
            (24 + 3, 0, true), // inside the first record header
            (24, 0, false), // the file header alone
            (full.count - 1, frames.count - 1, true),
        ] {
            let path = try directory.write("cut-\(cut).pcap", Array(full.prefix(cut)))
            let reader = try CaptureReader(path: path)
            var packets = 0
            do {
                while let packet = try reader.next() {
                    packets += 1
                    #expect(Array(packet.data.readableBytesView) == frames[packet.index - 1])
                }
                #expect(!expectError, "cut at \(cut): no error")
            } catch {
                #expect(expectError, "cut at \(cut): \(error)")
                #expect(error.code == .truncated)
                #expect(error.packetIndex == expectedPackets)
                #expect(error.message.hasPrefix("truncated dump file"))
                #expect(error.description.contains("capture cut after packet \(expectedPackets)"))
                #expect(reader.endError == error)
            }
            #expect(packets == expectedPackets, "cut at \(cut)")
            #expect(try reader.next() == nil)
        }
        // The file header itself cut: opening fails as truncated.
        let header = try directory.write("header.pcap", Array(full.prefix(20)))
        let error = #expect(throws: CaptureError.self) { _ = try CaptureReader(path: header) }
        #expect(error?.code == .truncated)
    }

    /// dumpcap's pcapng cut at every 97th byte: always a prefix of the packets, and every cut
    /// inside a block (packet or not) reported as truncated.
    @Test func truncatedPcapngReportsWhereItWasCut() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: fixturePath("loopback.pcapng")))
        let bytes = [UInt8](original)
        let complete = try Self.readAll(fixturePath("loopback.pcapng"))
        #expect(complete.error == nil)
        let directory = try TemporaryDirectory()
        var sawTruncatedAfterLastPacket = false
        for cut in stride(from: 1, to: bytes.count, by: 97) + [bytes.count - 4] {
            let path = try directory.write("cut.pcapng", Array(bytes.prefix(cut)))
            let reader: CaptureReader
            do {
                reader = try CaptureReader(path: path)
            } catch {
                // Cut inside the section header or interface description.
                #expect(error.code == .truncated, "cut at \(cut): \(error)")
                #expect(error.packetIndex == 0)
                #expect(error.message.contains("truncated")) // under 4 bytes libpcap cannot tell pcapng yet
                continue
            }
            var packets: [[UInt8]] = []
            do {
                while let packet = try reader.next() { packets.append(Array(packet.data.readableBytesView)) }
            } catch {
                #expect(error.code == .truncated, "cut at \(cut): \(error)")
                #expect(error.packetIndex == packets.count)
                if packets.count == complete.packets.count { sawTruncatedAfterLastPacket = true }
            }
            #expect(packets == Array(complete.packets.prefix(packets.count)), "cut at \(cut)")
        }
        // dumpcap ends the file with an Interface Statistics Block: a cut in it is reported too.
        #expect(sawTruncatedAfterLastPacket)
    }

    static func readAll(_ path: String) throws -> (packets: [[UInt8]], error: CaptureError?) {
        let reader = try CaptureReader(path: path)
        var packets: [[UInt8]] = []
        do {
            while let packet = try reader.next() { packets.append(Array(packet.data.readableBytesView)) }
            return (packets, nil)
        } catch {
            return (packets, error)
        }
    }

    // MARK: - Real captures (dumpcap on lo, tools/make_capture_fixture.py)

    struct Manifest: Decodable {
        struct File: Decodable {
            struct Connection: Decodable {
                let family: String
                let client: String
                let clientPort: UInt16
                let server: String
                let serverPort: UInt16
            }
            let snaplen: Int
            let packets: Int
            let connections: [Connection]
        }
        let clientToServer: String
        let serverToClient: String
        let clientMessages: [Int]
        let serverMessages: [Int]
        let files: [String: File]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: fixtureDirectory.appendingPathComponent("loopback.json")))
    }

    static func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtureDirectory.appendingPathComponent(name)))
    }

    /// dumpcap on lo (Ethernet framing, pcapng, and editcap's pcap) and on "any" (Linux
    /// cooked v1 and v2).
    @Test(arguments: [("loopback.pcapng", LinkType.ethernet), ("loopback.pcap", LinkType.ethernet),
                      ("loopback-sll.pcapng", LinkType.linuxSLL), ("loopback-sll2.pcapng", LinkType.linuxSLL2)])
    func realLoopbackCapture(_ name: String, _ linkType: Int32) throws {
        let manifest = try Self.manifest()
        let file = try #require(manifest.files[name])
        let clientBytes = try Self.fixtureBytes(manifest.clientToServer)
        let serverBytes = try Self.fixtureBytes(manifest.serverToClient)
        let result = try runPipeline(path: fixturePath(name), keepPackets: true)
        #expect(result.endError == nil)
        #expect(result.packets.count == file.packets)
        #expect(result.packets.allSatisfy { $0.linkType == linkType })
        #expect(zip(result.packets, result.packets.dropFirst()).allSatisfy { $0.timestampNanoseconds <= $1.timestampNanoseconds })
        #expect(result.decodeStatistics.tcpSegments == file.packets)
        #expect(result.collector.problems == [])
        #expect(result.collector.order.count == file.connections.count)
        for (n, expected) in file.connections.enumerated() {
            let connection = try #require(result.collector.connection(n))
            #expect(connection.sawSYN)
            #expect(connection.client.host == expected.client && connection.client.port == expected.clientPort)
            #expect(connection.server.host == expected.server && connection.server.port == expected.serverPort)
            #expect(connection.toServer.bytes == clientBytes, "\(expected.family)")
            #expect(connection.toClient.bytes == serverBytes, "\(expected.family)")
            #expect(connection.toServer.gaps.isEmpty && connection.toClient.gaps.isEmpty)
            #expect(connection.closed == .fin)
        }
    }

    @Test func realSnaplenCutCapture() throws {
        let manifest = try Self.manifest()
        let file = try #require(manifest.files["loopback-snaplen.pcapng"])
        let clientBytes = try Self.fixtureBytes(manifest.clientToServer)
        let serverBytes = try Self.fixtureBytes(manifest.serverToClient)
        let reader = try CaptureReader(path: fixturePath("loopback-snaplen.pcapng"))
        #expect(reader.snapshotLength == 96)
        var reassembler = TCPReassembler()
        var decoder = PacketDecoder()
        var events: [TCPReassembler.Event] = []
        while let packet = try reader.next() {
            #expect(packet.capturedLength <= 96)
            if case .segment(let segment) = decoder.decode(packet) { reassembler.process(segment, into: &events) }
        }
        reassembler.finish(into: &events)
        #expect(decoder.statistics.tcpSegments == file.packets)
        // Each direction: data and gaps cover the stream; the data bytes are the real ones; each
        // message's first bytes were captured.
        var collector = Collector()
        collector.apply(events)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        for (direction, expected, messages) in [(Direction.clientToServer, clientBytes, manifest.clientMessages),
                                                (.serverToClient, serverBytes, manifest.serverMessages)] {
            var covered = 0
            var gapBytes = 0
            var dataStarts: Set<Int> = []
            for event in events {
                switch event {
                case let .data(_, d, buffer, _, offset, _) where d == direction:
                    #expect(Array(buffer.readableBytesView) == Array(expected[offset..<offset + buffer.readableBytes]))
                    dataStarts.insert(offset)
                    covered = offset + buffer.readableBytes
                case let .gap(_, d, gap, _, _) where d == direction:
                    #expect(gap.reason == .notCaptured)
                    gapBytes += gap.length
                    covered = gap.streamOffsets.upperBound
                default: break
                }
            }
            #expect(covered == expected.count)
            let messageStarts = messages.indices.map { messages[..<$0].reduce(0, +) }
            #expect(Set(messageStarts).isSubset(of: dataStarts))
            #expect(gapBytes > 0)
        }
        #expect(connection.closed == .fin)
    }

    // MARK: - Mutations: an error or packets, never a crash

    @Test(arguments: ["loopback.pcapng", "loopback.pcap", "synthetic"])
    func mutatedCapturesNeverCrash(_ name: String) throws {
        let original: [UInt8]
        if name == "synthetic" {
            // Several link types are not mixable in one pcap; use Ethernet with VLANs and IPv6.
            original = PcapWriter.bytes(linkType: 1,
                                        records: Self.conversationFile(LinkCase(link: .ethernet(vlanTags: [0x8100]), ipv6: true)).records)
        } else {
            original = try Self.fixtureBytes(name)
        }
        let directory = try TemporaryDirectory()
        var generator = SeededGenerator(seed: 0xD1C0_4A9 ^ UInt64(name.utf8.count))
        var outcomes = (errors: 0, packets: 0, gaps: 0)
        for iteration in 0..<250 {
            var bytes = original
            switch iteration % 4 {
            case 0: // bit flips
                for _ in 0..<Int.random(in: 1...16, using: &generator) {
                    let position = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
                }
            case 1: // random bytes in one window (lengths, header fields)
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                for i in position..<min(bytes.count, position + Int.random(in: 1...8, using: &generator)) {
                    bytes[i] = UInt8.random(in: 0...255, using: &generator)
                }
            case 2: // truncation
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            default: // flips near the start of the file (headers) and a cut
                for _ in 0..<4 {
                    let position = Int.random(in: 0..<min(bytes.count, 400), using: &generator)
                    bytes[position] ^= UInt8.random(in: 1...255, using: &generator)
                }
                bytes = Array(bytes.prefix(Int.random(in: bytes.count / 2..<bytes.count, using: &generator)))
            }
            let path = try directory.write("mutant.bin", bytes)
            do {
                let result = try runPipeline(path: path, configuration: .init(maxBufferedBytesPerDirection: 64 << 10))
                #expect(result.collector.problems == [], "iteration \(iteration)")
                outcomes.packets += result.decodeStatistics.packets
                outcomes.gaps += result.reassemblyStatistics.gaps
                if result.endError != nil { outcomes.errors += 1 }
            } catch {
                outcomes.errors += 1
            }
        }
        #expect(outcomes.errors > 0)
        #expect(outcomes.packets > 0)
    }
}
