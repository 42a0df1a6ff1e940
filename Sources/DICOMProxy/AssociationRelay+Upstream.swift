import DICOMInspect
import struct DICOMNetwork.SocketFailure
import NIOCore
import NIOPosix

/// The relay's channels and timers: the SCU's pipeline, the upstream connection, the
/// association-response and idle timers.
extension AssociationRelay {
    /// The handlers for the SCU's pipeline: the recorder (when recording), a tap (when
    /// configured), the PDU framer and the requestor half of the glue pair.
    func requestorHandlers() -> [any ChannelHandler] {
        let handler = RelaySideHandler(role: .requestor, relay: self)
        requestor = handler
        var handlers: [any ChannelHandler] = []
        // With rewriting on, the upstream leg is recorded instead (see `connect`): no original identifier in it.
        if let recorder, !isRewriting { handlers.append(PCAPRecordingHandler(recorder: recorder)) }
        if let tap = configuration.tap { handlers.append(TapHandler(associationID: id, role: .requestor, tap: tap)) }
        handlers.append(ByteToMessageHandler(RelayFrameDecoder(maximumPDULength: configuration.maximumPDULength)))
        handlers.append(handler)
        scheduleIdleCheck(in: TimeAmount(configuration.idleTimeout))
        artimTimer = eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.artimTimeout)) { [self] in
            closeWithoutRequest(makingRoomAt: nil)
        }
        return handlers
    }

    /// ARTIM ran out (`makingRoomAt` nil), or the proxy at `--max-associations` needs this connection's place: a
    /// connection still without its A-ASSOCIATE-RQ is closed (one past the limit gets its A-ASSOCIATE-RJ 2/3/2
    /// first); one whose A-ASSOCIATE-RQ came meanwhile goes on.
    func closeWithoutRequest(makingRoomAt limit: Int?) {
        guard !isFinished, machine.state == .awaitingAssociateRequest else { return }
        let waited = limit == nil ? Self.seconds(TimeAmount(configuration.artimTimeout))
            : Self.seconds(NIODeadline.now() - accepted)
        let reason = RelayCloseReason.noAssociateRequest(.init(client: outputs.log.client, waited: waited, makingRoomAt: limit))
        run(machine.noAssociateRequest(reason), pdus: [])
        finishIfDone()
    }

    /// `30 s`, `0.5 s`, `4.215 s`.
    static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(Double(milliseconds) / 1000) s"
    }

    /// Opens the upstream connection; the association response timer runs from now.
    func connect(to upstream: ProxyEndpoint) {
        let acceptor = RelaySideHandler(role: .acceptor, relay: self)
        self.acceptor = acceptor
        let bound = NIOLoopBound(acceptor, eventLoop: eventLoop)
        let maximumPDULength = configuration.maximumPDULength
        let tap = configuration.tap
        let id = self.id
        let upstreamRecorder = isRewriting ? recorder.map { NIOLoopBound(PCAPRecordingHandler(recorder: $0, leg: .acceptor),
                                                                              eventLoop: eventLoop) } : nil
        let upstreamTLS = upstream.tls ? shared.tls.current.upstream : nil
        outputs.upstreamTLS = upstreamTLS != nil
        let relay = NIOLoopBound(self, eventLoop: eventLoop)
        responseTimer = eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.connectTimeout)) { [self] in
            run(machine.associationResponseTimedOut(), pdus: [])
            finishIfDone()
        }
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try upstreamTLS?.install(on: channel, host: upstream.host) { relay.value.tlsHandshake($0, leg: .acceptor) }
                    if let upstreamRecorder { try pipeline.addHandler(upstreamRecorder.value) }
                    if let tap { try pipeline.addHandler(TapHandler(associationID: id, role: .acceptor, tap: tap)) }
                    try pipeline.addHandler(ByteToMessageHandler(RelayFrameDecoder(maximumPDULength: maximumPDULength)))
                    try pipeline.addHandler(bound.value)
                }
            }
            .connect(host: upstream.host, port: upstream.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    let action = machine.upstreamConnected()
                    if case .closeLateUpstream = action {
                        channel.close(promise: nil)
                        self.acceptor = nil
                    } else {
                        acceptorAttached = true
                        logger.debug("connected to upstream \(upstream)")
                        run(action, pdus: [])
                    }
                case .failure(let error):
                    self.acceptor = nil
                    run(machine.upstreamConnectFailed(
                        SocketFailure(connectingTo: upstream.host, port: upstream.port, error: error).description), pdus: [])
                }
                finishIfDone()
            }
    }

    func cancelResponseTimer() {
        responseTimer?.cancel()
        responseTimer = nil
    }

    func scheduleIdleCheck(in delay: TimeAmount) {
        idleTimer = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard !isFinished else { return }
            let limit = TimeAmount(configuration.idleTimeout)
            // Writing a message's new pseudonyms: the peers wait for us, the association is not idle.
            if committing { lastActivity = .now() }
            let idleFor = NIODeadline.now() - lastActivity
            if idleFor >= limit {
                run(machine.idleTimedOut(), pdus: [])
                finishIfDone()
            } else {
                scheduleIdleCheck(in: limit - idleFor)
            }
        }
    }
}
