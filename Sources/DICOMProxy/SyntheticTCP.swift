import DICOMInspect
import NIOCore

/// The pcap file format as the recorder writes it: nanosecond timestamps, Ethernet link type
/// (what tshark, Wireshark and `dicomtap analyze` read without options).
enum PCAPFormat {
    /// Magic number of a pcap file with nanosecond timestamps (written little endian).
    static let nanosecondMagic: UInt32 = 0xA1B2_3C4D
    static let versionMajor: UInt16 = 2
    static let versionMinor: UInt16 = 4
    /// LINKTYPE_ETHERNET.
    static let linkTypeEthernet: UInt32 = 1
    static let snapshotLength: UInt32 = 262_144

    static func fileHeader() -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(nanosecondMagic, endianness: .little)
        b.writeInteger(versionMajor, endianness: .little)
        b.writeInteger(versionMinor, endianness: .little)
        b.writeInteger(Int32(0), endianness: .little)  // thiszone
        b.writeInteger(UInt32(0), endianness: .little)  // sigfigs
        b.writeInteger(snapshotLength, endianness: .little)
        b.writeInteger(linkTypeEthernet, endianness: .little)
        return b
    }
}

/// One end of a synthetic TCP connection: IPv4 (4 bytes) or IPv6 (16 bytes) address and port.
struct SyntheticEndpoint: Sendable, Hashable {
    var address: [UInt8]
    var port: UInt16

    var isIPv6: Bool { address.count == 16 }

    /// The endpoint of a socket address; `nil` for Unix domain sockets.
    init?(_ socketAddress: SocketAddress?) {
        switch socketAddress {
        case .v4(let a)?:
            var raw = a.address.sin_addr
            address = withUnsafeBytes(of: &raw) { Array($0) }
            port = UInt16(socketAddress?.port ?? 0)
        case .v6(let a)?:
            var raw = a.address.sin6_addr
            address = withUnsafeBytes(of: &raw) { Array($0) }
            port = UInt16(socketAddress?.port ?? 0)
        case .unixDomainSocket?, nil:
            return nil
        }
    }

    init(address: [UInt8], port: UInt16) {
        self.address = address
        self.port = port
    }
}

/// A TCP connection rebuilt from the bytes that went through a socket, as packets: a
/// three-way handshake, data segments whose sequence and acknowledgement numbers follow the
/// bytes sent each way, and FIN exchanges, in Ethernet/IPv4-or-IPv6/TCP frames with valid IP
/// and TCP checksums, so that any TCP reassembler (tshark, `dicomtap analyze`) rebuilds the
/// two byte streams exactly. The client is the SCU (`requestor`), the server the proxy.
struct SyntheticTCPConnection: Sendable {
    struct Flags: OptionSet, Sendable {
        var rawValue: UInt8
        static let fin = Flags(rawValue: 0x01)
        static let syn = Flags(rawValue: 0x02)
        static let psh = Flags(rawValue: 0x08)
        static let ack = Flags(rawValue: 0x10)
    }

    let client: SyntheticEndpoint
    let server: SyntheticEndpoint
    /// Next sequence number of each side.
    private var clientNext: UInt32
    private var serverNext: UInt32
    private var ipIdentification: UInt16 = 0
    private(set) var finSent: Set<PeerRole> = []

    static let clientMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let serverMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86DD
    static let protocolTCP: UInt8 = 6
    static let timeToLive: UInt8 = 64
    static let ipv4DontFragment: UInt16 = 0x4000
    static let window: UInt16 = 65535
    /// Largest payload of one segment: what an IPv4 total length field can carry.
    static let maximumSegmentPayload = 65535 - 20 - 20
    static let clientInitialSequence: UInt32 = 1_000_000
    static let serverInitialSequence: UInt32 = 2_000_000

    init(client: SyntheticEndpoint, server: SyntheticEndpoint) {
        self.client = client
        // The two ends must be of one IP version.
        if client.isIPv6 == server.isIPv6 {
            self.server = server
        } else {
            self.server = SyntheticEndpoint(address: client.isIPv6 ? [UInt8](repeating: 0, count: 15) + [1] : [127, 0, 0, 1],
                                            port: server.port)
        }
        clientNext = Self.clientInitialSequence
        serverNext = Self.serverInitialSequence
    }

    mutating func handshake(at time: Timestamp, into out: inout ByteBuffer) {
        segment(from: .requestor, flags: .syn, sequence: clientNext, acknowledgement: 0, payload: nil, at: time, into: &out)
        clientNext &+= 1
        segment(from: .acceptor, flags: [.syn, .ack], sequence: serverNext, acknowledgement: clientNext, payload: nil,
                at: time, into: &out)
        serverNext &+= 1
        segment(from: .requestor, flags: .ack, sequence: clientNext, acknowledgement: serverNext, payload: nil, at: time, into: &out)
    }

    /// Bytes sent by the peer in `role` (the SCU for `requestor`, the proxy towards it for `acceptor`).
    mutating func data(_ bytes: ByteBuffer, from role: PeerRole, at time: Timestamp, into out: inout ByteBuffer) {
        guard !finSent.contains(role) else { return }
        var rest = bytes
        while rest.readableBytes > 0, let chunk = rest.readSlice(length: min(rest.readableBytes, Self.maximumSegmentPayload)) {
            let (seq, ack) = role == .requestor ? (clientNext, serverNext) : (serverNext, clientNext)
            segment(from: role, flags: [.psh, .ack], sequence: seq, acknowledgement: ack, payload: chunk, at: time, into: &out)
            if role == .requestor { clientNext &+= UInt32(chunk.readableBytes) } else { serverNext &+= UInt32(chunk.readableBytes) }
        }
    }

    /// The peer in `role` closed its side: FIN from it, ACK from the other.
    mutating func fin(from role: PeerRole, at time: Timestamp, into out: inout ByteBuffer) {
        guard !finSent.contains(role) else { return }
        finSent.insert(role)
        let (seq, ack) = role == .requestor ? (clientNext, serverNext) : (serverNext, clientNext)
        segment(from: role, flags: [.fin, .ack], sequence: seq, acknowledgement: ack, payload: nil, at: time, into: &out)
        if role == .requestor { clientNext &+= 1 } else { serverNext &+= 1 }
        let (seq2, ack2) = role == .requestor ? (serverNext, clientNext) : (clientNext, serverNext)
        segment(from: role.other, flags: .ack, sequence: seq2, acknowledgement: ack2, payload: nil, at: time, into: &out)
    }

    private mutating func segment(from role: PeerRole, flags: Flags, sequence: UInt32, acknowledgement: UInt32,
                                  payload: ByteBuffer?, at time: Timestamp, into out: inout ByteBuffer) {
        let (source, destination) = role == .requestor ? (client, server) : (server, client)
        let (sourceMAC, destinationMAC) = role == .requestor ? (Self.clientMAC, Self.serverMAC) : (Self.serverMAC, Self.clientMAC)
        let payloadLength = payload?.readableBytes ?? 0
        let tcpLength = 20 + payloadLength
        let ipHeaderLength = source.isIPv6 ? 40 : 20
        let frameLength = 14 + ipHeaderLength + tcpLength

        // pcap record header.
        let seconds = time.nanoseconds / 1_000_000_000
        out.writeInteger(UInt32(truncatingIfNeeded: seconds), endianness: .little)
        out.writeInteger(UInt32(time.nanoseconds - seconds * 1_000_000_000), endianness: .little)
        out.writeInteger(UInt32(frameLength), endianness: .little)
        out.writeInteger(UInt32(frameLength), endianness: .little)

        // Ethernet II.
        out.writeBytes(destinationMAC)
        out.writeBytes(sourceMAC)
        out.writeInteger(source.isIPv6 ? Self.etherTypeIPv6 : Self.etherTypeIPv4)

        // IP.
        if source.isIPv6 {
            out.writeInteger(UInt32(6) << 28)
            out.writeInteger(UInt16(tcpLength))
            out.writeInteger(Self.protocolTCP)
            out.writeInteger(Self.timeToLive)
            out.writeBytes(source.address)
            out.writeBytes(destination.address)
        } else {
            ipIdentification &+= 1
            var header = ByteBuffer()
            header.writeInteger(UInt8(0x45))  // version 4, header length 5 words
            header.writeInteger(UInt8(0))
            header.writeInteger(UInt16(20 + tcpLength))
            header.writeInteger(ipIdentification)
            header.writeInteger(Self.ipv4DontFragment)
            header.writeInteger(Self.timeToLive)
            header.writeInteger(Self.protocolTCP)
            header.writeInteger(UInt16(0))
            header.writeBytes(source.address)
            header.writeBytes(destination.address)
            var sum = InternetChecksum()
            sum.add(header)
            header.setInteger(sum.value, at: 10)
            out.writeBuffer(&header)
        }

        // TCP.
        var tcp = ByteBuffer()
        tcp.writeInteger(source.port)
        tcp.writeInteger(destination.port)
        tcp.writeInteger(sequence)
        tcp.writeInteger(flags.contains(.ack) ? acknowledgement : 0)
        tcp.writeInteger(UInt8(5 << 4))  // data offset: 5 words, no options
        tcp.writeInteger(flags.rawValue)
        tcp.writeInteger(Self.window)
        tcp.writeInteger(UInt16(0))  // checksum, set below
        tcp.writeInteger(UInt16(0))  // urgent pointer
        var sum = InternetChecksum()
        // Pseudo-header (RFC 793 §3.1, RFC 8200 §8.1).
        var pseudo = ByteBuffer()
        pseudo.writeBytes(source.address)
        pseudo.writeBytes(destination.address)
        if source.isIPv6 {
            pseudo.writeInteger(UInt32(tcpLength))
            pseudo.writeInteger(UInt32(Self.protocolTCP))
        } else {
            pseudo.writeInteger(UInt8(0))
            pseudo.writeInteger(Self.protocolTCP)
            pseudo.writeInteger(UInt16(tcpLength))
        }
        sum.add(pseudo)
        sum.add(tcp)
        if let payload { sum.add(payload) }
        tcp.setInteger(sum.value, at: 16)
        out.writeBuffer(&tcp)
        if var payload { out.writeBuffer(&payload) }
    }
}

/// The Internet checksum (RFC 1071) over pieces of even length, except possibly the last.
struct InternetChecksum {
    private var sum: UInt64 = 0

    mutating func add(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var i = 0
            var partial: UInt64 = 0
            while i + 1 < bytes.count {
                partial &+= UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
                i += 2
            }
            if i < bytes.count { partial &+= UInt64(bytes[i]) << 8 }
            sum &+= partial
        }
    }

    var value: UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(s)
    }
}
