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

// MARK: - Internals

/// A 4-tuple with the endpoints in a canonical order, so both directions find the same connection.
struct FlowKey: Hashable, Sendable {
    let low: Endpoint
    let high: Endpoint

    init(_ a: Endpoint, _ b: Endpoint) {
        if a < b { (low, high) = (a, b) } else { (low, high) = (b, a) }
    }
}

/// What a connection needs from the reassembler while it handles a segment.
struct Context {
    let maxBufferedBytes: Int
    var statistics: TCPReassembler.Statistics
    var events: [TCPReassembler.Event]
}

/// Bytes waiting for the hole in front of them.
struct PendingChunk: Sendable {
    var start: Int
    var data: ByteBuffer
    var packetIndex: Int
    var time: Int64
    var end: Int { start + data.readableBytes }
}

/// One direction of a connection.
struct StreamState: Sendable {
    var started = false
    /// Whether offset 0 is the first byte after the SYN (as opposed to the first byte seen).
    var fromBeginning = false
    /// The sequence number of stream offset 0.
    var base: UInt32 = 0
    /// The next offset to deliver: everything before it was delivered or reported as a gap.
    var next = 0
    /// The offset of the FIN (the end of the stream's data).
    var fin: Int?
    /// Out-of-order data, sorted by offset, not overlapping, all after `next`.
    var pending: [PendingChunk] = []
    var pendingBytes = 0
    /// Ranges the snapshot length cut (sorted, possibly overlapping; pending data wins over them).
    var notCaptured: [Range<Int>] = []
    /// The highest offset the peer acknowledged (its ACK number as an offset).
    var acknowledged = Int.min

    mutating func start(base: UInt32, fromBeginning: Bool) {
        started = true
        self.base = base
        self.fromBeginning = fromBeginning
    }

    /// The stream offset of `seq`, unwrapped around the next expected byte (±2 GiB).
    func offset(of seq: UInt32) -> Int {
        let expected = base &+ UInt32(truncatingIfNeeded: next)
        return next + Int(Int32(bitPattern: seq &- expected))
    }

    func sequenceNumber(at offset: Int) -> UInt32 {
        base &+ UInt32(truncatingIfNeeded: offset)
    }
}

struct Connection: Sendable {
    let id: ConnectionID
    let client: Endpoint
    let server: Endpoint
    let sawSYN: Bool
    var toServer = StreamState()
    var toClient = StreamState()

    init(id: ConnectionID, client: Endpoint, server: Endpoint, sawSYN: Bool) {
        self.id = id
        self.client = client
        self.server = server
        self.sawSYN = sawSYN
    }

    /// A SYN (without ACK) whose initial sequence number is the one this connection started with.
    func isRetransmittedSYN(_ segment: TCPSegment) -> Bool {
        let stream = segment.source == client ? toServer : toClient
        return stream.started && stream.fromBeginning && stream.base == segment.seq &+ 1
    }

    /// Handles one segment of this connection; returns a close reason when it ends the connection.
    mutating func handle(_ segment: TCPSegment, _ context: inout Context) -> CloseReason? {
        let fromClient = segment.source == client
        let direction: Direction = fromClient ? .clientToServer : .serverToClient
        let flags = segment.flags
        if flags.contains(.rst) {
            flush(.connectionClosed, time: segment.timestamp, packetIndex: segment.index, &context)
            return .rst
        }
        let id = self.id
        let sawSYN = self.sawSYN
        // Data, FIN and SYN were sent after everything the segment acknowledges was received.
        let carries = segment.payloadOriginalLength > 0 || flags.contains(.fin) || flags.contains(.syn)
        // 1. The ACK tells how far the peer's stream got. Holes it proves are declared before
        //    this segment's own data (which the peer's bytes caused) — not for a pure ACK, so an
        //    ACK captured just before a reordered segment does not make a false gap.
        if flags.contains(.ack) {
            if fromClient {
                Connection.peerAcknowledged(&toClient, segment: segment, sawSYN: sawSYN)
            } else {
                Connection.peerAcknowledged(&toServer, segment: segment, sawSYN: sawSYN)
            }
        }
        if carries {
            if fromClient {
                Connection.applyAcknowledgment(&toClient, id: id, direction: .serverToClient, time: segment.timestamp,
                                               packetIndex: segment.index, &context)
            } else {
                Connection.applyAcknowledgment(&toServer, id: id, direction: .clientToServer, time: segment.timestamp,
                                               packetIndex: segment.index, &context)
            }
        }
        // 2. This segment's SYN, FIN and data; then the holes of its own stream the peer had
        //    already acknowledged, if this segment did not fill them.
        if fromClient {
            Connection.receive(&toServer, segment: segment, id: id, direction: direction, &context)
            if carries {
                Connection.applyAcknowledgment(&toServer, id: id, direction: direction, time: segment.timestamp,
                                               packetIndex: segment.index, &context)
            }
        } else {
            Connection.receive(&toClient, segment: segment, id: id, direction: direction, &context)
            if carries {
                Connection.applyAcknowledgment(&toClient, id: id, direction: direction, time: segment.timestamp,
                                               packetIndex: segment.index, &context)
            }
        }
        // 3. Closed when both sides' FINs are reached.
        if let clientFIN = toServer.fin, let serverFIN = toClient.fin,
           toServer.next >= clientFIN, toClient.next >= serverFIN {
            return .fin
        }
        return nil
    }

    /// Reports every hole as a gap and delivers everything buffered, in offset order (before a close).
    mutating func flush(_ reason: GapReason, time: Int64, packetIndex: Int, _ context: inout Context) {
        let id = self.id
        Connection.flush(&toServer, reason: reason, id: id, direction: .clientToServer, time: time,
                         packetIndex: packetIndex, &context)
        Connection.flush(&toClient, reason: reason, id: id, direction: .serverToClient, time: time,
                         packetIndex: packetIndex, &context)
    }

    // MARK: stream operations

    /// The other side acknowledged `segment.ack` of `stream`: remembered (see `applyAcknowledgment`).
    static func peerAcknowledged(_ stream: inout StreamState, segment: TCPSegment, sawSYN: Bool) {
        if stream.started {
            stream.acknowledged = max(stream.acknowledged, stream.offset(of: segment.ack))
        } else if sawSYN {
            // The handshake was seen but not this direction's SYN/ACK: the ACK is its ISN + 1.
            stream.start(base: segment.ack, fromBeginning: true)
        }
    }

    /// A segment sent on `stream`: its SYN, FIN and payload.
    static func receive(_ stream: inout StreamState, segment: TCPSegment, id: ConnectionID, direction: Direction,
                        _ context: inout Context) {
        var seq = segment.seq
        if segment.flags.contains(.syn) {
            seq &+= 1
            if !stream.started { stream.start(base: seq, fromBeginning: true) }
        }
        if !stream.started {
            stream.start(base: seq, fromBeginning: false)
        }
        let start = stream.offset(of: seq)
        if segment.flags.contains(.fin) && stream.fin == nil {
            let finOffset = start + segment.payloadOriginalLength
            if finOffset >= stream.next {
                stream.fin = finOffset
                trimPending(&stream, to: finOffset, &context)
            }
        }
        insert(&stream, start: start, segment: segment, id: id, direction: direction, &context)
    }

    static func flush(_ stream: inout StreamState, reason: GapReason, id: ConnectionID, direction: Direction,
                      time: Int64, packetIndex: Int, _ context: inout Context) {
        guard stream.started else { return }
        applyAcknowledgment(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
        while true {
            drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
            var target = stream.pending.first?.start
            if let cut = stream.notCaptured.first(where: { $0.upperBound > stream.next }) {
                target = min(target ?? cut.lowerBound, max(cut.lowerBound, stream.next))
            }
            guard let end = target, end > stream.next else { break }
            emitGap(&stream, to: end, reason: reason, id: id, direction: direction, time: time,
                    packetIndex: packetIndex, &context)
        }
        if let fin = stream.fin, stream.next < fin {
            emitGap(&stream, to: fin, reason: reason, id: id, direction: direction, time: time,
                    packetIndex: packetIndex, &context)
        }
        stream.notCaptured.removeAll()
    }

    /// The peer acknowledged everything before `stream.acknowledged`: holes below it will
    /// never be filled (Wireshark: "ACKed unseen segment").
    static func applyAcknowledgment(_ stream: inout StreamState, id: ConnectionID, direction: Direction,
                                    time: Int64, packetIndex: Int, _ context: inout Context) {
        var proven = stream.acknowledged
        if let fin = stream.fin { proven = min(proven, fin) } // the FIN takes a sequence number
        while stream.next < proven {
            let before = stream.next
            let end = min(proven, stream.pending.first?.start ?? proven)
            if end > stream.next {
                emitGap(&stream, to: end, reason: .acknowledged, id: id, direction: direction, time: time,
                        packetIndex: packetIndex, &context)
            }
            drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
            if stream.next == before { break } // cannot happen (buffered data starts after `next`); never loop
        }
    }

    /// Drops buffered bytes at or after `end` (a FIN seen after them).
    static func trimPending(_ stream: inout StreamState, to end: Int, _ context: inout Context) {
        stream.notCaptured = stream.notCaptured.compactMap { range in
            range.lowerBound < end ? range.lowerBound..<min(range.upperBound, end) : nil
        }
        while let last = stream.pending.last, last.end > end {
            let keep = max(0, end - last.start)
            context.statistics.bytesAfterFIN += last.data.readableBytes - keep
            stream.pendingBytes -= last.data.readableBytes - keep
            if keep == 0 {
                stream.pending.removeLast()
            } else {
                stream.pending[stream.pending.count - 1].data.moveWriterIndex(to: last.data.readerIndex + keep)
            }
        }
    }

    static func insert(_ stream: inout StreamState, start: Int, segment: TCPSegment, id: ConnectionID,
                       direction: Direction, _ context: inout Context) {
        let captured = segment.payload.readableBytes
        let original = segment.payloadOriginalLength
        guard original > 0 else { return }
        var low = start
        var capturedEnd = start + captured
        var originalEnd = start + original
        // Bytes before the stream start (mid-stream) or already delivered.
        if low < stream.next {
            let old = min(stream.next, originalEnd) - low
            if start < 0 && !stream.fromBeginning {
                context.statistics.bytesBeforeStreamStart += min(0, originalEnd) - low
                context.statistics.duplicateBytes += old - (min(0, originalEnd) - low)
            } else {
                context.statistics.duplicateBytes += old
            }
            low = stream.next
        }
        // Bytes at or after the FIN.
        if let fin = stream.fin, originalEnd > fin {
            context.statistics.bytesAfterFIN += originalEnd - max(fin, low)
            originalEnd = fin
            capturedEnd = min(capturedEnd, fin)
            if low >= originalEnd { return }
        }
        guard low < originalEnd else {
            context.statistics.duplicateSegments += 1
            return
        }
        let time = segment.timestamp
        let packetIndex = segment.index
        // The captured part.
        var isNew = false
        if low < capturedEnd,
           let bytes = segment.payload.getSlice(at: segment.payload.readerIndex + (low - start), length: capturedEnd - low) {
            if stream.pending.isEmpty && low == stream.next {
                // In order with nothing buffered: deliver without buffering.
                isNew = true
                stream.next = capturedEnd
                context.statistics.bytesDelivered += bytes.readableBytes
                context.events.append(.data(id, direction, bytes, time: time, streamOffset: low, packetIndex: packetIndex))
            } else {
                let added = addPending(&stream, start: low, bytes: bytes, packetIndex: packetIndex, time: time)
                context.statistics.duplicateBytes += bytes.readableBytes - added
                isNew = added > 0
            }
        }
        // The part the snapshot length cut.
        if max(low, capturedEnd) < originalEnd {
            let cut = max(low, capturedEnd)..<originalEnd
            let position = stream.notCaptured.firstIndex { $0.lowerBound > cut.lowerBound } ?? stream.notCaptured.endIndex
            stream.notCaptured.insert(cut, at: position)
            isNew = true
        }
        if !isNew { context.statistics.duplicateSegments += 1 }
        drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
        // The out-of-order bound.
        while stream.pendingBytes > context.maxBufferedBytes, let first = stream.pending.first {
            context.statistics.bufferLimitGaps += 1
            emitGap(&stream, to: first.start, reason: .bufferLimit, id: id, direction: direction, time: time,
                    packetIndex: packetIndex, &context)
            drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
        }
    }

    /// Buffers `bytes` at `start` where nothing is buffered yet (the first-seen bytes win);
    /// returns how many bytes were new.
    static func addPending(_ stream: inout StreamState, start: Int, bytes: ByteBuffer, packetIndex: Int, time: Int64) -> Int {
        let end = start + bytes.readableBytes
        // First chunk that ends after `start` (binary search).
        var lowIndex = 0, highIndex = stream.pending.count
        while lowIndex < highIndex {
            let middle = (lowIndex + highIndex) / 2
            if stream.pending[middle].end <= start { lowIndex = middle + 1 } else { highIndex = middle }
        }
        let first = lowIndex
        if first == stream.pending.count || stream.pending[first].start >= end {
            // No overlap (the usual case: appended after the last buffered chunk).
            stream.pending.insert(PendingChunk(start: start, data: bytes, packetIndex: packetIndex, time: time), at: first)
            stream.pendingBytes += bytes.readableBytes
            return bytes.readableBytes
        }
        // Fill only the holes between the chunks it overlaps.
        var merged: [PendingChunk] = []
        var cursor = start
        var index = first
        var added = 0
        while index < stream.pending.count && stream.pending[index].start < end {
            let chunk = stream.pending[index]
            if chunk.start > cursor {
                if let piece = bytes.getSlice(at: bytes.readerIndex + (cursor - start), length: chunk.start - cursor) {
                    merged.append(PendingChunk(start: cursor, data: piece, packetIndex: packetIndex, time: time))
                    stream.pendingBytes += piece.readableBytes
                    added += piece.readableBytes
                }
            }
            merged.append(chunk)
            cursor = max(cursor, chunk.end)
            index += 1
        }
        if cursor < end, let piece = bytes.getSlice(at: bytes.readerIndex + (cursor - start), length: end - cursor) {
            merged.append(PendingChunk(start: cursor, data: piece, packetIndex: packetIndex, time: time))
            stream.pendingBytes += piece.readableBytes
            added += piece.readableBytes
        }
        if added > 0 { stream.pending.replaceSubrange(first..<index, with: merged) }
        return added
    }

    /// Delivers buffered chunks that start at `next`, and reports snapshot-length cuts reached.
    static func drain(_ stream: inout StreamState, id: ConnectionID, direction: Direction, time: Int64,
                      packetIndex: Int, _ context: inout Context) {
        var consumed = 0
        while true {
            if consumed < stream.pending.count, stream.pending[consumed].start <= stream.next {
                let chunk = stream.pending[consumed]
                consumed += 1
                stream.pendingBytes -= chunk.data.readableBytes
                guard chunk.end > stream.next else { continue }
                let skip = stream.next - chunk.start
                let bytes = chunk.data.getSlice(at: chunk.data.readerIndex + skip, length: chunk.data.readableBytes - skip)
                    ?? ByteBuffer()
                context.statistics.bytesDelivered += bytes.readableBytes
                context.events.append(.data(id, direction, bytes, time: chunk.time, streamOffset: stream.next,
                                            packetIndex: chunk.packetIndex))
                stream.next = chunk.end
                continue
            }
            // A cut range at `next`: a gap up to its end or the next buffered byte.
            while let cut = stream.notCaptured.first, cut.upperBound <= stream.next {
                stream.notCaptured.removeFirst()
            }
            if let cut = stream.notCaptured.first, cut.lowerBound <= stream.next {
                var end = cut.upperBound
                if consumed < stream.pending.count { end = min(end, stream.pending[consumed].start) }
                if end > stream.next {
                    emitGap(&stream, to: end, reason: .notCaptured, id: id, direction: direction, time: time,
                            packetIndex: packetIndex, &context)
                    continue
                }
            }
            break
        }
        if consumed > 0 { stream.pending.removeFirst(consumed) }
    }

    static func emitGap(_ stream: inout StreamState, to end: Int, reason: GapReason, id: ConnectionID,
                        direction: Direction, time: Int64, packetIndex: Int, _ context: inout Context) {
        guard end > stream.next else { return }
        let gap = Gap(streamOffsets: stream.next..<end, firstSequenceNumber: stream.sequenceNumber(at: stream.next),
                      reason: reason)
        context.statistics.gaps += 1
        context.statistics.gapBytes += gap.length
        context.events.append(.gap(id, direction, gap, time: time, packetIndex: packetIndex))
        stream.next = end
    }
}
