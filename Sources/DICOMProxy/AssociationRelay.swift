#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import DICOMInspect
import struct DICOMNetwork.SocketFailure
import enum DICOMNetwork.TLSHandshakeOutcome
import struct DICOMNetwork.TLSSessionInfo
import DICOMRewrite
import DICOMUL
import DIMSE
import Logging
import NIOCore
import NIOPosix

/// What every association of one proxy shares (immutable or internally serialised).
struct ProxyShared: Sendable {
    let configuration: ProxyConfiguration
    /// `events.jsonl` in the log directory.
    let events: AppendOnlyFile?
    let logger: Logger
    /// The TLS contexts new connections use (`DICOMProxyServer.reloadTLS` replaces them; open ones keep theirs).
    let tls: TLSContexts
}

/// One relayed association: the glue between the SCU's channel and the upstream channel,
/// the association's `AssociationObserver` fed with the exact bytes of every PDU relayed,
/// its outputs (console lines, text log, JSON lines, recording) and its timers. It runs the
/// actions of a `RelayStateMachine`. Confined to the event loop of the SCU's channel, where
/// the upstream channel is opened too: no locks.
final class AssociationRelay {
    let id: String
    let eventLoop: any EventLoop
    private let shared: ProxyShared
    private var configuration: ProxyConfiguration { shared.configuration }
    private let logger: Logger
    private var machine: RelayStateMachine
    private var observer: AssociationObserver
    private let format: ProxyEventFormat
    private let renderer: AnnotatedDumpRenderer
    /// With rewriting on: the association's rewriter (nil: every PDU relayed byte for byte).
    private var rewriting: AssociationRewriter?
    /// Rewriting is on for this association (`rewriting` is briefly nil while a PDU is rewritten).
    private let isRewriting: Bool
    /// What the outputs may show of the peers' bytes.
    private let masking: SecretMasking
    /// With rewriting on: bytes sent to each peer so far (stream offsets of the PDUs the proxy re-encoded).
    private var sentOffset: [PeerRole: Int] = [.requestor: 0, .acceptor: 0]
    /// With rewriting on: a message's new pseudonyms are being committed to the mapping store
    /// (off the event loop); its PDUs wait in `commitPending`, and what the peers send meanwhile
    /// waits in `waitingForCommit`, in order. Neither peer is read until the commit is done.
    private var committing = false
    private var commitPending: (pdu: PDU, outgoing: [ByteBuffer], upstream: [(pdu: PDU, bodyLength: Int, streamOffset: Int)],
                                role: PeerRole, time: Timestamp)?
    private var waitingForCommit: [WaitingEvent] = []

    /// What a peer's channel reported while a commit was pending, replayed in order after it.
    private enum WaitingEvent {
        case input(RelayInput, PeerRole)
        case inputClosed(PeerRole)
        case channelClosed(PeerRole)
        case error(any Error, PeerRole)
    }

    private(set) var requestor: RelaySideHandler?
    private var acceptor: RelaySideHandler?
    /// The upstream connection opened and the association went on with it.
    private var acceptorAttached = false
    /// PDUs from the SCU kept while the upstream connection opens (the A-ASSOCIATE-RQ).
    private var held: [ByteBuffer] = []

    let recorder: AssociationRecorder?
    private var textLog: AppendOnlyFile?
    private var textLogPending: [String] = []
    private var textLogOpened = false

    let startTime: Timestamp
    private let client: String
    private var upstream: ProxyEndpoint?
    private var closeReason: RelayCloseReason?
    /// The TLS sessions of the legs that speak TLS (the recording holds their decrypted stream).
    private var tlsSessions: [PeerRole: TLSSessionInfo] = [:]
    private var responseTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var lastActivity: NIODeadline
    private var isFinished = false
    /// Succeeded once the association is over and its files are written.
    let finished: EventLoopPromise<Void>
    private let onFinish: @Sendable (String) -> Void

    /// Time the proxy waits for a peer to take one of its own PDUs before closing anyway.
    static let closeDeadline: TimeAmount = .seconds(2)

    init(id: String, channel: any Channel, shared: ProxyShared, onFinish: @escaping @Sendable (String) -> Void) {
        self.id = id
        eventLoop = channel.eventLoop
        self.shared = shared
        var logger = shared.logger
        logger[metadataKey: ProxyLogKey.associationID] = .string(id)
        self.logger = logger
        machine = RelayStateMachine(routing: shared.configuration.routing, allowList: shared.configuration.allowList,
                                    requestorAddress: channel.remoteAddress.flatMap { IPAddress($0) })
        var observerConfiguration = shared.configuration.observer
        observerConfiguration.maximumPDULength = shared.configuration.maximumPDULength
        observerConfiguration.emitsEvents = shared.configuration.logDirectory != nil || shared.logger.logLevel <= .debug
        observer = AssociationObserver(configuration: observerConfiguration)
        format = ProxyEventFormat(associationID: id)
        startTime = wallClock()
        renderer = AnnotatedDumpRenderer(options: shared.configuration.textLogOptions, origin: startTime)
        client = channel.remoteAddress.map(Self.describe) ?? "?"
        recorder = shared.configuration.recordDirectory != nil
            ? AssociationRecorder(recordsSecrets: shared.configuration.recordSecrets, logger: logger) : nil
        if let rewriter = shared.configuration.rewriter {
            var associationRewriter = AssociationRewriter(rewriter: rewriter, assembler: observerConfiguration.assembler)
            associationRewriter.streamingThreshold = observerConfiguration.bulkThreshold
            associationRewriter.maxInflatedSize = observerConfiguration.decodingOptions.maxInflatedSize
            rewriting = associationRewriter
        }
        isRewriting = rewriting != nil
        masking = SecretMasking(shared.configuration)
        lastActivity = .now()
        finished = channel.eventLoop.makePromise()
        self.onFinish = onFinish
    }

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
        return handlers
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    // MARK: From the glue handlers

    func mayRead(_ role: PeerRole) -> Bool {
        guard machine.mayRead(role), !committing else { return false }
        switch machine.state {
        case .awaitingAssociateRequest, .closing, .closed:
            return true
        case .connecting, .awaitingAssociateResponse, .relaying:
            // Backpressure: read from one peer only while the other can take the bytes.
            return handler(role.other)?.isWritable ?? false
        }
    }

    func becameWritable(_ role: PeerRole) {
        handler(role.other)?.resumeReading()
    }

    func readComplete(from role: PeerRole) {
        handler(role.other)?.flush()
        // Decode what was just forwarded only now, after the flush: the peers never wait for the logs.
        observeDeferred()
    }

    private func observeDeferred() {
        if !deferredRewritten.isEmpty {
            let pending = deferredRewritten
            deferredRewritten.removeAll(keepingCapacity: true)
            for item in pending {
                emit(observer.receive(item.pdu, bodyLength: item.bodyLength, streamOffset: item.streamOffset, from: item.role,
                                      at: item.time))
            }
        }
        guard !deferredObservations.isEmpty else { return }
        let pending = deferredObservations
        deferredObservations.removeAll(keepingCapacity: true)
        for item in pending {
            emit(observer.receive(item.pdu, frame: item.frame, from: item.role, at: item.time))
        }
    }

    /// P-DATA PDUs forwarded in the current read burst, observed after the flush.
    private var deferredObservations: [(pdu: PDU, frame: PDUFrame, role: PeerRole, time: Timestamp)] = []
    /// With rewriting on: the P-DATA PDUs of the upstream leg in the current read burst, observed after the flush.
    private var deferredRewritten: [(pdu: PDU, bodyLength: Int, streamOffset: Int, role: PeerRole, time: Timestamp)] = []

    func received(_ input: RelayInput, from role: PeerRole) {
        // Frames still buffered by a framer when the association was over are dropped.
        guard !isFinished else { return }
        if committing {
            waitingForCommit.append(.input(input, role))
            return
        }
        lastActivity = .now()
        let now = wallClock()
        switch input {
        case .truncated(let bytes):
            // The observer reports the cut PDU when the connection closes.
            emit(observer.receive(bytes, from: role, at: now))
            logger.debug("the \(role) closed its connection \(bytes.readableBytes) bytes into a PDU")
        case .pdu(let frame, let bytes) where isRewriting:
            receivedRewriting(frame, bytes: bytes, from: role, at: now)
        case .pdu(let frame, let bytes):
            // Decoded once: the result drives the relay and goes to the observer. An undecodable
            // PDU becomes the observer's finding (its bytes are logged after it). P-DATA is
            // forwarded and flushed before it is observed, so observing adds no latency to the
            // relay; association PDUs are observed first, for the AE titles in the log lines.
            let decoded = Result { () throws(PDUDecodingError) in try PDUDecoder.decode(frame) }
            let isData = frame.type == .dataTransfer
            // Keep the observer's order: P-DATA deferred in this burst goes first.
            if !isData { observeDeferred() }
            let events = isData ? [] : observe(decoded, frame: frame, from: role, at: now)
            let action: RelayStateMachine.Action
            var malformed = false
            switch decoded {
            case .success(let pdu):
                action = role == .requestor ? machine.requestorSent(pdu) : machine.acceptorSent(pdu)
                if case .associateRequest = pdu, case .connect(let upstream) = action { associationRequested(upstream: upstream) }
                if role == .acceptor, machine.state == .relaying { cancelResponseTimer() }
            case .failure(let error):
                malformed = true
                action = machine.malformedPDU(from: role, unknownType: false, detail: "\(error)")
            }
            if case .reject(_, _, let reason) = action, reason.refusedRequest { associationRequested(upstream: nil, refused: reason) }
            if isData {
                run(action, pdu: bytes)
                if case .success(let pdu) = decoded, !isFinished {
                    deferredObservations.append((pdu, frame, role, now))
                } else {
                    observeDeferred()
                    emit(observe(decoded, frame: frame, from: role, at: now))
                    if malformed { logRawBytes(bytes, from: role) }
                }
            } else {
                emit(events)
                if malformed { logRawBytes(bytes, from: role) }
                run(action, pdu: bytes)
            }
        }
    }

    private func observe(_ decoded: Result<PDU, PDUDecodingError>, frame: PDUFrame, from role: PeerRole,
                         at time: Timestamp) -> [ObservationEvent] {
        switch decoded {
        case .success(let pdu): return observer.receive(pdu, frame: frame, from: role, at: time)
        case .failure: return observer.receive(frame: frame, from: role, at: time)
        }
    }

    func inputClosed(_ role: PeerRole) {
        if committing {
            waitingForCommit.append(.inputClosed(role))
            return
        }
        noteCloseMidAssociation(by: role)
        run(machine.inputClosed(role), pdu: nil)
    }

    func channelClosed(_ role: PeerRole) {
        // An upstream channel that never joined the association (failed or late connect) is not ours.
        if role == .acceptor && !acceptorAttached { return }
        if committing {
            waitingForCommit.append(.channelClosed(role))
            return
        }
        noteCloseMidAssociation(by: role)
        run(machine.channelClosed(role), pdu: nil)
        finishIfDone()
    }

    /// Peers that closed their connection while the association was open, reported once each.
    private var closedMidAssociation: Set<PeerRole> = []

    /// A peer's connection closed while the association was open and the proxy was not closing it: says so.
    private func noteCloseMidAssociation(by role: PeerRole) {
        guard !isFinished, closeReason == nil, !closedMidAssociation.contains(role) else { return }
        switch observer.info.outcome {
        case .established, .releaseRequested:
            break
        case .negotiating, .rejected, .released, .aborted, .connectionClosed, .openAtCaptureEnd, .unknownStart:
            return
        }
        closedMidAssociation.insert(role)
        let who = role == .acceptor ? "the upstream SCP (\(upstream.map { "\($0)" } ?? "?"))" : "the SCU (\(client))"
        note(Finding(.peerClosedConnection, .warning,
                     "\(who) closed its connection in the middle of the association, without A-RELEASE or A-ABORT; "
                     + "the close is passed on to the \(role == .acceptor ? "SCU" : "upstream")",
                     time: wallClock(), sender: role))
    }

    func errorCaught(_ error: any Error, from role: PeerRole) {
        if committing {
            waitingForCommit.append(.error(error, role))
            return
        }
        if let error = error as? PDUDecodingError {
            // The framer refused a PDU header: unknown PDU type or over the length bound. With
            // rewriting on, the SCU's bytes may hold original identifiers: only offsets and
            // lengths are said, not the bytes (unless `logOriginals`).
            let text = masking.describe(error, from: role)
            let finding = Finding(.malformedPDU, .error, "cannot frame the \(role)'s stream: \(text)", time: wallClock(),
                                  sender: role, streamOffset: error.offset)
            note(finding, rawBytes: error.rawBytes.flatMap { masking.shownBytes($0, from: role) })
            run(machine.malformedPDU(from: role, unknownType: error.code == .unknownPDUType, detail: text), pdu: nil)
        } else if case ByteToMessageDecoderError.dataReceivedInErrorState = error {
            // More bytes after a framing error: the connection is being closed already.
        } else {
            // The peer went away (connection reset and the like): close the other side cleanly.
            logger.debug("connection to the \(role) failed: \(error)")
            handler(role)?.close()
        }
    }

    // MARK: Actions

    private func handler(_ role: PeerRole) -> RelaySideHandler? {
        role == .requestor ? requestor : acceptor
    }

    private func run(_ action: RelayStateMachine.Action, pdu: ByteBuffer?) {
        switch action {
        case .none:
            break
        case .hold:
            if let pdu { held.append(pdu) }
        case .connect(let upstream):
            if let pdu { held.append(pdu) }
            connect(to: upstream)
        case .forward(let role):
            if let pdu { handler(role)?.write(pdu) }
        case .sendHeldPDUs:
            for pdu in held { acceptor?.write(pdu) }
            held = []
            acceptor?.flush()
            requestor?.resumeReading()
        case .reject(let rj, let abortAcceptor, let reason):
            closeReason = reason
            cancelResponseTimer()
            note(reason)
            let alsoUpstream = abortAcceptor ? "; -> upstream  A-ABORT" : ""
            logger.info("-> SCU  A-ASSOCIATE-RJ: \(rj)\(alsoUpstream)")
            requestor?.send(PDU.associateReject(rj).encoded(), thenCloseWithin: Self.closeDeadline)
            if abortAcceptor {
                acceptor?.send(PDU.abort(Abort(source: .serviceProvider, reason: .notSpecified)).encoded(),
                               thenCloseWithin: Self.closeDeadline)
            }
        case .abort(let abort, let reason):
            closeReason = reason
            cancelResponseTimer()
            note(reason)
            let sides = [machine.requestorOpen ? "SCU" : nil, machine.acceptorOpen ? "upstream" : nil].compactMap { $0 }
            logger.info("-> \(sides.joined(separator: " and "))  A-ABORT: \(abort)")
            let bytes = PDU.abort(abort).encoded()
            if machine.requestorOpen { requestor?.send(bytes, thenCloseWithin: Self.closeDeadline) }
            if machine.acceptorOpen { acceptor?.send(bytes, thenCloseWithin: Self.closeDeadline) }
        case .closeOutput(let role):
            handler(role)?.closeOutput()
        case .close(let role):
            handler(role)?.close()
        case .closeBoth:
            requestor?.close()
            acceptor?.close()
        case .closeLateUpstream:
            break  // handled where the connection completes
        }
    }

    private func connect(to upstream: ProxyEndpoint) {
        let acceptor = RelaySideHandler(role: .acceptor, relay: self)
        self.acceptor = acceptor
        let bound = NIOLoopBound(acceptor, eventLoop: eventLoop)
        let maximumPDULength = configuration.maximumPDULength
        let tap = configuration.tap
        let id = self.id
        let upstreamRecorder = isRewriting ? recorder.map { NIOLoopBound(PCAPRecordingHandler(recorder: $0, leg: .acceptor),
                                                                              eventLoop: eventLoop) } : nil
        let upstreamTLS = upstream.tls ? shared.tls.current.upstream : nil
        let relay = NIOLoopBound(self, eventLoop: eventLoop)
        responseTimer = eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.connectTimeout)) { [self] in
            run(machine.associationResponseTimedOut(), pdu: nil)
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
                        run(action, pdu: nil)
                    }
                case .failure(let error):
                    self.acceptor = nil
                    run(machine.upstreamConnectFailed(
                        SocketFailure(connectingTo: upstream.host, port: upstream.port, error: error).description), pdu: nil)
                }
                finishIfDone()
            }
    }

    private func cancelResponseTimer() {
        responseTimer?.cancel()
        responseTimer = nil
    }

    private func scheduleIdleCheck(in delay: TimeAmount) {
        idleTimer = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard !isFinished else { return }
            let limit = TimeAmount(configuration.idleTimeout)
            // Writing a message's new pseudonyms: the peers wait for us, the association is not idle.
            if committing { lastActivity = .now() }
            let idleFor = NIODeadline.now() - lastActivity
            if idleFor >= limit {
                run(machine.idleTimedOut(), pdu: nil)
                finishIfDone()
            } else {
                scheduleIdleCheck(in: limit - idleFor)
            }
        }
    }

    /// The proxy is shutting down and the grace period is over.
    func abortForShutdown() {
        guard !isFinished else { return }
        run(machine.shutdownGraceExpired(), pdu: nil)
        finishIfDone()
    }

    // MARK: Outputs

    private func associationRequested(upstream: ProxyEndpoint?, refused: RelayCloseReason? = nil) {
        self.upstream = upstream
        let info = observer.info
        let calling = info.callingAETitle ?? "?"
        let called = info.calledAETitle ?? "?"
        let via = upstream.map { "via \($0)" } ?? (refused?.code == .callingAETitleNotAllowed ? "(not allowed)" : "via (no route)")
        logger.info("ASSOCIATE  \(client)  \"\(calling)\" -> \"\(called)\"  \(via)")
        openFiles()
        if let events = shared.events {
            events.write(format.start(time: info.requestTime ?? startTime, client: client,
                                      server: upstream.map { "\($0)" } ?? "", info: info).serialized() + "\n")
        }
    }

    /// A leg's TLS handshake ended: its session (version, suite, the peer's certificate) or the reason it failed, in
    /// words, to the console, the text log and `events.jsonl`. A failed handshake closes that leg's connection; the
    /// relay then ends the association as for any closed connection.
    func tlsHandshake(_ outcome: TLSHandshakeOutcome, leg: PeerRole) {
        let peer = leg == .requestor ? "SCU \(client)" : "SCP \(upstream.map { "\($0)" } ?? "?")"
        let time = wallClock()
        switch outcome {
        case .established(let session):
            tlsSessions[leg] = session
            logger.info("TLS  \(peer): \(session)")
            writeText(["[\(relativeSeconds(time, origin: startTime))] TLS \(peer): \(session)"])
            shared.events?.write(format.tls(session, leg: leg, time: time).serialized() + "\n")
        case .failed(let failure):
            logger.info("TLS  \(peer): handshake failed: \(failure.reason)")
            writeText(["[\(relativeSeconds(time, origin: startTime))] TLS \(peer): handshake failed: \(failure.reason)"])
            shared.events?.write(format.tlsFailure(failure.reason, leg: leg, peer: peer, time: time).serialized() + "\n")
        }
    }

    /// Names and opens the text log and the recording (once the AE titles are known, or at the end).
    private func openFiles() {
        guard !textLogOpened else { return }
        textLogOpened = true
        let info = observer.info
        // A leg over TLS: the recording is its decrypted stream, and its name says so.
        let decrypted = !tlsSessions.isEmpty || upstream?.tls == true
        let stem = associationFileStem(start: startTime, id: id, calling: info.callingAETitle, called: info.calledAETitle)
            + (decrypted ? "-decrypted" : "")
        if let directory = configuration.recordDirectory {
            recorder?.open(directory: directory, stem: stem)
        }
        guard let directory = configuration.logDirectory else { return }
        do {
            let logger = self.logger
            let file = try AppendOnlyFile(newFileIn: directory, stem: stem, suffix: "txt") { problem in
                logger.info("the association's text log is incomplete: \(problem)")
            }
            let header = "=== Association \(id): \(client) -> \(upstream.map { "\($0)" } ?? "(no upstream)")"
                + (info.callingAETitle.map { "  \"\($0)\"" } ?? "") + (info.calledAETitle.map { " -> \"\($0)\"" } ?? "")
                + "  start \(iso8601(startTime))\n"
            file.write(header + textLogPending.map { $0 + "\n" }.joined())
            textLogPending = []
            textLog = file
        } catch {
            logger.info("this association has no text log: \(error)")
        }
    }

    private func writeText(_ lines: [String]) {
        guard configuration.logDirectory != nil, !lines.isEmpty else { return }
        if let textLog {
            textLog.write(lines.map { $0 + "\n" }.joined())
        } else if !textLogOpened {
            textLogPending += lines
        }
    }

    private func emit(_ events: [ObservationEvent]) {
        for event in events {
            writeText(renderer.render(event, info: observer.info))
            if let file = shared.events, let json = format.event(event, observer: observer) {
                file.write(json.serialized() + "\n")
            }
            switch event {
            case .pdu(let pdu, let sender, _, _, let length):
                logger.debug("\(ProxyEventFormat.pduLine(pdu, sender: sender, length: length))")
            case .message(let message, _):
                logger.debug("\(ProxyEventFormat.messageLine(message))")
                if message.dataSet != nil {
                    logger.trace("\(configuration.redactIdentifiers ? "    (data set not shown: --redact-identifiers)" : dataSetDump(message))")
                }
            case .exchangeEnded(let exchange):
                // One still open when the association ended is reported by its finding.
                if exchange.isComplete {
                    logger.info("\(ProxyEventFormat.exchangeLine(exchange, redactingIdentifiers: configuration.redactIdentifiers))")
                }
            case .finding(let finding):
                // Values a finding quotes ('...') may be identifiers: not on a redacted console.
                let message = configuration.redactIdentifiers ? ProxyEventFormat.redactingQuotedValues(finding.message) : finding.message
                if finding.severity >= .warning {
                    logger.info("!! \(finding.severity) \(finding.code): \(message)")
                } else {
                    logger.debug("\(finding.severity) \(finding.code): \(message)")
                }
            }
        }
    }

    private func dataSetDump(_ message: ObservedMessage) -> String {
        var options = AnnotatedDumpRenderer.Options(allDataSets: true)
        options.dataset = TextDumpRenderer.Options()
        let lines = AnnotatedDumpRenderer(options: options, origin: startTime).render(message, info: observer.info)
        return lines.dropFirst().joined(separator: "\n")
    }

    /// A finding of the proxy's own, to every output.
    private func note(_ finding: Finding, rawBytes: ByteBuffer? = nil) {
        var lines = renderer.render(.finding(finding), info: observer.info)
        if let rawBytes { lines += hexDump(rawBytes).map { "    " + $0 } }
        writeText(lines)
        shared.events?.write(format.finding(finding, rawBytes: rawBytes).serialized() + "\n")
        let hexLines = rawBytes.map { "\n" + hexDump($0).joined(separator: "\n") } ?? ""
        logger.info("!! \(finding.severity) \(finding.code): \(finding.message)\(hexLines)")
    }

    private func note(_ reason: RelayCloseReason) {
        let time = wallClock()
        switch reason {
        case .noRoute: note(Finding(.noRoute, .error, reason.description, time: time))
        case .callingAETitleNotAllowed:
            note(Finding(.callingAETitleNotAllowed, .error, reason.description, time: time, sender: .requestor))
        case .upstreamUnreachable: note(Finding(.upstreamUnreachable, .error, reason.description, time: time))
        case .upstreamNotAnswering: note(Finding(.upstreamNotAnswering, .error, reason.description, time: time))
        case .unexpectedFirstPDU: note(Finding(.unexpectedFirstPDU, .error, reason.description, time: time, sender: .requestor))
        case .idle: note(Finding(.idleTimeout, .warning, reason.description, time: time))
        case .shutdown: note(Finding(.shutdownAbort, .warning, reason.description, time: time))
        case .cannotRewrite: note(Finding(.cannotRewrite, .error, reason.description, time: time, sender: .requestor))
        case .malformedPDU:
            break  // reported with its bytes where it was found
        }
    }

    /// The bytes of a PDU that does not decode, as far as the outputs may show them (`SecretMasking`).
    private func logRawBytes(_ bytes: ByteBuffer, from role: PeerRole) {
        guard let bytes = masking.shownBytes(bytes, from: role) else { return }
        let dump = hexDump(bytes)
        writeText(["    raw bytes from the \(role):"] + dump.map { "    " + $0 })
        shared.events?.write(format.object(type: "raw-bytes", time: wallClock(), [
            ("sender", .string(role.rawValue)), ("bytes", .string(hexString(bytes))),
        ]).serialized() + "\n")
        if configuration.redactIdentifiers {
            logger.info("malformed PDU from the \(role): \(bytes.readableBytes) bytes (their hex dump is in the text log only: --redact-identifiers)")
        } else {
            logger.info("malformed PDU from the \(role):\n\(dump.joined(separator: "\n"))")
        }
    }

    private func finishIfDone() {
        guard machine.isFinished, !isFinished else { return }
        isFinished = true
        cancelResponseTimer()
        idleTimer?.cancel()
        idleTimer = nil
        let end = wallClock()
        observeDeferred()
        emit(observer.connectionClosed(at: end))
        openFiles()
        let exchanges = observer.exchangeCount
        let outcome: String
        switch closeReason {
        case .noRoute?, .callingAETitleNotAllowed?, .upstreamUnreachable?, .upstreamNotAnswering?:
            outcome = "rejected by the proxy (\(closeReason?.code.rawValue ?? ""))"
        case .unexpectedFirstPDU?, .malformedPDU?, .idle?, .shutdown?, .cannotRewrite?:
            outcome = "aborted by the proxy (\(closeReason?.code.rawValue ?? ""))"
        case nil:
            outcome = observer.info.outcome.description
        }
        let duration = ProxyEventFormat.milliseconds(end - startTime)
        let line = "END  \(outcome)  \(duration) ms  \(exchanges) exchange\(exchanges == 1 ? "" : "s")"
        logger.info("\(line)")
        writeText(["[\(relativeSeconds(end, origin: startTime))] \(line)"])
        shared.events?.write(format.end(time: end, start: startTime, client: client, server: upstream.map { "\($0)" },
                                        observer: observer, reason: closeReason?.description).serialized() + "\n")
        textLog = nil
        requestor = nil
        acceptor = nil
        held = []
        let finished = self.finished
        let onFinish = self.onFinish
        let id = self.id
        (recorder?.close(on: eventLoop) ?? eventLoop.makeSucceededVoidFuture()).whenComplete { _ in
            onFinish(id)
            finished.succeed(())
        }
    }

    /// Seconds since `origin`, truncated (not rounded) to the microsecond.
    private func relativeSeconds(_ t: Timestamp, origin: Timestamp) -> String {
        secondsText(microseconds: (t.nanoseconds - origin.nanoseconds) / 1000)
    }
}

// MARK: - Rewriting

extension AssociationRelay {
    /// With rewriting on: one PDU from a peer. The state machine sees the PDU as the peer sent
    /// it (routing uses the SCU's own called AE title); the other peer gets the rewritten PDUs
    /// (P-DATA only once a message is complete); the observer, and through it the console,
    /// text log, JSON events, sees the upstream side: what the SCP sent and what it was sent.
    fileprivate func receivedRewriting(_ frame: PDUFrame, bytes: ByteBuffer, from role: PeerRole, at now: Timestamp) {
        // Taken out of `self` while it is used, so that the message bytes it gathers are uniquely
        // referenced and appended to in place (a copy per PDU would make assembly quadratic).
        guard var rewriting = self.rewriting else { return }
        self.rewriting = nil
        defer { self.rewriting = rewriting }
        let decoded = Result { () throws(PDUDecodingError) in try PDUDecoder.decode(frame) }
        let pdu: PDU
        switch decoded {
        case .success(let decodedPDU):
            pdu = decodedPDU
        case .failure(let error):
            observeDeferred()
            emit(observe(decoded, frame: frame, from: role, at: now))
            // The bytes of the SCU's PDU may hold original identifiers (`logRawBytes` leaves them out).
            logRawBytes(bytes, from: role)
            run(machine.malformedPDU(from: role, unknownType: false, detail: "\(error)"), pdu: nil)
            return
        }
        var outgoing = [bytes]
        // What went over the upstream leg (the observer's view): the PDU as received from the SCP, as sent to it.
        var upstream: [(pdu: PDU, bodyLength: Int, streamOffset: Int)] = [(pdu, frame.body.readableBytes, frame.streamOffset)]
        switch pdu {
        case .associateRequest(let request) where role == .requestor:
            let rewritten = rewriting.associateRequest(request)
            if rewritten != request {
                let newPDU = PDU.associateRequest(rewritten)
                let encoded = newPDU.encoded()
                outgoing = [encoded]
                upstream = [(newPDU, encoded.readableBytes - pduHeaderLength, 0)]
            }
        case .associateAccept(let accept) where role == .acceptor:
            let restored = rewriting.associateAccept(accept)
            if restored != accept { outgoing = [PDU.associateAccept(restored).encoded()] }
        case .dataTransfer(let data):
            let result = rewriting.dataTransfer(data, from: role)
            report(result, from: role, at: now)
            if let failure = result.failure {
                observeDeferred()
                run(machine.cannotRewrite(failure), pdu: nil)
                return
            }
            outgoing = []
            for pdu in result.pdus { Self.appendPieces(of: pdu, to: &outgoing) }
            // Towards the SCP the upstream leg carries the rewritten PDUs; from it, what the SCP sent.
            if role == .requestor {
                upstream = result.pdus.map { (.dataTransfer($0), $0.bodyLength, 0) }
            }
            if !result.newRecords.isEmpty, let store = configuration.rewriter?.store {
                // The message goes on once the mapping store holds its new pseudonyms.
                committing = true
                commitPending = (pdu, outgoing, upstream, role, now)
                let relay = NIOLoopBound(self, eventLoop: eventLoop)
                let loop = eventLoop
                store.commitInBackground(result.newRecords) { error in
                    let text = error.map { "\($0.message)" }
                    loop.execute { relay.value.committed(failure: text) }
                }
                return
            }
        default:
            break
        }
        forwardRewritten(pdu, outgoing: outgoing, upstream: upstream, from: role, at: now)
    }

    /// A message's new pseudonyms are in the mapping store (or could not be written: the
    /// association is aborted, and nothing of the message goes on).
    private func committed(failure: String?) {
        committing = false
        lastActivity = .now()
        guard !isFinished, let pending = commitPending else { return }
        commitPending = nil
        let waiting = waitingForCommit
        waitingForCommit.removeAll()
        if let failure {
            observeDeferred()
            run(machine.cannotRewrite("the message's new pseudonyms could not be committed: \(failure)"), pdu: nil)
            // Nothing more goes on; what the channels said meanwhile still counts.
            for event in waiting {
                if case .input = event { continue }
                replay(event)
            }
            return
        }
        forwardRewritten(pending.pdu, outgoing: pending.outgoing, upstream: pending.upstream, from: pending.role,
                         at: pending.time)
        for event in waiting { replay(event) }
        for role in [PeerRole.requestor, .acceptor] {
            handler(role)?.flush()
            handler(role)?.resumeReading()
        }
        if !committing { observeDeferred() }
    }

    private func replay(_ event: WaitingEvent) {
        switch event {
        case .input(let input, let role): received(input, from: role)
        case .inputClosed(let role): inputClosed(role)
        case .channelClosed(let role): channelClosed(role)
        case .error(let error, let role): errorCaught(error, from: role)
        }
    }

    /// Sends what a PDU became and drives the state machine with the PDU as the peer sent it.
    private func forwardRewritten(_ pdu: PDU, outgoing: [ByteBuffer],
                                  upstream: [(pdu: PDU, bodyLength: Int, streamOffset: Int)], from role: PeerRole, at now: Timestamp) {
        var upstream = upstream
        // The proxy's own PDUs to the SCP are at their offsets in what it sent.
        if role == .requestor {
            for index in upstream.indices {
                let offset = sentOffset[.acceptor] ?? 0
                upstream[index].streamOffset = offset
                sentOffset[.acceptor] = offset + pduHeaderLength + upstream[index].bodyLength
            }
        }
        let isData: Bool
        if case .dataTransfer = pdu { isData = true } else { isData = false }
        if !isData {
            observeDeferred()
            for item in upstream {
                emit(observer.receive(item.pdu, bodyLength: item.bodyLength, streamOffset: item.streamOffset, from: role, at: now))
            }
        }
        let action = role == .requestor ? machine.requestorSent(pdu) : machine.acceptorSent(pdu)
        if case .associateRequest = pdu, case .connect(let upstream) = action { associationRequested(upstream: upstream) }
        if role == .acceptor, machine.state == .relaying { cancelResponseTimer() }
        if case .reject(_, _, let reason) = action, reason.refusedRequest { associationRequested(upstream: nil, refused: reason) }
        switch action {
        case .forward(let to):
            for pdu in outgoing { handler(to)?.write(pdu) }
        case .hold, .connect:
            held += outgoing
            run(action, pdu: nil)
        case .none, .sendHeldPDUs, .reject, .abort, .closeOutput, .close, .closeBoth, .closeLateUpstream:
            run(action, pdu: nil)
        }
        if isData && !isFinished {
            for item in upstream {
                deferredRewritten.append((item.pdu, item.bodyLength, item.streamOffset, role, now))
            }
        }
    }

    /// Fragments of at least this many bytes are written as they are (after their headers), not copied.
    private static let copyLimit = 4096

    /// The bytes of a P-DATA-TF as buffers to write in order: the PDU and PDV headers, and each
    /// large fragment's own bytes (a slice of what was received or rewritten: no copy).
    static func appendPieces(of pdu: DataTransfer, to out: inout [ByteBuffer]) {
        var headers = ByteBuffer()
        headers.reserveCapacity(pduHeaderLength + 6 + min(pdu.bodyLength, copyLimit))
        headers.writeInteger(PDUType.dataTransfer.rawValue)
        headers.writeInteger(pdu.reserved)
        headers.writeInteger(UInt32(pdu.bodyLength))
        for item in pdu.items {
            headers.writeInteger(UInt32(item.itemLength))
            headers.writeInteger(item.presentationContextID)
            headers.writeInteger(item.messageControlHeader.rawValue)
            var fragment = item.fragment
            if fragment.readableBytes < copyLimit {
                headers.writeBuffer(&fragment)
            } else {
                out.append(headers)
                out.append(fragment)
                headers = ByteBuffer()
            }
        }
        if headers.readableBytes > 0 { out.append(headers) }
    }

    /// The rewriter's notes to the outputs. Originals only with `logOriginals`; otherwise only
    /// the values on the SCP's side.
    private func report(_ result: AssociationRewriter.DataResult, from role: PeerRole, at now: Timestamp) {
        for item in result.notes {
            let name = "\(item.path) \(item.attributeName)"
            switch item.kind {
            case .unknownPseudonym:
                note(Finding(.unknownPseudonym, .warning,
                             "\(name) '\(item.before)' from the SCP is not a value this proxy issued; passed through unchanged",
                             time: now, sender: .acceptor))
            case .notRestored:
                note(Finding(.rewriteProblem, .warning, "\(name) '\(item.before)' not mapped back: \(item.detail ?? "")",
                             time: now, sender: .acceptor))
            case .emptied:
                note(Finding(.rewriteProblem, .warning, "\(name) emptied on its way to the SCP: \(item.detail ?? "")",
                             time: now, sender: .requestor))
            case .widened:
                note(Finding(.queryWidened, .warning, "\(name): \(item.detail ?? "sent as universal matching")",
                             time: now, sender: .requestor))
            case .added:
                let line = "ADD \(name): \(item.after) (\(item.detail ?? ""))"
                logger.debug("\(line)")
                writeText(["[\(relativeSeconds(now, origin: startTime))] \(line)"])
            case .rewritten, .removed, .restored:
                let verb = item.kind == .restored ? "RESTORE" : item.kind == .removed ? "REMOVE" : "REWRITE"
                let line: String
                if item.kind == .removed {
                    line = "\(verb) \(name)" + (configuration.logOriginals ? ": was '\(item.before)'" : "")
                } else if configuration.logOriginals {
                    line = "\(verb) \(name): '\(item.before)' -> '\(item.after)'"
                } else if item.kind == .restored {
                    line = "\(verb) \(name): '\(item.upstreamValue)' -> (original)"
                } else {
                    line = "\(verb) \(name): (original) -> '\(item.upstreamValue)'"
                }
                if configuration.logOriginals { logger.info("\(line)") } else { logger.debug("\(line)") }
                writeText(["[\(relativeSeconds(now, origin: startTime))] \(line)"])
            }
        }
        for problem in result.problems {
            note(Finding(.rewriteProblem, .warning, "sent on unchanged: \(problem)", time: now, sender: role))
        }
    }
}
