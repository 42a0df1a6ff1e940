import Foundation
@_exported import DICOMPeerSupport
import NIOCore
import Testing
@testable import DICOMCapture

// MARK: - Big-endian byte building

extension Array where Element == UInt8 {
    mutating func be16(_ value: UInt16) { append(UInt8(value >> 8)); append(UInt8(value & 0xFF)) }
    mutating func be32(_ value: UInt32) { be16(UInt16(value >> 16)); be16(UInt16(value & 0xFFFF)) }
    mutating func le16(_ value: UInt16) { append(UInt8(value & 0xFF)); append(UInt8(value >> 8)) }
    mutating func le32(_ value: UInt32) { le16(UInt16(value & 0xFFFF)); le16(UInt16(value >> 16)) }
}

/// Deterministic pseudo-random numbers (SplitMix64) for shuffles and mutations.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Deterministic payload bytes.
func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
}

// MARK: - Packet building

enum TestIP {
    case v4(UInt32)
    case v6([UInt8]) // 16 bytes

    var address: IPAddress {
        switch self {
        case .v4(let value): return .v4(value)
        case .v6(let bytes):
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
            return .v6(high: high, low: low)
        }
    }

    var isV6: Bool { if case .v6 = self { return true } else { return false } }

    /// 2001:db8::LAST (or PREFIX::LAST).
    static func ipv6(_ last: UInt8, prefix: [UInt8] = [0x20, 0x01, 0x0d, 0xb8]) -> TestIP {
        .v6(prefix + [UInt8](repeating: 0, count: 16 - prefix.count - 1) + [last])
    }
}

enum Build {
    static func tcp(sourcePort: UInt16, destinationPort: UInt16, seq: UInt32, ack: UInt32, flags: TCPFlags,
                    payload: [UInt8], options: [UInt8] = [], dataOffsetOverride: UInt8? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.be16(sourcePort)
        bytes.be16(destinationPort)
        bytes.be32(seq)
        bytes.be32(ack)
        let headerWords = UInt8((20 + options.count) / 4)
        bytes.append((dataOffsetOverride ?? headerWords) << 4)
        bytes.append(flags.rawValue)
        bytes.be16(65535) // window
        bytes.be16(0) // checksum (not verified)
        bytes.be16(0) // urgent pointer
        bytes += options
        return bytes + payload
    }

    static func ipv4(source: UInt32, destination: UInt32, protocol proto: UInt8 = 6, body: [UInt8],
                     totalLengthOverride: UInt16? = nil, ihlOverride: UInt8? = nil,
                     flagsAndFragment: UInt16 = 0x4000, options: [UInt8] = []) -> [UInt8] {
        var bytes: [UInt8] = []
        let headerLength = 20 + options.count
        bytes.append(0x40 | (ihlOverride ?? UInt8(headerLength / 4)))
        bytes.append(0)
        bytes.be16(totalLengthOverride ?? UInt16(headerLength + body.count))
        bytes.be16(0x1234) // identification
        bytes.be16(flagsAndFragment)
        bytes.append(64)
        bytes.append(proto)
        bytes.be16(0) // checksum (not verified)
        bytes.be32(source)
        bytes.be32(destination)
        bytes += options
        return bytes + body
    }

    /// `extensions`: (header type, bytes of the header without the next-header byte), in order.
    static func ipv6(source: [UInt8], destination: [UInt8], body: [UInt8], finalNextHeader: UInt8 = 6,
                     extensions: [(UInt8, [UInt8])] = [], payloadLengthOverride: UInt16? = nil) -> [UInt8] {
        var chain: [UInt8] = []
        for (i, ext) in extensions.enumerated() {
            let next = i + 1 < extensions.count ? extensions[i + 1].0 : finalNextHeader
            chain.append(next)
            chain += ext.1
        }
        let payload = chain + body
        var bytes: [UInt8] = [0x60, 0, 0, 0]
        bytes.be16(payloadLengthOverride ?? UInt16(payload.count))
        bytes.append(extensions.first?.0 ?? finalNextHeader)
        bytes.append(64)
        bytes += source
        bytes += destination
        return bytes + payload
    }

    static func ip(source: TestIP, destination: TestIP, tcp: [UInt8]) -> [UInt8] {
        switch (source, destination) {
        case let (.v4(s), .v4(d)): return ipv4(source: s, destination: d, body: tcp)
        case let (.v6(s), .v6(d)): return ipv6(source: s, destination: d, body: tcp)
        default: fatalError("mixed IP versions")
        }
    }
}

/// The link layers the tests write, with their file LINKTYPE_ values.
enum TestLink: CustomStringConvertible, Sendable {
    case ethernet(vlanTags: [UInt16]) // TPIDs, e.g. [0x88A8, 0x8100]
    case sll
    case sll2
    case null(bigEndian: Bool, ipv6Family: UInt32)
    case loop(ipv6Family: UInt32)
    case raw
    case rawIPv4
    case rawIPv6

    var fileLinkType: UInt32 {
        switch self {
        case .ethernet: return 1
        case .sll: return 113
        case .sll2: return 276
        case .null: return 0
        case .loop: return 108
        case .raw: return 101
        case .rawIPv4: return 228
        case .rawIPv6: return 229
        }
    }

    var description: String {
        switch self {
        case .ethernet(let tags): return tags.isEmpty ? "Ethernet" : "Ethernet+\(tags.map { String($0, radix: 16) })"
        case .sll: return "SLL"
        case .sll2: return "SLL2"
        case let .null(bigEndian, family): return "NULL(\(bigEndian ? "BE" : "LE"), AF_INET6=\(family))"
        case .loop(let family): return "LOOP(AF_INET6=\(family))"
        case .raw: return "RAW(101)"
        case .rawIPv4: return "IPV4(228)"
        case .rawIPv6: return "IPV6(229)"
        }
    }

    func frame(_ ip: [UInt8], isIPv6: Bool) -> [UInt8] {
        let etherType: UInt16 = isIPv6 ? 0x86DD : 0x0800
        var bytes: [UInt8] = []
        switch self {
        case .ethernet(let tags):
            bytes += [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]
            for (i, tpid) in tags.enumerated() {
                bytes.be16(tpid)
                bytes.be16(UInt16(100 + i)) // VLAN ID
            }
            bytes.be16(etherType)
            bytes += ip
            // Ethernet pads short frames to 60 bytes: the decoder must use the IP length.
            while bytes.count < 60 { bytes.append(0xEE) }
        case .sll:
            bytes.be16(0) // to us
            bytes.be16(1) // ARPHRD_ETHER
            bytes.be16(6)
            bytes += [0x02, 0, 0, 0, 0, 2, 0, 0]
            bytes.be16(etherType)
            bytes += ip
        case .sll2:
            bytes.be16(etherType)
            bytes.be16(0)
            bytes.be32(3) // interface index
            bytes.be16(1) // ARPHRD_ETHER
            bytes.append(0)
            bytes.append(6)
            bytes += [0x02, 0, 0, 0, 0, 2, 0, 0]
            bytes += ip
        case let .null(bigEndian, family):
            let value: UInt32 = isIPv6 ? family : 2
            if bigEndian { bytes.be32(value) } else { bytes.le32(value) }
            bytes += ip
        case .loop(let family):
            bytes.be32(isIPv6 ? family : 2)
            bytes += ip
        case .raw, .rawIPv4, .rawIPv6:
            bytes += ip
        }
        return bytes
    }
}

// MARK: - pcap writer

struct PcapRecord {
    var timestampNanoseconds: Int64
    var data: [UInt8]
    var originalLength: Int?
}

/// A minimal pcap writer: the global header (nanosecond magic 0xa1b23c4d, version 2.4, or the
/// microsecond magic) and one record per packet, little-endian.
enum PcapWriter {
    static func bytes(linkType: UInt32, snaplen: UInt32 = 262_144, records: [PcapRecord],
                      nanosecond: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.le32(nanosecond ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        out.le16(2)
        out.le16(4)
        out.le32(0) // thiszone
        out.le32(0) // sigfigs
        out.le32(snaplen)
        out.le32(linkType)
        for record in records {
            let seconds = record.timestampNanoseconds / 1_000_000_000
            let fraction = record.timestampNanoseconds % 1_000_000_000
            out.le32(UInt32(seconds))
            out.le32(UInt32(nanosecond ? fraction : fraction / 1000))
            out.le32(UInt32(record.data.count))
            out.le32(UInt32(record.originalLength ?? record.data.count))
            out += record.data
        }
        return out
    }
}

/// A scratch directory removed when the value goes away.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("dicomcapture-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `bytes` to the file `name` (replaced), without the flush to disk `Data.write(to:)` does: the
    /// mutation tests write thousands of files, and an fsync each held the test threads for seconds.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = url.appendingPathComponent(name).path
        func failure() -> POSIXError {
            POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, userInfo: [NSFilePathErrorKey: path])
        }
        guard let file = fopen(path, "wb") else { throw failure() }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        if written != bytes.count {
            let error = failure()
            fclose(file)
            throw error
        }
        guard fclose(file) == 0 else { throw failure() }
        return path
    }
}

// MARK: - A conversation, as segments

enum Side { case client, server }

/// Builds the TCP segments of one connection with correct sequence and ACK numbers.
struct Conversation {
    var client: Endpoint
    var server: Endpoint
    var clientISN: UInt32
    var serverISN: UInt32
    /// Next sequence number each side will send.
    var clientNext: UInt32
    var serverNext: UInt32
    var clientBytes: [UInt8] = []
    var serverBytes: [UInt8] = []

    init(client: Endpoint, server: Endpoint, clientISN: UInt32 = 1000, serverISN: UInt32 = 5_000_000) {
        self.client = client
        self.server = server
        self.clientISN = clientISN
        self.serverISN = serverISN
        self.clientNext = clientISN &+ 1
        self.serverNext = serverISN &+ 1
    }

    struct Spec {
        var side: Side
        var seq: UInt32
        var ack: UInt32
        var flags: TCPFlags
        var payload: [UInt8]
    }

    mutating func handshake() -> [Spec] {
        [Spec(side: .client, seq: clientISN, ack: 0, flags: .syn, payload: []),
         Spec(side: .server, seq: serverISN, ack: clientISN &+ 1, flags: [.syn, .ack], payload: []),
         Spec(side: .client, seq: clientNext, ack: serverNext, flags: .ack, payload: [])]
    }

    /// `bytes` from `side`, cut into segments of `segmentSize`.
    mutating func send(_ side: Side, _ bytes: [UInt8], segmentSize: Int = 1000) -> [Spec] {
        var specs: [Spec] = []
        var offset = 0
        while offset < bytes.count {
            let piece = Array(bytes[offset..<min(bytes.count, offset + segmentSize)])
            offset += piece.count
            switch side {
            case .client:
                specs.append(Spec(side: .client, seq: clientNext, ack: serverNext, flags: [.ack, .psh], payload: piece))
                clientNext &+= UInt32(piece.count)
                clientBytes += piece
            case .server:
                specs.append(Spec(side: .server, seq: serverNext, ack: clientNext, flags: [.ack, .psh], payload: piece))
                serverNext &+= UInt32(piece.count)
                serverBytes += piece
            }
        }
        return specs
    }

    mutating func ackOnly(_ side: Side) -> Spec {
        side == .client ? Spec(side: .client, seq: clientNext, ack: serverNext, flags: .ack, payload: [])
                        : Spec(side: .server, seq: serverNext, ack: clientNext, flags: .ack, payload: [])
    }

    /// FIN from the client, FIN from the server, last ACK.
    mutating func close() -> [Spec] {
        let clientFIN = Spec(side: .client, seq: clientNext, ack: serverNext, flags: [.fin, .ack], payload: [])
        clientNext &+= 1
        let serverFIN = Spec(side: .server, seq: serverNext, ack: clientNext, flags: [.fin, .ack], payload: [])
        serverNext &+= 1
        let lastACK = Spec(side: .client, seq: clientNext, ack: serverNext, flags: .ack, payload: [])
        return [clientFIN, serverFIN, lastACK]
    }

    func segment(_ spec: Spec, index: Int, time: Int64 = 0, original: Int? = nil, captured: Int? = nil) -> TCPSegment {
        let (source, destination) = spec.side == .client ? (client, server) : (server, client)
        let payload = captured.map { Array(spec.payload.prefix($0)) } ?? spec.payload
        return TCPSegment(index: index, timestamp: time == 0 ? Int64(index) * 1000 : time, source: source,
                          destination: destination, seq: spec.seq, ack: spec.ack, flags: spec.flags,
                          payload: ByteBuffer(bytes: payload), payloadOriginalLength: original ?? spec.payload.count)
    }

    /// The packet bytes of a spec on a link layer.
    func frame(_ spec: Spec, link: TestLink, clientIP: TestIP, serverIP: TestIP) -> [UInt8] {
        let (sourceIP, destinationIP) = spec.side == .client ? (clientIP, serverIP) : (serverIP, clientIP)
        let (sourcePort, destinationPort) = spec.side == .client ? (client.port, server.port) : (server.port, client.port)
        let tcp = Build.tcp(sourcePort: sourcePort, destinationPort: destinationPort, seq: spec.seq, ack: spec.ack,
                            flags: spec.flags, payload: spec.payload,
                            options: spec.flags.contains(.syn) ? [2, 4, 0x05, 0xB4] : [])
        return link.frame(Build.ip(source: sourceIP, destination: destinationIP, tcp: tcp), isIPv6: sourceIP.isV6)
    }
}

// MARK: - Collecting reassembler events

/// Applies reassembler events and checks their invariants: one `.opened` first, nothing after
/// `.closed`, and per direction `.data`/`.gap` covering the stream contiguously from offset 0.
struct Collector {
    struct Stream {
        var bytes: [UInt8] = []
        var gaps: [Gap] = []
        var next: Int?
        var packetIndices: [Int] = []
        var gapPacketIndices: [Int] = []
    }

    struct Connection {
        var client: Endpoint
        var server: Endpoint
        var sawSYN: Bool
        var toServer = Stream()
        var toClient = Stream()
        var closed: CloseReason?
        var eventKinds: [String] = []
    }

    var connections: [ConnectionID: Connection] = [:]
    var order: [ConnectionID] = []
    var problems: [String] = []
    var events: [TCPReassembler.Event] = []

    mutating func apply(_ newEvents: [TCPReassembler.Event]) {
        events += newEvents
        for event in newEvents {
            switch event {
            case let .opened(id, client, server, _, sawSYN):
                if connections[id] != nil { problems.append("\(id) opened twice") }
                connections[id] = Connection(client: client, server: server, sawSYN: sawSYN)
                order.append(id)
            case let .data(id, direction, buffer, _, offset, packetIndex):
                update(id, direction, kind: "data") { stream in
                    if let next = stream.next, next != offset { return "data at \(offset), expected \(next)" }
                    if stream.next == nil && offset != 0 { return "first data at \(offset)" }
                    if buffer.readableBytes == 0 { return "empty data event" }
                    stream.bytes += buffer.readableBytesView
                    stream.next = offset + buffer.readableBytes
                    stream.packetIndices.append(packetIndex)
                    return nil
                }
            case let .gap(id, direction, gap, _, packetIndex):
                update(id, direction, kind: "gap") { stream in
                    let offset = gap.streamOffsets.lowerBound
                    if let next = stream.next, next != offset { return "gap at \(offset), expected \(next)" }
                    if stream.next == nil && offset != 0 { return "first gap at \(offset)" }
                    if gap.streamOffsets.isEmpty { return "empty gap" }
                    stream.gaps.append(gap)
                    stream.next = gap.streamOffsets.upperBound
                    stream.gapPacketIndices.append(packetIndex)
                    return nil
                }
            case let .closed(id, _, reason):
                guard connections[id] != nil else { problems.append("\(id) closed before opened"); continue }
                if connections[id]!.closed != nil { problems.append("\(id) closed twice") }
                connections[id]!.closed = reason
                connections[id]!.eventKinds.append("closed")
            }
        }
    }

    private mutating func update(_ id: ConnectionID, _ direction: Direction, kind: String,
                                 _ body: (inout Stream) -> String?) {
        guard connections[id] != nil else { problems.append("\(kind) for unknown \(id)"); return }
        if connections[id]!.closed != nil { problems.append("\(kind) after close of \(id)") }
        connections[id]!.eventKinds.append(kind)
        let problem = direction == .clientToServer ? body(&connections[id]!.toServer) : body(&connections[id]!.toClient)
        if let problem { problems.append("\(id) \(direction): \(problem)") }
    }

    var only: Connection? { connections.count == 1 ? connections.values.first : nil }

    func connection(_ n: Int) -> Connection? { n < order.count ? connections[order[n]] : nil }
}

/// Reader -> decoder -> reassembler over a file.
struct PipelineResult {
    var collector = Collector()
    var decodeStatistics = DecodeStatistics()
    var reassemblyStatistics = TCPReassembler.Statistics()
    var packets: [CapturedPacket] = []
    var skipped: [(Int, SkipReason)] = []
    var endError: CaptureError?
}

func runPipeline(path: String, configuration: TCPReassembler.Configuration = .init(),
                 keepPackets: Bool = false) throws(CaptureError) -> PipelineResult {
    let reader = try CaptureReader(path: path)
    var decoder = PacketDecoder()
    var reassembler = TCPReassembler(configuration: configuration)
    var result = PipelineResult()
    var events: [TCPReassembler.Event] = []
    do {
        while let packet = try reader.next() {
            if keepPackets { result.packets.append(packet) }
            switch decoder.decode(packet) {
            case .segment(let segment):
                events.removeAll(keepingCapacity: true)
                reassembler.process(segment, into: &events)
                result.collector.apply(events)
            case .skipped(let reason):
                result.skipped.append((packet.index, reason))
            }
        }
    } catch {
        result.endError = error
    }
    result.collector.apply(reassembler.finish())
    result.decodeStatistics = decoder.statistics
    result.reassemblyStatistics = reassembler.statistics
    #expect(reassembler.openConnectionCount == 0)
    return result
}

/// Runs segments through a reassembler and collects the events (finish included).
func reassemble(_ segments: [TCPSegment], configuration: TCPReassembler.Configuration = .init())
    -> (Collector, TCPReassembler.Statistics) {
    var reassembler = TCPReassembler(configuration: configuration)
    var collector = Collector()
    for segment in segments {
        collector.apply(reassembler.process(segment))
    }
    collector.apply(reassembler.finish())
    return (collector, reassembler.statistics)
}

let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixturePath(_ name: String) -> String { fixtureDirectory.appendingPathComponent(name).path }
