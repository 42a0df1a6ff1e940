import NIOCore

/// Identifies a connection for the life of one reassembler: 0, 1, 2, ... in the order the
/// connections were opened (for connections that start with a SYN this is Wireshark's
/// `tcp.stream` number).
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// Which way bytes flow in a connection.
public enum Direction: Hashable, Sendable, CustomStringConvertible {
    case clientToServer
    case serverToClient

    public var reversed: Direction { self == .clientToServer ? .serverToClient : .clientToServer }
    public var description: String { self == .clientToServer ? "client->server" : "server->client" }
}

/// Why a connection ended.
public enum CloseReason: Hashable, Sendable {
    /// Both sides sent FIN and every byte up to both FINs was delivered or reported as a gap.
    case fin
    /// Either side sent RST.
    case rst
    /// The capture ended first (`finish()`); also half-closed connections.
    case endOfCapture
    /// A SYN with a new initial sequence number arrived on the same address/port 4-tuple: the
    /// old connection ended unseen and a new one begins.
    case portReused
}

/// Why bytes are missing from a stream.
public enum GapReason: Hashable, Sendable {
    /// The snapshot length cut the packet: the IP header announces bytes the capture lacks.
    case notCaptured
    /// The receiver acknowledged bytes the capture never showed (Wireshark: "ACKed unseen segment").
    case acknowledged
    /// Out-of-order data waited behind the hole for more than the configured byte bound.
    case bufferLimit
    /// The connection closed (FIN reached, RST, port reused) with the hole still open.
    case connectionClosed
    /// The capture ended with the hole still open.
    case endOfCapture
}

/// Bytes missing from a stream, in stream offsets and in absolute sequence numbers.
public struct Gap: Hashable, Sendable, CustomStringConvertible {
    /// Stream offsets: 0 is the first data byte (after the SYN), or the first byte seen for a
    /// connection that started before the capture.
    public var streamOffsets: Range<Int>
    /// The sequence number of `streamOffsets.lowerBound`.
    public var firstSequenceNumber: UInt32
    public var reason: GapReason

    public var length: Int { streamOffsets.count }
    /// The sequence number just after the gap (wraps around like TCP's).
    public var endSequenceNumber: UInt32 { firstSequenceNumber &+ UInt32(truncatingIfNeeded: streamOffsets.count) }

    public init(streamOffsets: Range<Int>, firstSequenceNumber: UInt32, reason: GapReason) {
        self.streamOffsets = streamOffsets
        self.firstSequenceNumber = firstSequenceNumber
        self.reason = reason
    }

    public var description: String {
        "\(streamOffsets.count) bytes missing at stream offsets \(streamOffsets.lowerBound)..<\(streamOffsets.upperBound)"
            + " (seq \(firstSequenceNumber)..<\(endSequenceNumber), \(reason))"
    }
}

/// Rebuilds the two byte streams of every TCP connection in a capture.
///
/// Feed it `TCPSegment`s in capture order (`process`), then call `finish()` once at the end of
/// the capture. It returns events in order: `.opened`, then `.data` and `.gap` for both
/// directions as the bytes become deliverable, then `.closed`. Within one direction the
/// `.data` and `.gap` events cover the stream exactly once, without overlap, in offset order.
///
/// Rules (documented decisions):
/// - **Order**: segments are placed by sequence number (32-bit wraparound handled by
///   unwrapping each sequence number relative to the next expected byte); bytes before the
///   next expected byte (duplicates, retransmissions, keep-alives) are dropped.
/// - **Overlap: the first-seen bytes win.** A retransmission whose content differs from bytes
///   already delivered or buffered is ignored for those bytes; only its new bytes are used (as
///   Wireshark's reassembly keeps the first copy). Delivered bytes are not kept, so a conflict
///   with them is not detected.
/// - **Out of order**: segments ahead of the next expected byte are buffered (slices of the
///   packet buffers, not copies), at most `maxBufferedBytesPerDirection` bytes per direction.
/// - **Gaps**: a hole is declared a gap (a `.gap` event with its stream offsets and sequence
///   numbers, then delivery continues after it) when
///   (1) the peer has acknowledged bytes beyond it and then sends data, a FIN or a SYN (it
///   sent them after receiving the hole, so the hole's direction is completed first: a
///   request's tail comes before the response it triggered), or the hole's sender sends more
///   data that does not fill it. A pure ACK alone declares nothing, so an ACK captured just
///   before a reordered segment (Wireshark: "ACKed unseen segment" then "spurious
///   retransmission") does not make a false gap;
///   (2) the out-of-order buffer exceeds its bound;
///   (3) the connection closes (both FINs reached, RST, port reused) or the capture ends
///   (`finish()`);
///   (4) immediately, for payload the snapshot length cut (`payloadOriginalLength` larger than
///   the captured payload), when the stream reaches it — unless a full copy was seen first.
/// - **SYN** sets the initial sequence number (offset 0 is the byte after the SYN). A missed
///   SYN/ACK is recovered from the client's ACK. **FIN** marks the end: data at or after it
///   is ignored; the connection closes (`.fin`) when both sides' FINs are reached. **RST**
///   closes it at once (`.rst`); data carried by a RST is ignored.
/// - **Mid-stream connections** (no SYN seen): a connection is opened by the first segment
///   that carries payload (pure ACKs, FINs and RSTs of unknown connections are counted and
///   ignored); each direction starts at its first segment seen; bytes that later arrive with
///   an earlier sequence number are dropped (counted in `bytesBeforeStreamStart`).
/// - **Client and server**: the side that sent the SYN (or received the SYN/ACK) is the
///   client. Without a SYN: the side whose port is not in `serverPorts` when exactly one port
///   is there; otherwise the side with the higher port (ephemeral ports are high); with equal
///   ports, the sender of the first segment.
/// - **After close** the connection's state is dropped; its 4-tuple is remembered (the last
///   `maxClosedConnectionsRemembered` ones) so late ACKs, FINs and retransmissions do not open
///   a phantom connection; a new SYN on it starts a new connection.
///
/// Memory: per connection only out-of-order bytes are held; delivered bytes are not kept.
/// A value type (`Sendable`): copying it copies the whole reassembly state.
public struct TCPReassembler: Sendable {
    public struct Configuration: Sendable {
        /// Out-of-order bytes buffered per direction before the hole in front of them is declared a gap.
        public var maxBufferedBytesPerDirection: Int
        /// Well-known server ports (e.g. 104, 11112), used to tell client from server when no SYN was captured.
        public var serverPorts: Set<UInt16>
        /// How many closed 4-tuples are remembered to drop their late segments.
        public var maxClosedConnectionsRemembered: Int

        public init(maxBufferedBytesPerDirection: Int = 16 << 20, serverPorts: Set<UInt16> = [],
                    maxClosedConnectionsRemembered: Int = 65_536) {
            self.maxBufferedBytesPerDirection = max(0, maxBufferedBytesPerDirection)
            self.serverPorts = serverPorts
            self.maxClosedConnectionsRemembered = max(0, maxClosedConnectionsRemembered)
        }
    }

    public enum Event: Sendable {
        case opened(ConnectionID, client: Endpoint, server: Endpoint, time: Int64, sawSYN: Bool)
        /// Stream bytes at `streamOffset`; `time` and `packetIndex` are those of the packet that carried them.
        case data(ConnectionID, Direction, ByteBuffer, time: Int64, streamOffset: Int, packetIndex: Int)
        /// Missing bytes; `time` and `packetIndex` are those of the packet at which the gap was decided
        /// (the last packet of the capture for gaps found by `finish()`).
        case gap(ConnectionID, Direction, Gap, time: Int64, packetIndex: Int)
        case closed(ConnectionID, time: Int64, reason: CloseReason)
    }

    public struct Statistics: Hashable, Sendable {
        public var segments = 0
        public var connectionsOpened = 0
        public var connectionsClosed = 0
        /// Segments none of whose payload was new (duplicates, retransmissions, keep-alives).
        public var duplicateSegments = 0
        /// Payload bytes dropped because they were already delivered or buffered.
        public var duplicateBytes = 0
        public var bytesDelivered = 0
        public var gaps = 0
        public var gapBytes = 0
        /// Bytes sent at or after the sender's FIN (ignored).
        public var bytesAfterFIN = 0
        /// Bytes before the first byte seen of a mid-stream connection (ignored).
        public var bytesBeforeStreamStart = 0
        /// Segments that opened nothing: pure ACK/FIN/RST of an unknown connection, or late
        /// segments of a closed one.
        public var segmentsWithoutConnection = 0
        /// Times the out-of-order bound forced a gap.
        public var bufferLimitGaps = 0
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var statistics = Statistics()

    private var connections: [FlowKey: Connection] = [:]
    private var closedKeys: Set<FlowKey> = []
    private var closedOrder: [FlowKey] = []
    private var closedOrderHead = 0
    private var nextID = 0
    private var lastTime: Int64 = 0
    private var lastPacketIndex = 0

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Open connections.
    public var openConnectionCount: Int { connections.count }

    /// Out-of-order bytes currently buffered, over all connections and directions.
    public var bufferedBytes: Int {
        connections.values.reduce(0) { $0 + $1.toServer.pendingBytes + $1.toClient.pendingBytes }
    }

    /// Processes one segment and returns the events it causes.
    public mutating func process(_ segment: TCPSegment) -> [Event] {
        var events: [Event] = []
        process(segment, into: &events)
        return events
    }

    /// Processes one segment and appends the events it causes to `events` (reuse the array
    /// across calls to avoid an allocation per packet).
    public mutating func process(_ segment: TCPSegment, into events: inout [Event]) {
        statistics.segments += 1
        lastTime = segment.timestamp
        lastPacketIndex = segment.index
        let key = FlowKey(segment.source, segment.destination)
        let flags = segment.flags

        if let index = connections.index(forKey: key) {
            let isNewSYN = flags.contains(.syn) && !flags.contains(.ack)
                && !connections.values[index].isRetransmittedSYN(segment)
            if !isNewSYN {
                var context = makeContext(&events)
                let closed = connections.values[index].handle(segment, &context)
                absorb(&context, &events)
                if let reason = closed {
                    close(at: index, key: key, reason: reason, time: segment.timestamp, into: &events)
                }
                return
            }
            // A new connection on the same 4-tuple: the old one ended unseen.
            var context = makeContext(&events)
            connections.values[index].flush(.connectionClosed, time: segment.timestamp, packetIndex: segment.index,
                                             &context)
            absorb(&context, &events)
            close(at: index, key: key, reason: .portReused, time: segment.timestamp, into: &events)
        }

        if closedKeys.contains(key) {
            if !flags.contains(.syn) {
                statistics.segmentsWithoutConnection += 1
                return
            }
            closedKeys.remove(key)
        }
        let opens = flags.contains(.syn) || (segment.payloadOriginalLength > 0 && !flags.contains(.rst))
        guard opens else {
            statistics.segmentsWithoutConnection += 1
            return
        }

        // Client and server.
        let client: Endpoint, server: Endpoint
        if flags.contains(.syn) {
            if flags.contains(.ack) {
                (client, server) = (segment.destination, segment.source)
            } else {
                (client, server) = (segment.source, segment.destination)
            }
        } else {
            let sourceIsServer = configuration.serverPorts.contains(segment.source.port)
            let destinationIsServer = configuration.serverPorts.contains(segment.destination.port)
            let sourceIsClient: Bool
            if sourceIsServer != destinationIsServer {
                sourceIsClient = destinationIsServer
            } else if segment.source.port != segment.destination.port {
                sourceIsClient = segment.source.port > segment.destination.port
            } else {
                sourceIsClient = true
            }
            (client, server) = sourceIsClient ? (segment.source, segment.destination)
                                              : (segment.destination, segment.source)
        }
        let id = ConnectionID(rawValue: nextID)
        nextID += 1
        statistics.connectionsOpened += 1
        let sawSYN = flags.contains(.syn)
        var connection = Connection(id: id, client: client, server: server, sawSYN: sawSYN)
        if flags.contains(.syn) && flags.contains(.ack) {
            // Missed SYN: the SYN/ACK's ACK is the client's ISN + 1.
            connection.toServer.start(base: segment.ack, fromBeginning: true)
        }
        events.append(.opened(id, client: client, server: server, time: segment.timestamp, sawSYN: sawSYN))
        var context = makeContext(&events)
        let closed = connection.handle(segment, &context)
        absorb(&context, &events)
        connections[key] = connection
        if let reason = closed, let index = connections.index(forKey: key) {
            close(at: index, key: key, reason: reason, time: segment.timestamp, into: &events)
        }
    }

    /// Ends the capture: every open connection reports its remaining holes as gaps, delivers
    /// what it buffered, and closes (`.fin` if both FINs were seen, else `.endOfCapture`), in
    /// connection order. The reassembler is empty afterwards.
    public mutating func finish() -> [Event] {
        var events: [Event] = []
        finish(into: &events)
        return events
    }

    public mutating func finish(into events: inout [Event]) {
        let keys = connections.sorted { $0.value.id < $1.value.id }.map(\.key)
        for key in keys {
            guard let index = connections.index(forKey: key) else { continue }
            var context = makeContext(&events)
            connections.values[index].flush(.endOfCapture, time: lastTime, packetIndex: lastPacketIndex, &context)
            absorb(&context, &events)
            let bothFIN = connections.values[index].toServer.fin != nil && connections.values[index].toClient.fin != nil
            close(at: index, key: key, reason: bothFIN ? .fin : .endOfCapture, time: lastTime, into: &events)
        }
    }

    /// Moves `events` (no copy) and the statistics into a context for a connection operation.
    private func makeContext(_ events: inout [Event]) -> Context {
        var context = Context(maxBufferedBytes: configuration.maxBufferedBytesPerDirection, statistics: statistics, events: [])
        swap(&context.events, &events)
        return context
    }

    /// Takes the events and statistics back from a context.
    private mutating func absorb(_ context: inout Context, _ events: inout [Event]) {
        swap(&context.events, &events)
        statistics = context.statistics
    }

    private mutating func close(at index: Dictionary<FlowKey, Connection>.Index, key: FlowKey, reason: CloseReason,
                                time: Int64, into events: inout [Event]) {
        let id = connections.values[index].id
        connections.remove(at: index)
        statistics.connectionsClosed += 1
        events.append(.closed(id, time: time, reason: reason))
        remember(key)
    }

    private mutating func remember(_ key: FlowKey) {
        let capacity = configuration.maxClosedConnectionsRemembered
        guard capacity > 0 else { return }
        if closedOrder.count < capacity {
            closedOrder.append(key)
        } else {
            closedKeys.remove(closedOrder[closedOrderHead])
            closedOrder[closedOrderHead] = key
            closedOrderHead = (closedOrderHead + 1) % capacity
        }
        closedKeys.insert(key)
    }
}
