import DICOMPeerSupport
import NIOCore
import Testing
@testable import DICOMCapture

@Suite(.cpuHeavy) struct TCPReassemblerTests {
    static let client = Endpoint(address: .v4(0x0A00_0001), port: 50_000) // 10.0.0.1
    static let server = Endpoint(address: .v4(0x0A00_0002), port: 104) // 10.0.0.2

    /// One segment from `side` of the standard client/server pair.
    static func segment(_ side: Side, seq: UInt32, ack: UInt32 = 0, flags: TCPFlags = [.ack, .psh], _ payload: [UInt8] = [],
                        index: Int, original: Int? = nil, client: Endpoint = client, server: Endpoint = server) -> TCPSegment {
        let (source, destination) = side == .client ? (client, server) : (server, client)
        return TCPSegment(index: index, timestamp: Int64(index) * 1_000_000, source: source, destination: destination,
                          seq: seq, ack: ack, flags: flags, payload: ByteBuffer(bytes: payload),
                          payloadOriginalLength: original)
    }

    /// SYN and SYN-ACK (segments 1 and 2): the client's data starts at 1001, the server's at 7001.
    static let handshake = [
        segment(.client, seq: 1000, flags: .syn, index: 1),
        segment(.server, seq: 7000, ack: 1001, flags: [.syn, .ack], index: 2),
    ]

    static func bytes(_ character: Character, _ count: Int) -> [UInt8] {
        [UInt8](repeating: character.asciiValue!, count: count)
    }

    /// Numbers segments 1, 2, 3, ... in the given order.
    static func numbered(_ conversation: Conversation, _ specs: [Conversation.Spec]) -> [TCPSegment] {
        specs.enumerated().map { conversation.segment($1, index: $0 + 1) }
    }

    // MARK: - Basic order

    @Test func inOrderConversation() throws {
        var conversation = Conversation(client: Self.client, server: Self.server)
        var specs = conversation.handshake()
        specs += conversation.send(.client, pattern(2500, seed: 1))
        specs += conversation.send(.server, pattern(1200, seed: 2))
        specs += conversation.send(.client, pattern(10, seed: 3))
        specs += conversation.close()
        let (collector, statistics) = reassemble(Self.numbered(conversation, specs))
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.client == Self.client)
        #expect(connection.server == Self.server)
        #expect(connection.sawSYN)
        #expect(connection.toServer.bytes == conversation.clientBytes)
        #expect(connection.toClient.bytes == conversation.serverBytes)
        #expect(connection.toServer.gaps.isEmpty && connection.toClient.gaps.isEmpty)
        #expect(connection.closed == .fin)
        // Closed at the server's FIN; the last ACK belongs to a closed connection.
        #expect(statistics.segmentsWithoutConnection == 1)
        #expect(statistics.bytesDelivered == 3710)
        // Data events name the packets that carried the bytes: 4, 5, 6 (client), 7, 8 (server), 9.
        #expect(connection.toServer.packetIndices == [4, 5, 6, 9])
        #expect(connection.toClient.packetIndices == [7, 8])
    }

    @Test func outOfOrderSegmentsAreReordered() throws {
        var conversation = Conversation(client: Self.client, server: Self.server)
        let handshake = conversation.handshake()
        // Each flight shuffled on its own: the server's segments ACK the whole request, so they
        // must come after it (or the reassembler rightly declares the unseen bytes lost).
        var generator = SeededGenerator(seed: 42)
        let request = conversation.send(.client, pattern(9000, seed: 4), segmentSize: 700).shuffled(using: &generator)
        let response = conversation.send(.server, pattern(3000, seed: 5), segmentSize: 512).shuffled(using: &generator)
        let data = request + response
        let (collector, statistics) = reassemble(Self.numbered(conversation, handshake + data + conversation.close()))
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == conversation.clientBytes)
        #expect(connection.toClient.bytes == conversation.serverBytes)
        #expect(connection.toServer.gaps.isEmpty && connection.toClient.gaps.isEmpty)
        #expect(connection.closed == .fin)
        #expect(statistics.duplicateSegments == 0)
    }

    /// The ACKs in a shuffled capture would prove holes; here the data arrives out of order
    /// but every ACK only acknowledges bytes already seen (as on a real wire).
    @Test func outOfOrderWithinOneFlightKeepsEveryByte() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base + 200, ack: 1, Self.bytes("c", 100), index: 2),
            Self.segment(.client, seq: base + 100, ack: 1, Self.bytes("b", 100), index: 3),
            Self.segment(.client, seq: base, ack: 1, Self.bytes("a", 100), index: 4),
        ]
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == Self.bytes("a", 100) + Self.bytes("b", 100) + Self.bytes("c", 100))
        // Delivered when the hole filled, each slice naming its own packet.
        #expect(connection.toServer.packetIndices == [4, 3, 2])
        #expect(connection.closed == .endOfCapture)
    }

    @Test func duplicatesAndRetransmissionsAreDropped() throws {
        var conversation = Conversation(client: Self.client, server: Self.server)
        var specs = conversation.handshake()
        let data = conversation.send(.client, pattern(4000, seed: 6), segmentSize: 1000)
        for spec in data { specs += [spec, spec] } // every data segment twice
        specs += conversation.send(.server, pattern(100, seed: 7))
        specs.append(data[0]) // a late retransmission of the first segment
        specs += conversation.close()
        let (collector, statistics) = reassemble(Self.numbered(conversation, specs))
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == conversation.clientBytes)
        #expect(connection.toClient.bytes == conversation.serverBytes)
        #expect(statistics.duplicateSegments == 5)
        #expect(statistics.duplicateBytes == 5000)
        #expect(connection.closed == .fin)
    }

    // MARK: - Overlap: the first-seen bytes win

    @Test func overlapWithDeliveredBytesKeepsTheFirstCopy() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base, Self.bytes("A", 10), index: 2),
            // Retransmission covering 5..<15 with different content: 5..<10 were seen as "A".
            Self.segment(.client, seq: base + 5, Self.bytes("B", 10), index: 3),
        ]
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        #expect(collector.only?.toServer.bytes == Self.bytes("A", 10) + Self.bytes("B", 5))
        #expect(statistics.duplicateBytes == 5)
    }

    @Test func overlapWithBufferedBytesKeepsTheFirstCopy() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base + 10, Self.bytes("C", 10), index: 2), // 10..<20, buffered
            Self.segment(.client, seq: base + 5, Self.bytes("D", 20), index: 3), // 5..<25: only 5..<10 and 20..<25 new
            Self.segment(.client, seq: base, Self.bytes("E", 5), index: 4), // 0..<5 fills the hole
            Self.segment(.client, seq: base + 8, Self.bytes("F", 4), index: 5), // all old
        ]
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes
            == Self.bytes("E", 5) + Self.bytes("D", 5) + Self.bytes("C", 10) + Self.bytes("D", 5))
        #expect(connection.toServer.packetIndices == [4, 3, 2, 3])
        #expect(statistics.duplicateBytes == 10 + 4)
        #expect(statistics.duplicateSegments == 1)
    }

    // MARK: - Gaps

    @Test func holeNeverFilledIsReportedWithItsExactRange() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, flags: .ack, index: 3),
            Self.segment(.client, seq: base, ack: serverBase, pattern(100, seed: 1), index: 4), // 0..<100
            Self.segment(.client, seq: base + 200, ack: serverBase, pattern(100, seed: 2), index: 5), // 200..<300
            Self.segment(.client, seq: base + 300, ack: serverBase, flags: [.fin, .ack], index: 6),
            // The server acknowledges only 0..<100 (it lacks 100..<200 too), then closes.
            Self.segment(.server, seq: serverBase, ack: base + 100, flags: [.fin, .ack], index: 7),
        ]
        var reassembler = TCPReassembler()
        var collector = Collector()
        for segment in segments { collector.apply(reassembler.process(segment)) }
        // Both FINs seen, but the client stream has a hole: the connection waits for it.
        #expect(reassembler.openConnectionCount == 1)
        #expect(reassembler.bufferedBytes == 100)
        collector.apply(reassembler.finish())
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100,
                                                 reason: .endOfCapture)])
        #expect(connection.toServer.gaps.first?.endSequenceNumber == base + 200)
        #expect(connection.toServer.gapPacketIndices == [7]) // decided at the end: the last packet
        #expect(connection.toServer.bytes == pattern(100, seed: 1) + pattern(100, seed: 2))
        #expect(connection.closed == .fin)
        #expect(reassembler.statistics.gapBytes == 100)
    }

    @Test func holeAcknowledgedByThePeerIsAGapBeforeThePeersData() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, pattern(100, seed: 1), index: 3),
            Self.segment(.client, seq: base + 200, ack: serverBase, pattern(100, seed: 2), index: 4),
            // The server got everything (ACK 300) and answers: 100..<200 were not captured.
            Self.segment(.server, seq: serverBase, ack: base + 300, Self.bytes("R", 50), index: 5),
        ]
        var reassembler = TCPReassembler()
        var events: [TCPReassembler.Event] = []
        for segment in segments.dropLast() { reassembler.process(segment, into: &events) }
        events.removeAll()
        reassembler.process(segments.last!, into: &events)
        try #require(events.count == 3)
        guard case let .gap(_, direction, gap, _, packetIndex) = events[0] else {
            Issue.record("expected a gap first, got \(events[0])")
            return
        }
        #expect(direction == .clientToServer)
        #expect(gap == Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100, reason: .acknowledged))
        #expect(packetIndex == 5)
        guard case let .data(_, .clientToServer, buffer, _, offset, dataPacket) = events[1] else {
            Issue.record("expected the buffered client bytes, got \(events[1])")
            return
        }
        #expect(Array(buffer.readableBytesView) == pattern(100, seed: 2))
        #expect(offset == 200 && dataPacket == 4)
        guard case .data(_, .serverToClient, _, _, 0, 5) = events[2] else {
            Issue.record("expected the server's answer last, got \(events[2])")
            return
        }
        #expect(reassembler.bufferedBytes == 0)
    }

    /// Two segments swapped in the capture with the receiver's ACK between them (Wireshark:
    /// "previous segment not captured", "ACKed unseen segment", "spurious retransmission"):
    /// the ACK alone declares no gap, the late segment fills the hole.
    @Test func ackCapturedBeforeAReorderedSegmentIsNotAGap() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, pattern(294), index: 3),
            Self.segment(.client, seq: base + 390, ack: serverBase, pattern(76, seed: 2), index: 4), // B first
            Self.segment(.server, seq: serverBase, ack: base + 390, flags: .ack, index: 5), // ACKs A, not yet seen
            Self.segment(.client, seq: base + 294, ack: serverBase, pattern(96, seed: 1), index: 6), // A
            Self.segment(.server, seq: serverBase, ack: base + 466, Self.bytes("R", 40), index: 7),
        ]
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps.isEmpty)
        #expect(connection.toServer.bytes == pattern(294) + pattern(96, seed: 1) + pattern(76, seed: 2))
        #expect(connection.toServer.packetIndices == [3, 6, 4])
        #expect(statistics.gaps == 0)
    }

    /// The peer acknowledged a hole and the sender goes on sending: the hole is declared at the
    /// sender's next segment, before its bytes.
    @Test func senderContinuingPastAnAcknowledgedHoleDeclaresTheGap() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, pattern(100), index: 3),
            // 100..<200 not captured.
            Self.segment(.client, seq: base + 200, ack: serverBase, pattern(100, seed: 2), index: 4),
            Self.segment(.server, seq: serverBase, ack: base + 300, flags: .ack, index: 5), // pure ACK: nothing yet
            Self.segment(.client, seq: base + 300, ack: serverBase, pattern(100, seed: 3), index: 6),
        ]
        var reassembler = TCPReassembler()
        var collector = Collector()
        for segment in segments.dropLast() { collector.apply(reassembler.process(segment)) }
        #expect(reassembler.bufferedBytes == 100)
        collector.apply(reassembler.process(segments.last!))
        #expect(reassembler.bufferedBytes == 0)
        #expect(collector.problems == [])
        let stream = try #require(collector.only?.toServer)
        #expect(stream.gaps == [Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100, reason: .acknowledged)])
        #expect(stream.gapPacketIndices == [6])
        #expect(stream.bytes == pattern(100) + pattern(100, seed: 2) + pattern(100, seed: 3))
    }

    @Test func finAcknowledgedOverAHoleClosesTheConnection() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, pattern(100), index: 3),
            Self.segment(.client, seq: base + 200, ack: serverBase, flags: [.fin, .ack], index: 4), // 100..<200 lost
            Self.segment(.server, seq: serverBase, ack: base + 201, flags: [.fin, .ack], index: 5), // ACKs the FIN
        ]
        var reassembler = TCPReassembler()
        var collector = Collector()
        for segment in segments { collector.apply(reassembler.process(segment)) }
        #expect(reassembler.openConnectionCount == 0)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100,
                                                 reason: .acknowledged)])
        #expect(connection.closed == .fin)
    }

    @Test func finBeforeARetransmissionFillsTheHole() throws {
        let base: UInt32 = 1001
        let serverBase: UInt32 = 7001
        let segments = Self.handshake + [
            Self.segment(.client, seq: base, ack: serverBase, pattern(100), index: 3),
            Self.segment(.client, seq: base + 200, ack: serverBase, flags: [.fin, .ack], index: 4),
            Self.segment(.server, seq: serverBase, ack: base + 100, flags: [.fin, .ack], index: 5),
            Self.segment(.client, seq: base + 100, ack: serverBase + 1, pattern(100, seed: 9), index: 6),
            Self.segment(.client, seq: base + 201, ack: serverBase + 1, flags: .ack, index: 7),
        ]
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps.isEmpty)
        #expect(connection.toServer.bytes == pattern(100) + pattern(100, seed: 9))
        #expect(connection.closed == .fin)
        #expect(statistics.segmentsWithoutConnection == 1) // the last ACK, after the close at packet 6
    }

    @Test func snaplenCutPayloadIsAGap() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base, pattern(10, seed: 1), index: 2, original: 50), // 10 of 50 captured
            Self.segment(.client, seq: base + 50, pattern(50, seed: 2), index: 3),
        ]
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == pattern(10, seed: 1) + pattern(50, seed: 2))
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 10..<50, firstSequenceNumber: base + 10, reason: .notCaptured)])
        #expect(connection.toServer.gapPacketIndices == [2]) // reported at once
        #expect(statistics.gapBytes == 40)
    }

    @Test func snaplenCutLosesToAFullCopySeenFirst() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base + 100, Self.bytes("X", 50), index: 2), // 100..<150, buffered
            Self.segment(.client, seq: base + 50, Self.bytes("Y", 20), index: 3, original: 100), // 50..<70 + cut 70..<150
            Self.segment(.client, seq: base, Self.bytes("Z", 50), index: 4), // 0..<50
        ]
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == Self.bytes("Z", 50) + Self.bytes("Y", 20) + Self.bytes("X", 50))
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 70..<100, firstSequenceNumber: base + 70, reason: .notCaptured)])
    }

    @Test func outOfOrderBoundDeclaresAGap() throws {
        let base: UInt32 = 1001
        var segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base, pattern(100), index: 2),
        ]
        // 100..<200 missing; 200..<1300 arrive in 100-byte segments.
        for i in 0..<11 {
            segments.append(Self.segment(.client, seq: base + 200 + UInt32(i * 100), pattern(100, seed: UInt8(i)), index: 3 + i))
        }
        var reassembler = TCPReassembler(configuration: .init(maxBufferedBytesPerDirection: 1000))
        var collector = Collector()
        for segment in segments.dropLast() { collector.apply(reassembler.process(segment)) }
        #expect(reassembler.bufferedBytes == 1000) // at the bound, not over it
        collector.apply(reassembler.process(segments.last!))
        #expect(reassembler.bufferedBytes == 0)
        #expect(reassembler.statistics.bufferLimitGaps == 1)
        collector.apply(reassembler.finish())
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100, reason: .bufferLimit)])
        #expect(connection.toServer.gapPacketIndices == [13])
        #expect(connection.toServer.bytes.count == 1200)
    }

    // MARK: - Sequence numbers

    @Test func sequenceNumbersWrapAround() throws {
        var conversation = Conversation(client: Self.client, server: Self.server, clientISN: 0xFFFF_FEFF,
                                        serverISN: 0xFFFF_FFFE)
        let handshake = conversation.handshake()
        var generator = SeededGenerator(seed: 7)
        // Crosses 2^32 at client offset 256 and server offset 1; each flight shuffled.
        let data = conversation.send(.client, pattern(6000, seed: 8), segmentSize: 100).shuffled(using: &generator)
            + conversation.send(.server, pattern(300, seed: 9), segmentSize: 100).shuffled(using: &generator)
        let (collector, _) = reassemble(Self.numbered(conversation, handshake + data + conversation.close()))
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.bytes == conversation.clientBytes)
        #expect(connection.toClient.bytes == conversation.serverBytes)
        #expect(connection.toServer.gaps.isEmpty)
        #expect(connection.closed == .fin)
    }

    @Test func gapAcrossTheWrapNamesBothSequenceNumbers() throws {
        let base: UInt32 = 0xFFFF_FF00
        let segments = [
            Self.segment(.client, seq: base &- 1, flags: .syn, index: 1),
            Self.segment(.client, seq: base, pattern(200), index: 2), // 0..<200
            Self.segment(.client, seq: base &+ 300, pattern(100, seed: 3), index: 3), // 300..<400, after the wrap
        ]
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        let gap = try #require(collector.only?.toServer.gaps.first)
        #expect(gap.streamOffsets == 200..<300)
        #expect(gap.firstSequenceNumber == 0xFFFF_FFC8)
        #expect(gap.endSequenceNumber == 0x0000_002C)
        #expect(collector.only?.toServer.bytes == pattern(200) + pattern(100, seed: 3))
    }

    // MARK: - Connections without a SYN

    @Test func midStreamConnectionUsesServerPortsOrThePortOrder() throws {
        let low = Endpoint(address: .v4(0x0A00_0001), port: 3000)
        let high = Endpoint(address: .v4(0x0A00_0002), port: 11112)
        let segments = [
            Self.segment(.server, seq: 77, ack: 5000, flags: .ack, index: 1, client: low, server: high), // pure ACK: ignored
            Self.segment(.client, seq: 5000, ack: 77, pattern(100, seed: 1), index: 2, client: low, server: high),
            Self.segment(.client, seq: 4900, ack: 77, pattern(100, seed: 2), index: 3, client: low, server: high), // before the start
            Self.segment(.client, seq: 5100, ack: 77, pattern(100, seed: 3), index: 4, client: low, server: high),
            Self.segment(.server, seq: 77, ack: 5200, pattern(30, seed: 4), index: 5, client: low, server: high),
        ]
        // Without a hint the higher port is the client.
        let (guessed, statistics) = reassemble(segments)
        #expect(guessed.problems == [])
        let connection = try #require(guessed.only)
        #expect(!connection.sawSYN)
        #expect(connection.client == high && connection.server == low)
        #expect(connection.toClient.bytes == pattern(100, seed: 1) + pattern(100, seed: 3))
        #expect(connection.toServer.bytes == pattern(30, seed: 4))
        #expect(statistics.bytesBeforeStreamStart == 100)
        #expect(statistics.segmentsWithoutConnection == 1)
        #expect(connection.closed == .endOfCapture)

        // With the server port given, 11112 is the server.
        let (hinted, _) = reassemble(segments, configuration: .init(serverPorts: [11112]))
        let hintedConnection = try #require(hinted.only)
        #expect(hintedConnection.client == low && hintedConnection.server == high)
        #expect(hintedConnection.toServer.bytes == pattern(100, seed: 1) + pattern(100, seed: 3))
    }

    @Test func missedSYNStartsAtTheSYNACK() throws {
        let segments = [
            Self.segment(.server, seq: 7000, ack: 1001, flags: [.syn, .ack], index: 1),
            Self.segment(.client, seq: 1001, ack: 7001, pattern(40), index: 2),
            Self.segment(.server, seq: 7001, ack: 1041, pattern(20, seed: 1), index: 3),
        ]
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.sawSYN)
        #expect(connection.client == Self.client && connection.server == Self.server)
        #expect(connection.toServer.bytes == pattern(40))
        #expect(connection.toClient.bytes == pattern(20, seed: 1))
    }

    @Test func missedSYNACKIsRecoveredFromTheClientsACK() throws {
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: 1001, ack: 7001, flags: .ack, index: 2), // server's ISN + 1
            // The server's first 50 bytes were not captured.
            Self.segment(.server, seq: 7051, ack: 1001, pattern(20, seed: 1), index: 3),
        ]
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toClient.gaps == [Gap(streamOffsets: 0..<50, firstSequenceNumber: 7001, reason: .endOfCapture)])
        #expect(connection.toClient.bytes == pattern(20, seed: 1))
    }

    // MARK: - FIN, RST, reuse

    @Test func dataAfterFINIsIgnoredAndRSTCloses() throws {
        var conversation = Conversation(client: Self.client, server: Self.server)
        var specs = conversation.handshake()
        specs += conversation.send(.client, pattern(100))
        var fin = conversation.ackOnly(.client)
        fin.flags = [.fin, .ack]
        specs.append(fin)
        specs.append(Conversation.Spec(side: .client, seq: fin.seq, ack: fin.ack, flags: [.ack, .psh], payload: pattern(10)))
        specs.append(Conversation.Spec(side: .server, seq: conversation.serverNext, ack: 0, flags: .rst, payload: []))
        // Late segments of the reset connection open nothing.
        specs.append(Conversation.Spec(side: .server, seq: conversation.serverNext, ack: fin.seq + 1, flags: [.ack, .psh],
                                       payload: pattern(5)))
        // A new SYN on the same 4-tuple starts a new connection.
        var next = Conversation(client: Self.client, server: Self.server, clientISN: 90_000, serverISN: 3)
        specs += next.handshake()
        specs += next.send(.client, pattern(20, seed: 4))
        let segments = Self.numbered(conversation, Array(specs.prefix(8)))
            + specs.dropFirst(8).enumerated().map { next.segment($1, index: 9 + $0) }
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        #expect(collector.order.map(\.rawValue) == [0, 1])
        let first = try #require(collector.connection(0))
        #expect(first.toServer.bytes == pattern(100))
        #expect(first.closed == .rst)
        #expect(statistics.bytesAfterFIN == 10)
        #expect(statistics.segmentsWithoutConnection == 1)
        let second = try #require(collector.connection(1))
        #expect(second.sawSYN)
        #expect(second.toServer.bytes == pattern(20, seed: 4))
        #expect(second.closed == .endOfCapture)
    }

    @Test func rstReportsOpenHolesAndDeliversBufferedBytes() throws {
        let base: UInt32 = 1001
        let segments = [
            Self.segment(.client, seq: 1000, flags: .syn, index: 1),
            Self.segment(.client, seq: base, pattern(100), index: 2),
            Self.segment(.client, seq: base + 200, pattern(100, seed: 1), index: 3),
            Self.segment(.client, seq: base + 300, flags: .rst, index: 4),
        ]
        var reassembler = TCPReassembler()
        var collector = Collector()
        for segment in segments { collector.apply(reassembler.process(segment)) }
        #expect(reassembler.openConnectionCount == 0)
        #expect(collector.problems == [])
        let connection = try #require(collector.only)
        #expect(connection.toServer.gaps == [Gap(streamOffsets: 100..<200, firstSequenceNumber: base + 100,
                                                 reason: .connectionClosed)])
        #expect(connection.toServer.gapPacketIndices == [4])
        #expect(connection.closed == .rst)
        #expect(connection.eventKinds == ["data", "gap", "data", "closed"])
    }

    @Test func newSYNOnAnOpenConnectionMeansThePortWasReused() throws {
        var first = Conversation(client: Self.client, server: Self.server, clientISN: 100)
        var specs = first.handshake()
        specs += first.send(.client, pattern(50))
        var second = Conversation(client: Self.client, server: Self.server, clientISN: 800_000)
        let secondSpecs = second.handshake() + second.send(.client, pattern(60, seed: 1)) + second.close()
        let segments = Self.numbered(first, specs) + secondSpecs.enumerated().map { second.segment($1, index: 10 + $0) }
        let (collector, _) = reassemble(segments)
        #expect(collector.problems == [])
        #expect(collector.connection(0)?.closed == .portReused)
        #expect(collector.connection(0)?.toServer.bytes == pattern(50))
        #expect(collector.connection(1)?.toServer.bytes == pattern(60, seed: 1))
        #expect(collector.connection(1)?.closed == .fin)
    }

    @Test func retransmittedSYNIsNotANewConnection() throws {
        var conversation = Conversation(client: Self.client, server: Self.server)
        let handshake = conversation.handshake()
        var specs = [handshake[0], handshake[0]] + handshake.dropFirst()
        specs += conversation.send(.client, pattern(10))
        let (collector, _) = reassemble(Self.numbered(conversation, specs))
        #expect(collector.connections.count == 1)
        #expect(collector.only?.toServer.bytes == pattern(10))
    }

    // MARK: - Many connections

    @Test func manyInterleavedConnections() throws {
        var generator = SeededGenerator(seed: 2024)
        var conversations: [Conversation] = []
        var queues: [[Conversation.Spec]] = []
        for i in 0..<60 {
            let client = Endpoint(address: i % 2 == 0 ? .v4(0xC000_0200 + UInt32(i)) : .v6(high: 0x2001_0DB8_0000_0000, low: UInt64(i)),
                                  port: UInt16(40_000 + i))
            let server = Endpoint(address: i % 2 == 0 ? .v4(0xC000_02FE) : .v6(high: 0x2001_0DB8_0000_0000, low: 0xFE),
                                  port: i % 3 == 0 ? 104 : 11112)
            var conversation = Conversation(client: client, server: server, clientISN: UInt32.random(in: 0...UInt32.max, using: &generator),
                                            serverISN: UInt32.random(in: 0...UInt32.max, using: &generator))
            var specs = conversation.handshake()
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                var request = conversation.send(.client, pattern(Int.random(in: 1...5000, using: &generator), seed: UInt8(i)),
                                                segmentSize: Int.random(in: 100...1500, using: &generator))
                if request.count > 1 && Bool.random(using: &generator) { request.swapAt(0, request.count - 1) }
                specs += request
                specs += conversation.send(.server, pattern(Int.random(in: 1...3000, using: &generator), seed: UInt8(i) &+ 1),
                                           segmentSize: Int.random(in: 100...1500, using: &generator))
            }
            specs += conversation.close()
            conversations.append(conversation)
            queues.append(specs)
        }
        // Interleave: each connection's segments stay in their order; connections start at random times.
        var segments: [TCPSegment] = []
        var positions = [Int](repeating: 0, count: queues.count)
        var active = [0]
        var nextToStart = 1
        while !active.isEmpty {
            if nextToStart < queues.count && Int.random(in: 0..<4, using: &generator) == 0 {
                active.append(nextToStart)
                nextToStart += 1
            }
            let slot = Int.random(in: 0..<active.count, using: &generator)
            let n = active[slot]
            segments.append(conversations[n].segment(queues[n][positions[n]], index: segments.count + 1))
            positions[n] += 1
            if positions[n] == queues[n].count {
                active.remove(at: slot)
                if active.isEmpty && nextToStart < queues.count {
                    active.append(nextToStart)
                    nextToStart += 1
                }
            }
        }
        let (collector, statistics) = reassemble(segments)
        #expect(collector.problems == [])
        #expect(collector.connections.count == 60)
        #expect(statistics.connectionsClosed == 60)
        // IDs follow the order of the SYNs in the capture.
        let firstSYNs = segments.filter { $0.flags == .syn }.map(\.source)
        #expect(collector.order.compactMap { collector.connections[$0]?.client } == firstSYNs)
        for conversation in conversations {
            let connection = try #require(collector.connections.values.first { $0.client == conversation.client })
            #expect(connection.server == conversation.server)
            #expect(connection.toServer.bytes == conversation.clientBytes)
            #expect(connection.toClient.bytes == conversation.serverBytes)
            #expect(connection.toServer.gaps.isEmpty && connection.toClient.gaps.isEmpty)
            #expect(connection.closed == .fin)
        }
    }

    // MARK: - Randomized streams

    /// Random segmentation, reordering, duplicates, overlapping retransmissions (same bytes),
    /// capture drops, snaplen cuts, peer ACKs and small buffer bounds: every delivered byte is
    /// the true byte at its offset, data and gaps cover the stream once and in order, and
    /// without drops, cuts or ACKs of unseen bytes every byte arrives.
    @Test(arguments: 0..<4)
    func randomizedStreamsKeepEveryByteAtItsOffset(_ variant: Int) throws {
        var generator = SeededGenerator(seed: 0x5EED + UInt64(variant))
        let lossy = variant >= 1 // drops and cuts
        let withACKs = variant >= 2 // the server ACKs everything sent so far
        let smallBuffer = variant == 3
        var totals = TCPReassembler.Statistics()
        for trial in 0..<150 {
            let length = Int.random(in: 1...20_000, using: &generator)
            let truth = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let isn = UInt32.random(in: 0...UInt32.max, using: &generator)
            let serverISN = UInt32.random(in: 0...UInt32.max, using: &generator)
            let base = isn &+ 1
            var pieces: [(Range<Int>, captured: Int)] = []
            var offset = 0
            while offset < length {
                let end = min(length, offset + Int.random(in: 1...1500, using: &generator))
                pieces.append((offset..<end, end - offset))
                offset = end
            }
            var capture: [(Range<Int>, captured: Int)] = []
            var delayed: [(Range<Int>, captured: Int)] = []
            for piece in pieces {
                var piece = piece
                if lossy && Int.random(in: 0..<10, using: &generator) == 0 { continue } // never captured
                if lossy && Int.random(in: 0..<20, using: &generator) == 0 {
                    piece.captured = Int.random(in: 0..<piece.captured, using: &generator) // snaplen cut
                }
                capture.append(piece)
                if Int.random(in: 0..<10, using: &generator) == 0 { delayed.append(piece) } // duplicate later
                if Int.random(in: 0..<20, using: &generator) == 0 {
                    // An overlapping retransmission with the same bytes.
                    let lower = max(0, piece.0.lowerBound - Int.random(in: 0...500, using: &generator))
                    let upper = min(length, piece.0.upperBound + Int.random(in: 0...500, using: &generator))
                    delayed.append((lower..<upper, upper - lower))
                }
                if !delayed.isEmpty && Int.random(in: 0..<4, using: &generator) == 0 {
                    capture.append(delayed.removeFirst())
                }
            }
            capture += delayed
            for i in capture.indices.dropLast() where Int.random(in: 0..<5, using: &generator) == 0 {
                capture.swapAt(i, i + 1) // local reordering
            }
            let sendFIN = Bool.random(using: &generator)

            var segments = [Self.segment(.client, seq: isn, flags: .syn, index: 1),
                            Self.segment(.server, seq: serverISN, ack: base, flags: [.syn, .ack], index: 2)]
            var sentEnd = 0
            for piece in capture {
                let bytes = Array(truth[piece.0.lowerBound..<piece.0.lowerBound + piece.captured])
                segments.append(Self.segment(.client, seq: base &+ UInt32(piece.0.lowerBound), ack: serverISN &+ 1, bytes,
                                             index: segments.count + 1, original: piece.0.count))
                sentEnd = max(sentEnd, piece.0.upperBound)
                if withACKs && Int.random(in: 0..<3, using: &generator) == 0 {
                    segments.append(Self.segment(.server, seq: serverISN &+ 1, ack: base &+ UInt32(sentEnd), flags: .ack,
                                                 index: segments.count + 1))
                }
            }
            if sendFIN {
                segments.append(Self.segment(.client, seq: base &+ UInt32(length), ack: serverISN &+ 1, flags: [.fin, .ack],
                                             index: segments.count + 1))
            }
            let configuration = TCPReassembler.Configuration(maxBufferedBytesPerDirection: smallBuffer ? 3000 : 16 << 20)
            let (collector, statistics) = reassemble(segments, configuration: configuration)
            #expect(collector.problems == [], "trial \(trial)")
            var covered = 0
            var delivered = 0
            for event in collector.events {
                switch event {
                case let .data(_, direction, buffer, _, offset, _):
                    #expect(direction == .clientToServer)
                    let expected = offset + buffer.readableBytes <= length
                        ? Array(truth[offset..<offset + buffer.readableBytes]) : []
                    #expect(Array(buffer.readableBytesView) == expected, "trial \(trial) offset \(offset)")
                    covered = offset + buffer.readableBytes
                    delivered += buffer.readableBytes
                case let .gap(_, _, gap, _, _):
                    #expect(gap.firstSequenceNumber == base &+ UInt32(truncatingIfNeeded: gap.streamOffsets.lowerBound))
                    covered = gap.streamOffsets.upperBound
                default: break
                }
            }
            let expectedEnd = sendFIN ? length : capture.map(\.0.upperBound).max() ?? 0
            #expect(covered == expectedEnd, "trial \(trial)")
            #expect(delivered + statistics.gapBytes == covered)
            if !lossy && !smallBuffer {
                #expect(statistics.gaps == 0, "trial \(trial)")
                #expect(collector.only?.toServer.bytes == truth)
            }
            #expect(collector.only?.closed == .endOfCapture) // the server never sent a FIN
            totals.gaps += statistics.gaps
            totals.bufferLimitGaps += statistics.bufferLimitGaps
            totals.duplicateSegments += statistics.duplicateSegments
        }
        // The variants really exercise what they claim.
        #expect(totals.duplicateSegments > 0)
        #expect((totals.gaps > 0) == lossy)
        #expect((totals.bufferLimitGaps > 0) == smallBuffer)
    }
}
