import NIOCore
import Testing
import DICOMPeerSupport
@testable import DICOMCapture

@Suite struct PacketDecoderTests {
    static let tcp = Build.tcp(sourcePort: 50_000, destinationPort: 104, seq: 10, ack: 20, flags: [.ack, .psh],
                               payload: pattern(30))
    static let v6Source = [UInt8](repeating: 0, count: 15) + [1]
    static let v6Destination: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]

    static func decode(_ bytes: [UInt8], linkType: Int32 = LinkType.ethernet, originalLength: Int? = nil) -> DecodedPacket {
        PacketDecoder.decode(ByteBuffer(bytes: bytes), linkType: linkType, originalLength: originalLength ?? bytes.count,
                             index: 1, timestamp: 0)
    }

    static func ethernet(_ ip: [UInt8], etherType: UInt16 = 0x0800) -> [UInt8] {
        var frame: [UInt8] = [UInt8](repeating: 0x02, count: 12)
        frame.be16(etherType)
        return frame + ip
    }

    static func skipReason(_ result: DecodedPacket) -> SkipReason? {
        if case .skipped(let reason) = result { return reason }
        return nil
    }

    static func segment(_ result: DecodedPacket) -> TCPSegment? {
        if case .segment(let segment) = result { return segment }
        return nil
    }

    // MARK: - Valid packets

    @Test func ipv4SegmentFields() throws {
        let ip = Build.ipv4(source: 0xC000_0201, destination: 0xC000_0202, body: Self.tcp)
        let segment = try #require(Self.segment(Self.decode(Self.ethernet(ip))))
        #expect(segment.source.description == "192.0.2.1:50000")
        #expect(segment.destination.description == "192.0.2.2:104")
        #expect(segment.seq == 10 && segment.ack == 20)
        #expect(segment.flags == [.ack, .psh])
        #expect(Array(segment.payload.readableBytesView) == pattern(30))
        #expect(segment.payloadOriginalLength == 30)
    }

    @Test func ethernetPaddingIsNotPayload() throws {
        let tcp = Build.tcp(sourcePort: 1, destinationPort: 2, seq: 0, ack: 0, flags: .ack, payload: [0xAB])
        var frame = Self.ethernet(Build.ipv4(source: 1, destination: 2, body: tcp))
        frame += [UInt8](repeating: 0xEE, count: 60 - frame.count)
        let segment = try #require(Self.segment(Self.decode(frame)))
        #expect(Array(segment.payload.readableBytesView) == [0xAB])
    }

    @Test func ipv4OptionsAndFirstFragment() throws {
        let withOptions = Build.ipv4(source: 1, destination: 2, body: Self.tcp, options: [1, 1, 1, 0]) // NOP NOP NOP EOL
        #expect(Self.segment(Self.decode(Self.ethernet(withOptions)))?.payload.readableBytes == 30)
        // A first fragment (MF, offset 0) is decoded; the bytes of the later fragments become a stream gap.
        let first = Build.ipv4(source: 1, destination: 2, body: Self.tcp, flagsAndFragment: 0x2000)
        #expect(Self.segment(Self.decode(Self.ethernet(first))) != nil)
        let later = Build.ipv4(source: 1, destination: 2, body: Self.tcp, flagsAndFragment: 0x2000 | 185)
        #expect(Self.skipReason(Self.decode(Self.ethernet(later))) == .ipFragment)
    }

    @Test func ipv6ExtensionHeadersAreSkipped() throws {
        let hopByHop: (UInt8, [UInt8]) = (0, [0, 1, 4, 0, 0, 0, 0]) // length 0 => 8 bytes; PadN
        let routing: (UInt8, [UInt8]) = (43, [0, 0, 0] + [UInt8](repeating: 0, count: 4))
        let destination: (UInt8, [UInt8]) = (60, [1] + [1, 12] + [UInt8](repeating: 0, count: 12)) // 16 bytes
        let fragmentFirst: (UInt8, [UInt8]) = (44, [0, 0, 1, 0, 0, 0, 7]) // offset 0, M set
        let ip = Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: Self.tcp,
                            extensions: [hopByHop, routing, destination, fragmentFirst])
        let segment = try #require(Self.segment(Self.decode(Self.ethernet(ip, etherType: 0x86DD))))
        #expect(segment.source.description == "[::1]:50000")
        #expect(segment.destination.host == "2001:db8::2")
        #expect(Array(segment.payload.readableBytesView) == pattern(30))

        let fragmentLater: (UInt8, [UInt8]) = (44, [0, 0x05, 0x01, 0, 0, 0, 7]) // offset 160
        let later = Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: Self.tcp,
                               extensions: [fragmentLater])
        #expect(Self.skipReason(Self.decode(Self.ethernet(later, etherType: 0x86DD))) == .ipFragment)
    }

    @Test func snaplenCutPayloadKeepsTheOriginalLength() throws {
        let frame = Self.ethernet(Build.ipv4(source: 1, destination: 2, body: Self.tcp))
        let cut = Array(frame.prefix(frame.count - 25))
        let segment = try #require(Self.segment(Self.decode(cut, originalLength: frame.count)))
        #expect(segment.payload.readableBytes == 5)
        #expect(segment.payloadOriginalLength == 30)
    }

    @Test func zeroIPv4TotalLengthUsesTheFrame() throws {
        // Captured on the sending host with TCP segmentation offload: total length 0.
        let frame = Self.ethernet(Build.ipv4(source: 1, destination: 2, body: Self.tcp, totalLengthOverride: 0))
        var decoder = PacketDecoder()
        let packet = CapturedPacket(index: 1, timestampNanoseconds: 0, linkType: 1, originalLength: frame.count,
                                    data: ByteBuffer(bytes: frame))
        let segment = try #require(Self.segment(decoder.decode(packet)))
        #expect(segment.payloadOriginalLength == 30)
        #expect(decoder.statistics.zeroIPLength == 1)
    }

    // MARK: - Skipped packets

    @Test func nonTCPIsSkippedAndCounted() {
        var decoder = PacketDecoder()
        func packet(_ bytes: [UInt8], linkType: Int32 = 1) -> CapturedPacket {
            CapturedPacket(index: 1, timestampNanoseconds: 0, linkType: linkType, originalLength: bytes.count,
                           data: ByteBuffer(bytes: bytes))
        }
        let udp = Build.ipv4(source: 1, destination: 2, protocol: 17, body: [0, 1, 0, 2, 0, 8, 0, 0])
        #expect(Self.skipReason(decoder.decode(packet(Self.ethernet(udp)))) == .notTCP(ipProtocol: 17))
        #expect(Self.skipReason(decoder.decode(packet(Self.ethernet([UInt8](repeating: 0, count: 28), etherType: 0x0806))))
            == .notIP(etherType: 0x0806))
        #expect(Self.skipReason(decoder.decode(packet([7, 0, 0, 0] + udp, linkType: 0))) == .notIPFamily(7))
        #expect(Self.skipReason(decoder.decode(packet(udp, linkType: 147))) == .unsupportedLinkType(147))
        let icmp6 = Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: [128, 0, 0, 0], finalNextHeader: 58)
        #expect(Self.skipReason(decoder.decode(packet(icmp6, linkType: 229))) == .notTCP(ipProtocol: 58))
        #expect(decoder.statistics.notTCP == 4)
        #expect(decoder.statistics.unsupportedLinkType == 1)
        #expect(decoder.statistics.packets == 5)
        #expect(decoder.statistics.tcpSegments == 0)
    }

    @Test func malformedHeadersAreSkippedWithAReason() {
        let cases: [([UInt8], Int32, SkipReason)] = [
            (Self.ethernet(Build.ipv4(source: 1, destination: 2, body: Self.tcp, ihlOverride: 4)), 1,
             .malformed(.ipv4HeaderLength(16))),
            (Self.ethernet(Build.ipv4(source: 1, destination: 2, body: Self.tcp, totalLengthOverride: 12)), 1,
             .malformed(.ipv4TotalLength(total: 12, headerLength: 20))),
            (Self.ethernet(Build.ipv4(source: 1, destination: 2, body: Array(Self.tcp.prefix(10)))), 1,
             .malformed(.tcpSegmentTooShort(10))),
            (Self.ethernet(Build.ipv4(source: 1, destination: 2,
                                      body: Build.tcp(sourcePort: 1, destinationPort: 2, seq: 0, ack: 0, flags: .ack, payload: [],
                                                      dataOffsetOverride: 4))), 1,
             .malformed(.tcpDataOffset(headerLength: 16, segmentLength: 20))),
            (Self.ethernet(Build.ipv4(source: 1, destination: 2,
                                      body: Build.tcp(sourcePort: 1, destinationPort: 2, seq: 0, ack: 0, flags: .ack,
                                                      payload: [1, 2, 3], dataOffsetOverride: 15))), 1,
             .malformed(.tcpDataOffset(headerLength: 60, segmentLength: 23))),
            (Self.ethernet(Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: Self.tcp)), 1,
             .malformed(.ipVersionMismatch(announced: .ipv4, found: 6))),
            ([0x50] + [UInt8](repeating: 0, count: 39), LinkType.raw, .malformed(.unknownIPVersion(5))),
            (Self.ethernet(Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: Self.tcp,
                                      extensions: [(60, [200] + [UInt8](repeating: 0, count: 6))]), etherType: 0x86DD), 1,
             .malformed(.ipv6ExtensionHeaderLength(nextHeader: 60))),
            ([UInt8](repeating: 0x02, count: 12) + Array([[UInt8]](repeating: [0x81, 0x00, 0, 1], count: 9).joined())
                + [0x08, 0x00] + Build.ipv4(source: 1, destination: 2, body: Self.tcp), 1,
             .malformed(.tooManyVLANTags)),
        ]
        for (bytes, linkType, expected) in cases {
            #expect(Self.skipReason(Self.decode(bytes, linkType: linkType)) == expected)
        }
        var decoder = PacketDecoder()
        for (bytes, linkType, _) in cases {
            _ = decoder.decode(CapturedPacket(index: 1, timestampNanoseconds: 0, linkType: linkType,
                                              originalLength: bytes.count, data: ByteBuffer(bytes: bytes)))
        }
        #expect(decoder.statistics.malformed == cases.count)
    }

    /// Every prefix of valid frames of every link type decodes or is skipped, never traps;
    /// a prefix that ends inside a header is `headerNotCaptured` (or, for raw IP, at most a
    /// version error on an empty packet).
    @Test(.cpuHeavy) func everyPrefixIsHandled() {
        let ipv4 = Build.ipv4(source: 1, destination: 2, body: Self.tcp)
        let ipv6 = Build.ipv6(source: Self.v6Source, destination: Self.v6Destination, body: Self.tcp,
                              extensions: [(0, [0, 1, 4, 0, 0, 0, 0])])
        let links: [TestLink] = [.ethernet(vlanTags: [0x88A8, 0x8100]), .sll, .sll2, .null(bigEndian: false, ipv6Family: 30),
                                 .loop(ipv6Family: 24), .raw, .rawIPv4, .rawIPv6]
        for link in links {
            for (ip, isV6) in [(ipv4, false), (ipv6, true)] {
                if case .rawIPv4 = link, isV6 { continue }
                if case .rawIPv6 = link, !isV6 { continue }
                let frame = link.frame(ip, isIPv6: isV6)
                let linkType = Int32(link.fileLinkType == 101 ? 12 : link.fileLinkType)
                let full = Self.segment(Self.decode(frame, linkType: linkType))
                #expect(full?.payload.readableBytes == 30, "\(link) \(isV6 ? "IPv6" : "IPv4")")
                let headerEnd = frame.count - 30
                for length in 0..<frame.count {
                    let result = Self.decode(Array(frame.prefix(length)), linkType: linkType, originalLength: frame.count)
                    if length >= headerEnd {
                        #expect(Self.segment(result)?.payload.readableBytes == length - headerEnd)
                    } else if case .skipped(.headerNotCaptured) = result {
                    } else {
                        Issue.record("\(link) prefix \(length): \(result)")
                    }
                }
            }
        }
    }

    // MARK: - Addresses

    @Test func addressText() {
        func v6(_ groups: [UInt16]) -> IPAddress {
            var high: UInt64 = 0, low: UInt64 = 0
            for g in groups[0..<4] { high = high << 16 | UInt64(g) }
            for g in groups[4..<8] { low = low << 16 | UInt64(g) }
            return .v6(high: high, low: low)
        }
        #expect(IPAddress.v4(0x0A00_0001).description == "10.0.0.1")
        #expect(IPAddress.v4(0xFFFF_FFFF).description == "255.255.255.255")
        #expect(v6([0, 0, 0, 0, 0, 0, 0, 1]).description == "::1")
        #expect(v6([0, 0, 0, 0, 0, 0, 0, 0]).description == "::")
        #expect(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]).description == "2001:db8::1")
        #expect(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]).description == "2001:db8:0:1:1:1:1:1") // one zero group stays
        #expect(v6([0x2001, 0, 0, 1, 0, 0, 0, 1]).description == "2001:0:0:1::1") // the longest run
        #expect(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]).description == "2001:db8::1:0:0:1") // the first of equal runs
        #expect(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]).description == "fe80::")
        #expect(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]).description == "::ffff:192.0.2.1")
        #expect(Endpoint(address: v6([0, 0, 0, 0, 0, 0, 0, 1]), port: 104).description == "[::1]:104")
    }
}
