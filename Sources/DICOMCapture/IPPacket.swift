import NIOCore

/// An IPv4 or IPv6 address kept as its bits (no string is made per packet); `description`
/// formats it (dotted quad, or RFC 5952 text for IPv6).
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    /// The 128 bits as two big-endian halves: `high` holds the first 8 bytes.
    case v6(high: UInt64, low: UInt64)

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case let (.v4(a), .v4(b)): return a < b
        case let (.v6(ah, al), .v6(bh, bl)): return (ah, al) < (bh, bl)
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        }
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case let .v6(high, low):
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<4 {
                groups[i] = UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64(i)))
                groups[4 + i] = UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64(i)))
            }
            // IPv4-mapped (::ffff:a.b.c.d) in the mixed notation RFC 5952 §5 recommends.
            if high == 0 && low >> 32 == 0xFFFF {
                return "::ffff:" + IPAddress.v4(UInt32(truncatingIfNeeded: low)).description
            }
            // The longest run of two or more zero groups (the first of equal runs) becomes "::".
            var bestStart = -1, bestLength = 0, runStart = -1
            for i in 0...8 {
                if i < 8 && groups[i] == 0 {
                    if runStart < 0 { runStart = i }
                } else if runStart >= 0 {
                    if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                    runStart = -1
                }
            }
            if bestLength < 2 { bestStart = -1 }
            var text = ""
            var i = 0
            while i < 8 {
                if i == bestStart {
                    text += "::"
                    i += bestLength
                    continue
                }
                if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
                text += String(groups[i], radix: 16)
                i += 1
            }
            return text
        }
    }
}

/// An IP address and a TCP port.
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The address as printable text ("192.0.2.1", "2001:db8::1"); formatted on each call.
    public var host: String { address.description }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        lhs.address == rhs.address ? lhs.port < rhs.port : lhs.address < rhs.address
    }

    /// "192.0.2.1:104", "[2001:db8::1]:104".
    public var description: String {
        switch address {
        case .v4: return "\(address):\(port)"
        case .v6: return "[\(address)]:\(port)"
        }
    }
}

/// TCP header flags (the low byte of the flags field).
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)

    public var description: String {
        let names: [(TCPFlags, String)] = [(.syn, "SYN"), (.fin, "FIN"), (.rst, "RST"), (.psh, "PSH"),
                                           (.ack, "ACK"), (.urg, "URG"), (.ece, "ECE"), (.cwr, "CWR")]
        let set = names.filter { contains($0.0) }.map(\.1)
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }
}

/// A TCP segment taken out of a captured packet.
public struct TCPSegment: Sendable {
    /// The packet number (1-based, as Wireshark shows it).
    public var index: Int
    /// Capture time, nanoseconds since the Unix epoch.
    public var timestamp: Int64
    public var source: Endpoint
    public var destination: Endpoint
    public var seq: UInt32
    public var ack: UInt32
    public var flags: TCPFlags
    /// The payload bytes that were captured (fewer than `payloadOriginalLength` when the
    /// snapshot length cut the packet); IP and Ethernet padding excluded.
    public var payload: ByteBuffer
    /// The payload length the IP header announces.
    public var payloadOriginalLength: Int

    public init(index: Int, timestamp: Int64, source: Endpoint, destination: Endpoint, seq: UInt32, ack: UInt32,
                flags: TCPFlags, payload: ByteBuffer, payloadOriginalLength: Int? = nil) {
        self.index = index
        self.timestamp = timestamp
        self.source = source
        self.destination = destination
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.payload = payload
        self.payloadOriginalLength = max(payloadOriginalLength ?? payload.readableBytes, payload.readableBytes)
    }
}

/// Protocol layers, for skip reasons.
public enum PacketLayer: String, Hashable, Sendable {
    case link, ipv4, ipv6, tcp
}

/// A header that is inconsistent with itself or with the packet.
public enum MalformedHeader: Hashable, Sendable, CustomStringConvertible {
    case tooManyVLANTags
    /// The IP version nibble is neither 4 nor 6 (raw IP), or not the one the link layer announced.
    case unknownIPVersion(UInt8)
    case ipVersionMismatch(announced: NetworkProtocol, found: UInt8)
    /// IPv4 IHL below 5 words.
    case ipv4HeaderLength(Int)
    /// IPv4 total length shorter than its own header.
    case ipv4TotalLength(total: Int, headerLength: Int)
    /// An IPv6 extension header that runs past the payload length.
    case ipv6ExtensionHeaderLength(nextHeader: UInt8)
    case tooManyIPv6ExtensionHeaders
    /// Fewer than 20 bytes of IP payload for TCP.
    case tcpSegmentTooShort(Int)
    /// TCP data offset below 5 words, or past the end of the IP payload.
    case tcpDataOffset(headerLength: Int, segmentLength: Int)

    public var description: String {
        switch self {
        case .tooManyVLANTags: return "more than \(maximumVLANTags) VLAN tags"
        case .unknownIPVersion(let v): return "IP version \(v)"
        case let .ipVersionMismatch(announced, found): return "link layer announced \(announced), IP version is \(found)"
        case .ipv4HeaderLength(let n): return "IPv4 header length \(n) < 20"
        case let .ipv4TotalLength(total, header): return "IPv4 total length \(total) < header length \(header)"
        case .ipv6ExtensionHeaderLength(let nh): return "IPv6 extension header \(nh) runs past the payload"
        case .tooManyIPv6ExtensionHeaders: return "too many IPv6 extension headers"
        case .tcpSegmentTooShort(let n): return "TCP segment of \(n) bytes, shorter than a TCP header"
        case let .tcpDataOffset(header, segment): return "TCP header length \(header) invalid for a segment of \(segment) bytes"
        }
    }
}

/// Why a packet yielded no TCP segment.
public enum SkipReason: Hashable, Sendable, CustomStringConvertible {
    /// The capture's link type is not one `LinkType` lists.
    case unsupportedLinkType(Int32)
    /// An EtherType / SLL protocol that is not IP (ARP, LLDP, ...).
    case notIP(etherType: UInt16)
    /// A BSD loopback protocol family that is not IP.
    case notIPFamily(UInt32)
    /// IP carrying something other than TCP (UDP, ICMP, ...).
    case notTCP(ipProtocol: UInt8)
    /// A non-first IPv4 or IPv6 fragment: IP reassembly is not supported.
    case ipFragment
    /// The snapshot length cut the packet before the end of this header.
    case headerNotCaptured(PacketLayer)
    case malformed(MalformedHeader)


    public var description: String {
        switch self {
        case .unsupportedLinkType(let t): return "unsupported link type \(t)"
        case .notIP(let t): return "not IP (EtherType 0x" + String(t, radix: 16) + ")"
        case .notIPFamily(let f): return "not IP (protocol family \(f))"
        case .notTCP(let p): return "not TCP (IP protocol \(p))"
        case .ipFragment: return "non-first IP fragment (IP reassembly is not supported)"
        case .headerNotCaptured(let layer): return "\(layer.rawValue) header cut by the snapshot length"
        case .malformed(let m): return "malformed: \(m)"
        }
    }
}

/// The outcome of decoding one packet.
public enum DecodedPacket: Sendable {
    case segment(TCPSegment)
    case skipped(SkipReason)
}

/// Counts of what the decoder saw.
public struct DecodeStatistics: Hashable, Sendable {
    public var packets = 0
    public var tcpSegments = 0
    /// Non-IP frames (ARP, ...) and non-TCP IP packets (UDP, ICMP, ...).
    public var notTCP = 0
    public var ipFragments = 0
    public var headerNotCaptured = 0
    public var malformed = 0
    public var unsupportedLinkType = 0
    /// IPv4 packets whose total length was 0 (TCP segmentation offload on the capturing host):
    /// the frame length was used.
    public var zeroIPLength = 0

    public init() {}
}

/// Decodes captured packets down to TCP: link layer, IPv4/IPv6 (extension headers skipped),
/// TCP header. Every read is bounds-checked; a packet that cannot be decoded is skipped with
/// a reason, never a trap. Checksums are not verified (offloading makes them wrong in
/// captures taken on an endpoint).
///
/// IP fragments: a non-first fragment is skipped (`.ipFragment`); a first fragment
/// (offset 0, more-fragments set) is decoded like a whole packet, so the bytes in the later
/// fragments show up as a gap in the TCP stream.
public struct PacketDecoder: Sendable {
    public private(set) var statistics = DecodeStatistics()

    public init() {}

    /// Decodes one packet and counts the outcome.
    public mutating func decode(_ packet: CapturedPacket) -> DecodedPacket {
        let result = Self.decode(packet.data, linkType: packet.linkType, originalLength: packet.originalLength,
                                 index: packet.index, timestamp: packet.timestampNanoseconds,
                                 zeroIPLength: &statistics.zeroIPLength)
        statistics.packets += 1
        switch result {
        case .segment: statistics.tcpSegments += 1
        case .skipped(let reason):
            switch reason {
            case .unsupportedLinkType: statistics.unsupportedLinkType += 1
            case .notIP, .notIPFamily, .notTCP: statistics.notTCP += 1
            case .ipFragment: statistics.ipFragments += 1
            case .headerNotCaptured: statistics.headerNotCaptured += 1
            case .malformed: statistics.malformed += 1
            }
        }
        return result
    }

    /// Decodes one packet's bytes (`data` starts at the link-layer header).
    public static func decode(_ data: ByteBuffer, linkType: Int32, originalLength: Int, index: Int,
                              timestamp: Int64) -> DecodedPacket {
        var ignored = 0
        return decode(data, linkType: linkType, originalLength: originalLength, index: index, timestamp: timestamp,
                      zeroIPLength: &ignored)
    }

    static func decode(_ data: ByteBuffer, linkType: Int32, originalLength: Int, index: Int, timestamp: Int64,
                       zeroIPLength: inout Int) -> DecodedPacket {
        let network: NetworkProtocol
        let linkOffset: Int
        switch decodeLinkLayer(data, linkType: linkType) {
        case .skipped(let reason): return .skipped(reason)
        case let .ip(proto, offset):
            network = proto
            linkOffset = offset
        }
        let ipStart = data.readerIndex + linkOffset
        // Bytes after the link header on the wire (the IP lengths are trusted only up to this).
        let wireLength = max(originalLength, data.readableBytes) - linkOffset
        guard wireLength > 0, let versionByte = data.getInteger(at: ipStart, as: UInt8.self) else {
            return .skipped(.headerNotCaptured(network == .ipv4 ? .ipv4 : .ipv6))
        }

        let source: IPAddress, destination: IPAddress
        let tcpStart: Int, tcpLength: Int
        switch network {
        case .ipv4:
            guard versionByte >> 4 == 4 else {
                return .skipped(.malformed(.ipVersionMismatch(announced: .ipv4, found: versionByte >> 4)))
            }
            let headerLength = Int(versionByte & 0x0F) * 4
            guard headerLength >= 20 else { return .skipped(.malformed(.ipv4HeaderLength(headerLength))) }
            guard data.readableBytes - linkOffset >= headerLength,
                  let totalLength = data.getInteger(at: ipStart + 2, endianness: .big, as: UInt16.self),
                  let fragment = data.getInteger(at: ipStart + 6, endianness: .big, as: UInt16.self),
                  let proto = data.getInteger(at: ipStart + 9, as: UInt8.self),
                  let src = data.getInteger(at: ipStart + 12, endianness: .big, as: UInt32.self),
                  let dst = data.getInteger(at: ipStart + 16, endianness: .big, as: UInt32.self) else {
                return .skipped(.headerNotCaptured(.ipv4))
            }
            if fragment & 0x1FFF != 0 { return .skipped(.ipFragment) }
            guard proto == 6 else { return .skipped(.notTCP(ipProtocol: proto)) }
            let ipLength: Int
            if totalLength == 0 {
                zeroIPLength += 1
                ipLength = wireLength
            } else {
                guard Int(totalLength) >= headerLength else {
                    return .skipped(.malformed(.ipv4TotalLength(total: Int(totalLength), headerLength: headerLength)))
                }
                ipLength = min(Int(totalLength), wireLength)
            }
            guard ipLength >= headerLength else { return .skipped(.headerNotCaptured(.ipv4)) }
            source = .v4(src)
            destination = .v4(dst)
            tcpStart = ipStart + headerLength
            tcpLength = ipLength - headerLength

        case .ipv6:
            guard versionByte >> 4 == 6 else {
                return .skipped(.malformed(.ipVersionMismatch(announced: .ipv6, found: versionByte >> 4)))
            }
            guard data.readableBytes - linkOffset >= 40,
                  let payloadLength = data.getInteger(at: ipStart + 4, endianness: .big, as: UInt16.self),
                  var nextHeader = data.getInteger(at: ipStart + 6, as: UInt8.self),
                  let srcHigh = data.getInteger(at: ipStart + 8, endianness: .big, as: UInt64.self),
                  let srcLow = data.getInteger(at: ipStart + 16, endianness: .big, as: UInt64.self),
                  let dstHigh = data.getInteger(at: ipStart + 24, endianness: .big, as: UInt64.self),
                  let dstLow = data.getInteger(at: ipStart + 32, endianness: .big, as: UInt64.self) else {
                return .skipped(.headerNotCaptured(.ipv6))
            }
            guard wireLength >= 40 else { return .skipped(.headerNotCaptured(.ipv6)) }
            // Payload length 0: a jumbogram or an offloaded segment; use the frame length.
            var remaining = payloadLength == 0 ? wireLength - 40 : min(Int(payloadLength), wireLength - 40)
            var offset = ipStart + 40
            var headers = 0
            extensionHeaders: while true {
                switch nextHeader {
                case 6:
                    break extensionHeaders
                case 0, 43, 60, 51, 44: // hop-by-hop, routing, destination options, AH, fragment
                    headers += 1
                    if headers > 16 { return .skipped(.malformed(.tooManyIPv6ExtensionHeaders)) }
                    guard let following = data.getInteger(at: offset, as: UInt8.self),
                          let lengthField = data.getInteger(at: offset + 1, as: UInt8.self) else {
                        return .skipped(.headerNotCaptured(.ipv6))
                    }
                    let length: Int
                    switch nextHeader {
                    case 44:
                        length = 8
                        guard let fragmentField = data.getInteger(at: offset + 2, endianness: .big, as: UInt16.self) else {
                            return .skipped(.headerNotCaptured(.ipv6))
                        }
                        if fragmentField >> 3 != 0 { return .skipped(.ipFragment) }
                    case 51: length = (Int(lengthField) + 2) * 4
                    default: length = (Int(lengthField) + 1) * 8
                    }
                    guard length <= remaining else {
                        return .skipped(.malformed(.ipv6ExtensionHeaderLength(nextHeader: nextHeader)))
                    }
                    nextHeader = following
                    offset += length
                    remaining -= length
                default:
                    return .skipped(.notTCP(ipProtocol: nextHeader))
                }
            }
            source = .v6(high: srcHigh, low: srcLow)
            destination = .v6(high: dstHigh, low: dstLow)
            tcpStart = offset
            tcpLength = remaining
        }

        // TCP header.
        guard tcpLength >= 20 else { return .skipped(.malformed(.tcpSegmentTooShort(tcpLength))) }
        guard let sourcePort = data.getInteger(at: tcpStart, endianness: .big, as: UInt16.self),
              let destinationPort = data.getInteger(at: tcpStart + 2, endianness: .big, as: UInt16.self),
              let seq = data.getInteger(at: tcpStart + 4, endianness: .big, as: UInt32.self),
              let ack = data.getInteger(at: tcpStart + 8, endianness: .big, as: UInt32.self),
              let offsetByte = data.getInteger(at: tcpStart + 12, as: UInt8.self),
              let flagByte = data.getInteger(at: tcpStart + 13, as: UInt8.self),
              data.writerIndex - tcpStart >= 20 else {
            return .skipped(.headerNotCaptured(.tcp))
        }
        let headerLength = Int(offsetByte >> 4) * 4
        guard headerLength >= 20, headerLength <= tcpLength else {
            return .skipped(.malformed(.tcpDataOffset(headerLength: headerLength, segmentLength: tcpLength)))
        }
        let payloadStart = tcpStart + headerLength
        guard payloadStart <= data.writerIndex else { return .skipped(.headerNotCaptured(.tcp)) }
        let originalPayload = tcpLength - headerLength
        let capturedPayload = min(data.writerIndex - payloadStart, originalPayload)
        let payload = data.getSlice(at: payloadStart, length: capturedPayload) ?? ByteBuffer()
        return .segment(TCPSegment(index: index, timestamp: timestamp,
                                   source: Endpoint(address: source, port: sourcePort),
                                   destination: Endpoint(address: destination, port: destinationPort),
                                   seq: seq, ack: ack, flags: TCPFlags(rawValue: flagByte),
                                   payload: payload, payloadOriginalLength: originalPayload))
    }
}
