import DICOMInspect
import Logging
import NIOCore

/// Records one leg of one association as a pcap file: everything read from one peer and
/// everything written to it, in synthetic TCP packets. Unless `recordsSecrets`, each direction
/// goes through a `CredentialMaskingStream` first: User Identity credentials are recorded as
/// zeros of the same length. Packets made before the file is named (the name has the AE titles
/// of the A-ASSOCIATE-RQ) are kept until `open` (the handshake and that request: bounded by
/// the largest PDU relayed).
///
/// Crash-safe: every batch of packets (one read from a peer, or one completed write to it: at
/// most a PDU's worth, usually less) is handed to the kernel with write(2) on the association's
/// event loop before the relay goes on, so a killed proxy (kill -9, a crash; not a power cut:
/// there is no fsync) loses at most the bytes in flight, and the file ends with whole packet
/// records or, rarely, one cut short (readers drop it with a warning). Nothing is queued in
/// memory: a disk slower than the network slows the associations of that event loop instead
/// (backpressure), it never grows the proxy's memory. Loop-confined.
final class AssociationRecorder {
    private var connection: SyntheticTCPConnection?
    private let recordsSecrets: Bool
    /// What each peer sent, on its way to the file (unless `recordsSecrets`).
    private var requestorMasking = CredentialMaskingStream()
    private var acceptorMasking = CredentialMaskingStream()
    private var pending = ByteBuffer()
    private var file: AppendOnlyFile?
    private var closed = false
    private(set) var path: String?
    private let logger: Logger

    init(recordsSecrets: Bool, logger: Logger) {
        self.recordsSecrets = recordsSecrets
        self.logger = logger
    }

    func start(client: SocketAddress?, server: SocketAddress?, at time: Timestamp) {
        guard connection == nil else { return }
        let c = SyntheticEndpoint(client) ?? SyntheticEndpoint(address: [127, 0, 0, 1], port: 1111)
        let s = SyntheticEndpoint(server) ?? SyntheticEndpoint(address: [127, 0, 0, 1], port: 104)
        var tcp = SyntheticTCPConnection(client: c, server: s)
        var out = ByteBuffer()
        tcp.handshake(at: time, into: &out)
        connection = tcp
        emit(out)
    }

    func record(_ bytes: ByteBuffer, from role: PeerRole, at time: Timestamp) {
        guard connection != nil, bytes.readableBytes > 0 else { return }
        guard !recordsSecrets else {
            packets(bytes, from: role, at: time)
            return
        }
        let pieces = role == .requestor ? requestorMasking.pass(bytes) : acceptorMasking.pass(bytes)
        guard pieces.count > 1 else {
            if let piece = pieces.first { packets(piece, from: role, at: time) }
            return
        }
        // One read, one segment, as without masking.
        var joined = ByteBuffer()
        joined.reserveCapacity(pieces.reduce(0) { $0 + $1.readableBytes })
        for var piece in pieces { joined.writeBuffer(&piece) }
        packets(joined, from: role, at: time)
    }

    private func packets(_ bytes: ByteBuffer, from role: PeerRole, at time: Timestamp) {
        guard var tcp = connection, bytes.readableBytes > 0 else { return }
        var out = ByteBuffer()
        tcp.data(bytes, from: role, at: time, into: &out)
        connection = tcp
        emit(out)
    }

    func fin(from role: PeerRole, at time: Timestamp) {
        guard let before = connection, !before.finSent.contains(role) else { return }
        // What the masking stream still holds (a PDU cut by the close) goes before the FIN.
        if !recordsSecrets {
            packets(role == .requestor ? requestorMasking.finish() : acceptorMasking.finish(), from: role, at: time)
        }
        guard var tcp = connection else { return }
        var out = ByteBuffer()
        tcp.fin(from: role, at: time, into: &out)
        connection = tcp
        emit(out)
    }

    /// Both directions are closed: FINs for the sides that had not sent one.
    func finish(at time: Timestamp) {
        fin(from: .requestor, at: time)
        fin(from: .acceptor, at: time)
    }

    private func emit(_ bytes: ByteBuffer) {
        guard !closed, bytes.readableBytes > 0 else { return }
        if let file {
            file.write(bytes)
        } else {
            var b = bytes
            pending.writeBuffer(&b)
        }
    }

    /// Creates the file `directory/stem.pcap` (another name when that one is taken, see
    /// `PrivateFiles.createUnique`), writes the pcap header and the packets kept so far.
    func open(directory: String, stem: String) {
        guard file == nil, !closed else { return }
        let logger = self.logger
        do {
            let file = try AppendOnlyFile(newFileIn: directory, stem: stem, suffix: "pcap") { problem in
                logger.info("the recording is incomplete: \(problem)")
            }
            // The header and what came before the name, in one write: a file never holds half a header.
            var first = PCAPFormat.fileHeader()
            first.writeBuffer(&pending)
            file.write(first)
            pending = ByteBuffer()
            path = file.path
            self.file = file
        } catch {
            logger.info("this association is not recorded: \(error)")
            closed = true
            pending = ByteBuffer()
        }
    }

    /// Closes the file (every packet is written already: the future is succeeded at once, for callers that
    /// wait for the files of an association).
    func close(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        closed = true
        pending = ByteBuffer()
        file = nil
        return eventLoop.makeSucceededVoidFuture()
    }
}

/// Feeds an `AssociationRecorder` from one of the relay's channels, at the head of its
/// pipeline (what is read from and written to the socket): the SCU's channel (`leg` =
/// `.requestor`, the proxy plays the server) or, with rewriting on, the upstream channel
/// (`leg` = `.acceptor`, the proxy plays the client). Model: swift-nio-extras `NIOWritePCAPHandler`:
/// it writes Ethernet frames and records a write when it completed.
final class PCAPRecordingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let recorder: AssociationRecorder
    /// The role of the peer at the other end of this channel: bytes read come from it.
    private let leg: PeerRole

    init(recorder: AssociationRecorder, leg: PeerRole = .requestor) {
        self.recorder = recorder
        self.leg = leg
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        let channel = context.channel
        if leg == .requestor {
            recorder.start(client: channel.remoteAddress, server: channel.localAddress, at: Timestamp.wallClock())
        } else {
            recorder.start(client: channel.localAddress, server: channel.remoteAddress, at: Timestamp.wallClock())
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        recorder.record(unwrapInboundIn(data), from: leg, at: Timestamp.wallClock())
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        let written = promise ?? context.eventLoop.makePromise()
        let recorder = self.recorder
        let sender = leg.other
        written.futureResult.assumeIsolated().whenSuccess {
            recorder.record(bytes, from: sender, at: Timestamp.wallClock())
        }
        context.write(data, promise: written)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent {
            switch event {
            case .inputClosed: recorder.fin(from: leg, at: Timestamp.wallClock())
            case .outputClosed: recorder.fin(from: leg.other, at: Timestamp.wallClock())
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        recorder.finish(at: Timestamp.wallClock())
        context.fireChannelInactive()
    }
}

/// Reports the bytes read from and written to one peer to `ProxyConfiguration.tap`.
final class TapHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let associationID: String
    private let role: PeerRole
    private let tap: @Sendable (TapEvent) -> Void

    init(associationID: String, role: PeerRole, tap: @escaping @Sendable (TapEvent) -> Void) {
        self.associationID = associationID
        self.role = role
        self.tap = tap
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        tap(TapEvent(associationID: associationID, role: role, direction: .read, bytes: unwrapInboundIn(data)))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let event = TapEvent(associationID: associationID, role: role, direction: .written, bytes: unwrapOutboundIn(data))
        let written = promise ?? context.eventLoop.makePromise()
        let tap = self.tap
        written.futureResult.assumeIsolated().whenSuccess { tap(event) }
        context.write(data, promise: written)
    }
}
