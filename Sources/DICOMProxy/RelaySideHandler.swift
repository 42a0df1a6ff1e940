import DICOMInspect
import NIOCore

/// What a `RelaySideHandler` reports to, and asks of, the association it belongs to
/// (`AssociationRelay`). Confined to the channel's event loop.
protocol RelaySideDelegate: AnyObject {
    /// Whether the peer in `role` may be read from now (backpressure, a commit in progress).
    func mayRead(_ role: PeerRole) -> Bool
    /// The channel of the peer in `role` can take bytes again.
    func becameWritable(_ role: PeerRole)
    func received(_ input: RelayInput, from role: PeerRole)
    func readComplete(from role: PeerRole)
    /// The peer in `role` closed its side of the connection (TCP FIN).
    func inputClosed(_ role: PeerRole)
    func channelClosed(_ role: PeerRole)
    func errorCaught(_ error: any Error, from role: PeerRole)
}

/// One half of the relay's matched pair of glue handlers (model: swift-nio-ssh
/// `NIOSSHServer/GlueHandler.swift`): it sits at the end of one peer's pipeline, after the
/// PDU framer, hands each framed PDU to the association (its `RelaySideDelegate`, the
/// `AssociationRelay`), and writes what the relay sends that peer. Backpressure: it reads from its peer only while the other
/// peer's channel is writable (and the relay allows it); half-close and close are passed on
/// through the relay.
final class RelaySideHandler: ChannelDuplexHandler {
    typealias InboundIn = RelayInput
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let role: PeerRole
    private var relay: (any RelaySideDelegate)?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    init(role: PeerRole, relay: any RelaySideDelegate) {
        self.role = role
        self.relay = relay
    }

    // MARK: Used by the relay

    var isWritable: Bool { context?.channel.isWritable ?? false }
    var isActive: Bool { context?.channel.isActive ?? false }
    var channel: (any Channel)? { context?.channel }

    func write(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Reads again if a read was held back for backpressure.
    func resumeReading() {
        guard pendingRead, let context, relay?.mayRead(role) ?? true else { return }
        pendingRead = false
        context.read()
    }

    /// The peer gets no more bytes from us (TCP FIN after pending writes).
    func closeOutput() {
        context?.close(mode: .output, promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }

    /// Sends a PDU of the proxy's own (A-ASSOCIATE-RJ, A-ABORT) and closes once it is
    /// written, or after `deadline` if the peer does not take it.
    func send(_ pdu: ByteBuffer, thenCloseWithin deadline: TimeAmount) {
        guard let context else { return }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(pdu)).assumeIsolated().whenComplete { _ in
            channel.close(promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: deadline) {
            channel.close(promise: nil)
        }
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isWritable {
            relay?.becameWritable(role)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        relay = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay?.received(unwrapInboundIn(data), from: role)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.channel.acknowledgeQuickly()
        relay?.readComplete(from: role)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay?.channelClosed(role)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            relay?.inputClosed(role)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        relay?.errorCaught(error, from: role)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            relay?.becameWritable(role)
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if relay?.mayRead(role) ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
