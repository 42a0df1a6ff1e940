#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, in network byte order.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// An IPv4 address in dotted-quad form (`10.1.2.3`) or an IPv6 address in any RFC 4291 §2.2
    /// text form (`::1`, `fe80::1`, `::ffff:10.1.2.3`); nil for anything else (host names included).
    public init?(_ text: String) {
        if let v4 = Self.parse(text, family: AF_INET, count: 4) {
            bytes = v4
        } else if let v6 = Self.parse(text, family: AF_INET6, count: 16) {
            bytes = v6
        } else {
            return nil
        }
    }

    /// The address of an IPv4 or IPv6 socket; nil for a Unix domain socket.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4): bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket: return nil
        }
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2: how a dual-stack socket
    /// shows an IPv4 peer) as the IPv4 address it carries; any other address as it is.
    public var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return self }
        return IPAddress(bytes: Array(bytes[12..<16]))
    }

    public var description: String {
        let family = isIPv4 ? AF_INET : AF_INET6
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count))
        }
        guard written != nil else { return bytes.map { String($0) }.joined(separator: ".") }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func parse(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        let ok = buffer.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return ok == 1 ? buffer : nil
    }
}

/// An address block: the addresses whose first `prefixLength` bits are those of `address`
/// (CIDR notation, `10.1.2.0/24`, `fd00::/8`; RFC 4632, RFC 4291 §2.3).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The first address of the block (bits past the prefix cleared).
    public let address: IPAddress
    public let prefixLength: Int

    /// The block of `prefixLength` bits (clamped to the address length) starting at `address`.
    /// An IPv4-mapped IPv6 block of at least 96 bits is the IPv4 block it maps, so that
    /// `::ffff:10.0.0.0/104` and `10.0.0.0/8` are one block.
    public init(address: IPAddress, prefixLength: Int) {
        var address = address
        var prefixLength = max(0, min(prefixLength, address.bytes.count * 8))
        if address.unmapped != address, prefixLength >= 96 {
            address = address.unmapped
            prefixLength -= 96
        }
        self.prefixLength = prefixLength
        self.address = IPAddress(bytes: Self.masked(address.bytes, prefixLength))
    }

    /// Whether `candidate` is in the block. An IPv4 peer seen as IPv4-mapped IPv6 is matched as IPv4;
    /// otherwise an IPv4 address is never in an IPv6 block, nor the other way round.
    public func contains(_ candidate: IPAddress) -> Bool {
        let candidate = candidate.unmapped
        guard candidate.bytes.count == address.bytes.count else { return false }
        return Self.masked(candidate.bytes, prefixLength) == address.bytes
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func masked(_ bytes: [UInt8], _ prefixLength: Int) -> [UInt8] {
        var out = bytes
        for index in out.indices {
            let bitsBefore = index * 8
            if bitsBefore >= prefixLength {
                out[index] = 0
            } else if prefixLength - bitsBefore < 8 {
                out[index] &= UInt8(truncatingIfNeeded: 0xFF << (8 - (prefixLength - bitsBefore)))
            }
        }
        return out
    }
}
