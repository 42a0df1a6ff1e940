import NIOCore

/// Link-layer types the decoder understands, by the value `pcap_datalink` reports (DLT_) and,
/// where it differs, the value stored in files (LINKTYPE_).
public enum LinkType {
    /// DLT_NULL: BSD loopback, a 4-byte protocol family in the capturing host's byte order.
    public static let null: Int32 = 0
    /// DLT_EN10MB: Ethernet II, optionally with 802.1Q / 802.1ad VLAN tags.
    public static let ethernet: Int32 = 1
    /// DLT_RAW as libpcap reports it on most systems (files store LINKTYPE_RAW, 101).
    public static let raw: Int32 = 12
    /// LINKTYPE_RAW, the value stored in files (libpcap maps it to `raw`).
    public static let linktypeRaw: Int32 = 101
    /// DLT_LOOP: OpenBSD loopback, a 4-byte protocol family in network byte order.
    public static let loop: Int32 = 108
    /// DLT_LINUX_SLL: Linux "cooked" capture v1 (16-byte header).
    public static let linuxSLL: Int32 = 113
    /// DLT_IPV4: raw IPv4.
    public static let ipv4: Int32 = 228
    /// DLT_IPV6: raw IPv6.
    public static let ipv6: Int32 = 229
    /// DLT_LINUX_SLL2: Linux "cooked" capture v2 (20-byte header).
    public static let linuxSLL2: Int32 = 276

    /// Whether `decodeLinkLayer` knows `linkType`.
    public static func isSupported(_ linkType: Int32) -> Bool {
        switch linkType {
        case null, ethernet, raw, linktypeRaw, loop, linuxSLL, ipv4, ipv6, linuxSLL2: return true
        default: return false
        }
    }
}

/// The network-layer protocol found under the link-layer header.
public enum NetworkProtocol: Sendable, Hashable {
    case ipv4
    case ipv6
}

/// Where the network layer starts in a packet, or why the packet carries no IP.
enum LinkLayerResult {
    case ip(NetworkProtocol, offset: Int)
    case skipped(SkipReason)
}

/// EtherType values.
enum EtherType {
    static let ipv4: UInt16 = 0x0800
    static let ipv6: UInt16 = 0x86DD
    static let vlan: UInt16 = 0x8100 // 802.1Q
    static let qinq: UInt16 = 0x88A8 // 802.1ad service tag
    static let qinqLegacy: UInt16 = 0x9100 // pre-standard Q-in-Q
}

/// At most this many stacked VLAN tags are skipped (real networks use one or two).
let maximumVLANTags = 8

/// Finds the IP header in `data` (bounds-checked: a header longer than the captured bytes is
/// `.headerNotCaptured(.link)`).
func decodeLinkLayer(_ data: ByteBuffer, linkType: Int32) -> LinkLayerResult {
    let start = data.readerIndex
    switch linkType {
    case LinkType.ethernet:
        // destination (6), source (6), EtherType (2), then 4 bytes per VLAN tag.
        var offset = start + 12
        var tags = 0
        while true {
            guard let etherType = data.getInteger(at: offset, endianness: .big, as: UInt16.self) else {
                return .skipped(.headerNotCaptured(.link))
            }
            offset += 2
            switch etherType {
            case EtherType.vlan, EtherType.qinq, EtherType.qinqLegacy:
                tags += 1
                if tags > maximumVLANTags { return .skipped(.malformed(.tooManyVLANTags)) }
                offset += 2 // tag control information; the inner EtherType follows
            default:
                return etherTypeResult(etherType, offset: offset - start)
            }
        }

    case LinkType.linuxSLL:
        // packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2).
        guard let proto = data.getInteger(at: start + 14, endianness: .big, as: UInt16.self) else {
            return .skipped(.headerNotCaptured(.link))
        }
        return etherTypeResult(proto, offset: 16)

    case LinkType.linuxSLL2:
        // protocol (2), reserved (2), interface index (4), ARPHRD type (2), packet type (1),
        // address length (1), address (8).
        guard data.readableBytes >= 20,
              let proto = data.getInteger(at: start, endianness: .big, as: UInt16.self) else {
            return .skipped(.headerNotCaptured(.link))
        }
        return etherTypeResult(proto, offset: 20)

    case LinkType.null, LinkType.loop:
        guard let raw = data.getInteger(at: start, endianness: .big, as: UInt32.self) else {
            return .skipped(.headerNotCaptured(.link))
        }
        // LOOP is always network byte order; NULL is the capturing host's order, which the
        // value tells (families are small numbers): as Wireshark does.
        let family = (linkType == LinkType.null && raw & 0xFFFF_0000 != 0) ? raw.byteSwapped : raw
        switch family {
        case 2: return .ip(.ipv4, offset: 4) // AF_INET everywhere
        case 10, 24, 28, 30: return .ip(.ipv6, offset: 4) // AF_INET6: Linux, Net/OpenBSD, FreeBSD, Darwin
        default: return .skipped(.notIPFamily(family))
        }

    case LinkType.raw, LinkType.linktypeRaw:
        guard let first = data.getInteger(at: start, as: UInt8.self) else {
            return .skipped(.headerNotCaptured(.link))
        }
        switch first >> 4 {
        case 4: return .ip(.ipv4, offset: 0)
        case 6: return .ip(.ipv6, offset: 0)
        default: return .skipped(.malformed(.unknownIPVersion(first >> 4)))
        }

    case LinkType.ipv4:
        return .ip(.ipv4, offset: 0)

    case LinkType.ipv6:
        return .ip(.ipv6, offset: 0)

    default:
        return .skipped(.unsupportedLinkType(linkType))
    }
}

func etherTypeResult(_ etherType: UInt16, offset: Int) -> LinkLayerResult {
    switch etherType {
    case EtherType.ipv4: return .ip(.ipv4, offset: offset)
    case EtherType.ipv6: return .ip(.ipv6, offset: offset)
    default: return .skipped(.notIP(etherType: etherType))
    }
}
