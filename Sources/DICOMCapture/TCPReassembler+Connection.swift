import NIOCore

// MARK: - Internals: one connection and its two streams

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
}
