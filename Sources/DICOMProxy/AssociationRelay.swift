import DICOMCore
import DICOMInspect
import enum DICOMNetwork.TLSHandshakeOutcome
import DICOMRewrite
import DICOMUL
import DIMSE
import Logging
import NIOCore

/// What every association of one proxy shares (immutable or internally serialised).
struct ProxyShared: Sendable {
    let configuration: ProxyConfiguration
    /// `events.jsonl` in the log directory.
    let events: AppendOnlyFile?
    /// The HTML pages and `index.html` in the log directory.
    var pages: HTMLLogPages? = nil
    let logger: Logger
    /// The TLS contexts new connections use (`DICOMProxyServer.reloadTLS` replaces them; open ones keep theirs).
    let tls: TLSContexts
}

/// One relayed association: it runs the actions of a `RelayStateMachine` between the SCU's
/// channel and the upstream channel (through their `RelaySideHandler`s), its timers and its
/// I/O. Each PDU goes one way only: decoded once, through the association's `PDUTransform`
/// (the identity, or rewriting), to the state machine and the other peer, and what went over
/// the upstream leg to `RelayOutputs` (observer, logs, console). Confined to the event loop of
/// the SCU's channel, where the upstream channel is opened too: no locks.
final class AssociationRelay: RelaySideDelegate {
    let id: String
    let eventLoop: any EventLoop
    let shared: ProxyShared
    var configuration: ProxyConfiguration { shared.configuration }
    let logger: Logger
    var machine: RelayStateMachine
    let outputs: RelayOutputs
    private var log: AssociationLog { outputs.log }
    private var transform: PDUTransform

    /// With rewriting on: a message's new pseudonyms are being committed to the mapping store
    /// (off the event loop); its PDU waits in `commitPending`, and what the peers send meanwhile
    /// waits in `waitingForCommit`, in order. Neither peer is read until the commit is done.
    var committing = false
    private var commitPending: (pdu: PDU, output: PDUTransform.Output, role: PeerRole, time: Timestamp)?
    private var waitingForCommit: [WaitingEvent] = []

    /// What a peer's channel reported while a commit was pending, replayed in order after it.
    private enum WaitingEvent {
        case input(RelayInput, PeerRole)
        case inputClosed(PeerRole)
        case channelClosed(PeerRole)
        case error(any Error, PeerRole)
    }

    var requestor: RelaySideHandler?
    var acceptor: RelaySideHandler?
    /// The upstream connection opened and the association went on with it.
    var acceptorAttached = false
    /// PDUs from the SCU kept while the upstream connection opens (the A-ASSOCIATE-RQ).
    var held: [ByteBuffer] = []
    /// P-DATA forwarded in the current read burst, observed after the flush.
    private var deferred: [(pdu: ObservedPDU, role: PeerRole, time: Timestamp)] = []

    let recorder: AssociationRecorder?
    let startTime: Timestamp
    var closeReason: RelayCloseReason?
    var responseTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?
    var lastActivity: NIODeadline
    var isFinished = false
    /// Succeeded once the association is over and its files are written.
    let finished: EventLoopPromise<Void>
    let onFinish: @Sendable (String) -> Void
    /// Told once the SCU's A-ASSOCIATE-RQ is in (the connection is no longer one to close to make room).
    private let onAssociateRequest: @Sendable (String) -> Void
    /// ARTIM: runs from the connection's start until its A-ASSOCIATE-RQ is in.
    var artimTimer: Scheduled<Void>?
    /// When the connection was accepted.
    let accepted: NIODeadline

    /// Time the proxy waits for a peer to take one of its own PDUs before closing anyway.
    static let closeDeadline: TimeAmount = .seconds(2)

    /// `overLimit`: the connection came past `--max-associations` (this limit); its A-ASSOCIATE-RQ gets
    /// A-ASSOCIATE-RJ 2/3/2.
    init(id: String, channel: any Channel, shared: ProxyShared, overLimit: Int? = nil,
         onAssociateRequest: @escaping @Sendable (String) -> Void = { _ in }, onFinish: @escaping @Sendable (String) -> Void) {
        self.id = id
        eventLoop = channel.eventLoop
        self.shared = shared
        var logger = shared.logger
        logger[metadataKey: ProxyLogKey.associationID] = .string(id)
        self.logger = logger
        machine = RelayStateMachine(routing: shared.configuration.routing, allowList: shared.configuration.allowList,
                                    requestorAddress: channel.remoteAddress.flatMap { IPAddress($0) }, overLimit: overLimit,
                                    minimumMaximumLength: shared.configuration.rewriter == nil ? 0
                                        : max(shared.configuration.minimumMaximumPDULength, MessageFragmenter.smallestMaximumLength))
        var observerConfiguration = shared.configuration.observer
        observerConfiguration.maximumPDULength = shared.configuration.maximumPDULength
        observerConfiguration.emitsEvents = shared.configuration.logDirectory != nil || shared.logger.logLevel <= .debug
        startTime = Timestamp.wallClock()
        recorder = shared.configuration.recordDirectory != nil
            ? AssociationRecorder(recordsSecrets: shared.configuration.recordSecrets, logger: logger) : nil
        outputs = RelayOutputs(id: id, start: startTime, client: channel.remoteAddress.map(Self.describe) ?? "?",
                               observer: observerConfiguration, shared: shared, logger: logger, recorder: recorder)
        transform = PDUTransform(rewriter: shared.configuration.rewriter.map { rewriter in
            var associationRewriter = AssociationRewriter(rewriter: rewriter, assembler: observerConfiguration.assembler)
            associationRewriter.streamingThreshold = observerConfiguration.bulkThreshold
            associationRewriter.maxInflatedSize = observerConfiguration.decodingOptions.maxInflatedSize
            return associationRewriter
        })
        lastActivity = .now()
        accepted = lastActivity
        finished = channel.eventLoop.makePromise()
        self.onFinish = onFinish
        self.onAssociateRequest = onAssociateRequest
    }

    /// Rewriting is on for this association: the recording is of the upstream leg.
    var isRewriting: Bool { transform.rewrites }

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

    func observeDeferred() {
        guard !deferred.isEmpty else { return }
        let pending = deferred
        deferred.removeAll(keepingCapacity: true)
        for item in pending {
            outputs.count(item.pdu, from: item.role)
            outputs.emit(log.receive(item.pdu.pdu, bodyLength: item.pdu.bodyLength, streamOffset: item.pdu.streamOffset,
                                     from: item.role, at: item.time))
        }
    }

    func received(_ input: RelayInput, from role: PeerRole) {
        // Frames still buffered by a framer when the association was over are dropped.
        guard !isFinished else { return }
        if committing {
            waitingForCommit.append(.input(input, role))
            return
        }
        lastActivity = .now()
        let now = Timestamp.wallClock()
        switch input {
        case .truncated(let bytes):
            // The observer reports the cut PDU when the connection closes.
            outputs.emit(log.receive(bytes, from: role, at: now))
            logger.debug("the \(role) closed its connection \(bytes.readableBytes) bytes into a PDU")
        case .pdu(let frame, let bytes):
            // Decoded once: the result drives the relay and goes to the observer. An undecodable
            // PDU becomes the observer's finding (its bytes are logged after it).
            do throws(PDUDecodingError) {
                let pdu = try PDUDecoder.decode(frame)
                relay(pdu, output: transform.apply(pdu, frame: frame, bytes: bytes, from: role), from: role, at: now)
            } catch {
                malformed(frame, bytes: bytes, error: error, from: role, at: now)
            }
        }
    }

    /// A PDU, transformed: the rewriter's notes, then on (or waiting for its pseudonyms' commit).
    private func relay(_ pdu: PDU, output: PDUTransform.Output, from role: PeerRole, at now: Timestamp) {
        if let result = output.rewrite {
            outputs.report(result, from: role, at: now)
            if let failure = result.failure {
                observeDeferred()
                run(machine.cannotRewrite(failure), pdus: [])
                return
            }
            if !result.newRecords.isEmpty, let store = configuration.rewriter?.store {
                // The message goes on once the mapping store holds its new pseudonyms.
                committing = true
                commitPending = (pdu, output, role, now)
                let relay = NIOLoopBound(self, eventLoop: eventLoop)
                let loop = eventLoop
                store.commitInBackground(result.newRecords) { error in
                    let text = error.map { "\($0.message)" }
                    loop.execute { relay.value.committed(failure: text) }
                }
                return
            }
        }
        forward(pdu, output, from: role, at: now)
    }

    /// Sends what a PDU became and drives the state machine with the PDU as the peer sent it.
    /// P-DATA is forwarded (and flushed at the end of the read) before it is observed, so
    /// observing adds no latency to the relay; association PDUs are observed first, for the AE
    /// titles in the log lines.
    private func forward(_ pdu: PDU, _ output: PDUTransform.Output, from role: PeerRole, at now: Timestamp) {
        let isData = pdu.type == .dataTransfer
        var events: [ObservationEvent] = []
        if !isData {
            // Keep the observer's order: P-DATA deferred in this burst goes first.
            observeDeferred()
            for item in output.observed {
                outputs.count(item, from: role)
                events += log.receive(item.pdu, bodyLength: item.bodyLength, streamOffset: item.streamOffset, from: role, at: now)
            }
        }
        let awaitingRequest = machine.state == .awaitingAssociateRequest
        let action = role == .requestor ? machine.requestorSent(pdu) : machine.acceptorSent(pdu)
        if awaitingRequest, role == .requestor, case .associateRequest = pdu {
            artimTimer?.cancel()
            artimTimer = nil
            onAssociateRequest(id)
        }
        if case .associateRequest = pdu, case .connect(let upstream) = action { outputs.associationRequested(upstream: upstream) }
        if role == .acceptor, machine.state == .relaying { cancelResponseTimer() }
        if case .reject(_, _, let reason) = action, reason.refusedRequest { outputs.associationRequested(upstream: nil, refused: reason) }
        outputs.emit(events)
        run(action, pdus: output.outgoing)
        if isData && !isFinished {
            deferred += output.observed.map { ($0, role, now) }
        }
    }

    /// A framed PDU that does not decode: the observer's finding, its bytes, an A-ABORT.
    private func malformed(_ frame: PDUFrame, bytes: ByteBuffer, error: PDUDecodingError, from role: PeerRole, at now: Timestamp) {
        let action = machine.malformedPDU(from: role, unknownType: false, detail: "\(error)")
        // Relayed byte for byte, P-DATA's action runs before it is observed, as for a P-DATA that decodes.
        let actsFirst = frame.type == .dataTransfer && !transform.rewrites
        if actsFirst { run(action, pdus: []) }
        observeDeferred()
        outputs.emit(log.receive(frame: frame, from: role, at: now))
        // With rewriting on, the bytes of the SCU's PDU may hold original identifiers (`logRawBytes` leaves them out).
        outputs.logRawBytes(bytes, from: role)
        if !actsFirst { run(action, pdus: []) }
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
            run(machine.cannotRewrite("the message's new pseudonyms could not be committed: \(failure)"), pdus: [])
            // Nothing more goes on; what the channels said meanwhile still counts.
            for event in waiting {
                if case .input = event { continue }
                replay(event)
            }
            return
        }
        forward(pending.pdu, pending.output, from: pending.role, at: pending.time)
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

    func inputClosed(_ role: PeerRole) {
        if committing {
            waitingForCommit.append(.inputClosed(role))
            return
        }
        noteCloseMidAssociation(by: role)
        run(machine.inputClosed(role), pdus: [])
    }

    func channelClosed(_ role: PeerRole) {
        // An upstream channel that never joined the association (failed or late connect) is not ours.
        if role == .acceptor && !acceptorAttached { return }
        if committing {
            waitingForCommit.append(.channelClosed(role))
            return
        }
        noteCloseMidAssociation(by: role)
        run(machine.channelClosed(role), pdus: [])
        finishIfDone()
    }

    /// A peer's connection closed while the association was open and the proxy was not closing it.
    private func noteCloseMidAssociation(by role: PeerRole) {
        guard !isFinished, closeReason == nil else { return }
        outputs.noteCloseMidAssociation(by: role)
    }

    func errorCaught(_ error: any Error, from role: PeerRole) {
        if committing {
            waitingForCommit.append(.error(error, role))
            return
        }
        if let error = error as? PDUDecodingError {
            let text = outputs.cannotFrame(error, from: role)
            run(machine.malformedPDU(from: role, unknownType: error.code == .unknownPDUType, detail: text), pdus: [])
        } else if case ByteToMessageDecoderError.dataReceivedInErrorState = error {
            // More bytes after a framing error: the connection is being closed already.
        } else {
            // The peer went away (connection reset and the like): close the other side cleanly.
            logger.debug("connection to the \(role) failed: \(error)")
            handler(role)?.close()
        }
    }
}

extension AssociationRelay {
    /// A leg's TLS handshake ended (the TLS handlers at the front of that leg's pipeline report it). A failed
    /// handshake closes that leg's connection; the relay then ends the association as for any closed connection.
    func tlsHandshake(_ outcome: TLSHandshakeOutcome, leg: PeerRole) {
        outputs.tlsHandshake(outcome, leg: leg)
    }
}
