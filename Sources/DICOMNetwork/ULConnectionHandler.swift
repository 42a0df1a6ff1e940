import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// What a connection reports to its owner (our SCU's mailbox or our SCP's session), on the event loop.
enum ULEvent: Sendable {
    /// Acceptor: the peer's A-ASSOCIATE-RQ; the owner's `decide` closure has already answered it.
    case associationRequested(AssociateRequest)
    /// Both roles: the association is established, with the contexts accepted on it.
    case established(request: AssociateRequest, accept: AssociateAccept, contexts: [AcceptedContext])
    case rejected(AssociateReject)
    case message(DIMSEMessageAssembly)
    /// The peer asked to release; we answered A-RELEASE-RP.
    case releaseRequested
    /// Our release request was answered.
    case released
    case aborted(source: UInt8, reason: UInt8)
    case protocolError(String)
    /// The peer sent nothing within the idle timeout; an A-ABORT follows.
    case idleTimeout
    /// The transport closed; always the last event.
    case closed
}

/// One DICOM Upper Layer connection, either role, driven by the PS3.8 §9.2 state machine
/// (`AssociationStateMachine`) with its ARTIM timer: frames in (from `PDUFrameDecoder`), PDUs out,
/// P-DATA assembled into DIMSE messages with `MessageAssembler` and fragmented with `MessageFragmenter`.
/// Confined to its event loop; the owner talks to it through `NIOLoopBound` and receives `ULEvent`s.
final class ULConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = PDUFrame
    typealias OutboundOut = ByteBuffer

    enum Role { case requestor(AssociateRequest), acceptor(decide: @Sendable (AssociateRequest) -> AssociateDecision) }

    private let role: Role
    private var machine = AssociationStateMachine()
    private var assembler: MessageAssembler
    /// Contexts the association accepted; a PDV on any other is a protocol error (PS3.8 §9.3.5).
    private var acceptedContextIDs: Set<UInt8> = []
    private var fragmenter: MessageFragmenter?
    private let artimTimeout: TimeAmount
    private var artim: Scheduled<Void>?
    private let sink: @Sendable (ULEvent) -> Void
    private let tap: AssociationTap?
    private var context: ChannelHandlerContext?
    private var request: AssociateRequest?
    private var accept: AssociateAccept?
    /// The PDU the next `.sendPDU` action sends (set by whoever fed the event).
    private var outgoing: PDU?
    private var pendingEvents: [(AssociationStateMachine.Event, PDU?)] = []
    private var draining = false
    private var closedReported = false
    /// Whether the owner was told of a protocol error (a framing error that follows is not told again).
    private var protocolErrorReported = false

    init(role: Role, artimTimeout: TimeAmount, tap: AssociationTap?, limits: MessageAssembler.Configuration = .init(),
         sink: @escaping @Sendable (ULEvent) -> Void) {
        self.role = role
        self.assembler = MessageAssembler(configuration: limits)
        self.artimTimeout = artimTimeout
        self.tap = tap
        self.sink = sink
    }

    var state: AssociationStateMachine.State { machine.state }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false
    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        switch role {
        case .requestor(let rq):
            request = rq
            feed(.associateRequest)
            feed(.transportConnectConfirmation, pdu: .associateRequest(rq))
        case .acceptor:
            feed(.transportConnectionIndication)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.channel.acknowledgeQuickly()
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let pdu: PDU
        do throws(PDUDecodingError) {
            pdu = try PDUDecoder.decode(frame)
        } catch {
            reportProtocolError("undecodable \(frame.type) PDU at stream offset \(frame.streamOffset): \(error)")
            feed(.invalidPDUReceived(reason: .invalidPDUParameterValue))
            return
        }
        tap?.onPDU(pdu, frame, peerRole, .wallClock())
        // PS3.8 Annex D.1 (Tables D.1-1 and D.1-2): the maximum length we advertised shall never be exceeded by the
        // PDU-length of a P-DATA-TF we receive, "otherwise, it shall be a protocol error" (Evt19: AA-8's A-ABORT).
        if case .dataTransfer = pdu, let limit = ownMaximumLength, limit > 0, frame.body.readableBytes > Int(limit) {
            reportProtocolError("P-DATA-TF of \(frame.body.readableBytes) bytes at stream offset \(frame.streamOffset) exceeds the maximum length \(limit) we advertised")
            feed(.invalidPDUReceived(reason: .invalidPDUParameterValue))
            return
        }
        switch pdu {
        case .associateRequest(let rq):
            request = rq
            let acceptable = rq.fields.protocolVersion & 0x0001 != 0
            let reject = AssociateReject(result: .rejectedPermanent, source: .serviceProviderACSE,
                                         reason: AssociateReject.Reason.protocolVersionNotSupported)
            feed(.associateRequestPDUReceived(acceptable: acceptable), pdu: acceptable ? nil : .associateReject(reject))
        case .associateAccept(let ac):
            accept = ac
            feed(.associateAcceptPDUReceived)
        case .associateReject(let rj):
            sink(.rejected(rj))
            feed(.associateRejectPDUReceived)
        case .dataTransfer(let pdata):
            feed(.dataTransferPDUReceived, pdu: .dataTransfer(pdata))
        case .releaseRequest:
            feed(.releaseRequestPDUReceived)
        case .releaseResponse:
            feed(.releaseResponsePDUReceived)
        case .abort(let a):
            sink(.aborted(source: a.source.rawValue, reason: a.reason.rawValue))
            feed(.abortPDUReceived(source: a.source == .serviceUser ? .serviceUser : .serviceProvider(providerReason(a.reason))))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        feed(.transportConnectionClosed)
        reportClosed()
        tap?.onClose(.wallClock())
        context.fireChannelInactive()
    }

    /// Backpressure: while the peer does not read what we write, we stop reading what it sends.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, machine.state != .sta1 {
            sink(.idleTimeout)
            feed(.abortRequest)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Framing errors (a PDU length past the bound, an unknown PDU type) from PDUFrameDecoder.
        if !protocolErrorReported {
            reportProtocolError("\(error)")
        }
        let reason: AssociationStateMachine.ProviderAbortReason =
            (error as? PDUDecodingError).map { $0.code == .unknownPDUType ? .unrecognizedPDU : .invalidPDUParameterValue } ?? .reasonNotSpecified
        if context.channel.isActive {
            feed(.invalidPDUReceived(reason: reason))
        }
    }

    private func reportProtocolError(_ description: String) {
        protocolErrorReported = true
        sink(.protocolError(description))
    }

    private var peerRole: PeerRole {
        if case .requestor = role { return .acceptor }
        return .requestor
    }

    private var ownRole: PeerRole { peerRole.other }

    /// The largest P-DATA-TF variable field we said we receive: in our A-ASSOCIATE-RQ as requestor, in our
    /// A-ASSOCIATE-AC as acceptor (nil before we sent it; 0 = unlimited).
    private var ownMaximumLength: UInt32? {
        switch role {
        case .requestor(let rq): rq.fields.maximumLength
        case .acceptor: accept?.fields.maximumLength
        }
    }

    // MARK: Owner requests (on the event loop)

    /// Sends a DIMSE message, fragmented to the peer's maximum PDU length. Fails outside Sta6.
    func send(command: DIMSECommand, dataSet: ByteBuffer?, contextID: UInt8) throws {
        guard machine.state == .sta6 || machine.state == .sta8, let fragmenter else {
            throw AssociationError.notEstablished("cannot send \(command.commandField?.description ?? "a message") in \(machine.state)")
        }
        let pdus: [DataTransfer]
        do throws(DIMSEError) {
            pdus = try fragmenter.fragment(command, dataSet: dataSet, presentationContextID: contextID)
        } catch {
            throw AssociationError.protocolViolation("\(error)")
        }
        for pdata in pdus {
            feed(.dataRequest, pdu: .dataTransfer(pdata))
        }
    }

    /// Sends the command of a message whose data set follows in pieces (`sendDataSetPDUs`); returns the
    /// fragmenter for that data set, sized to the peer's maximum PDU length.
    func beginStreamedMessage(command: DIMSECommand, contextID: UInt8) throws -> StreamFragmenter {
        guard machine.state == .sta6 || machine.state == .sta8, let fragmenter else {
            throw AssociationError.notEstablished("cannot send \(command.commandField?.description ?? "a message") in \(machine.state)")
        }
        guard command.hasDataSet else {
            throw AssociationError.protocolViolation("\(command.commandField?.description ?? "the command") announces no data set")
        }
        let commandSet: ByteBuffer
        do throws(DIMSEError) {
            commandSet = try command.encodedCommandSet()
        } catch {
            throw AssociationError.protocolViolation("\(error)")
        }
        var commandFragmenter = StreamFragmenter(maximumLength: fragmenter.maximumLength, presentationContextID: contextID,
                                                 isCommand: true)
        for pdata in commandFragmenter.add(commandSet, isLast: true) { feed(.dataRequest, pdu: .dataTransfer(pdata)) }
        return StreamFragmenter(maximumLength: fragmenter.maximumLength, presentationContextID: contextID, isCommand: false)
    }

    /// Sends P-DATA-TF PDUs of a streamed data set; the future completes once they are written (the
    /// sender waits for it before reading the next piece: one piece in flight).
    func sendDataSetPDUs(_ pdus: [DataTransfer]) -> EventLoopFuture<Void>? {
        guard machine.state == .sta6 || machine.state == .sta8, let context else { return nil }
        for pdata in pdus { feed(.dataRequest, pdu: .dataTransfer(pdata)) }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
        return written.futureResult
    }

    func requestRelease() { feed(.releaseRequest, pdu: .releaseRequest(ReleasePDU())) }

    func requestAbort() { feed(.abortRequest) }

    // MARK: The state machine

    /// Feeds an event (with the PDU a `.sendPDU` action should send, or the P-DATA received). Events fed while
    /// another is being handled (from an indication's callback) queue behind it; writes are flushed once the
    /// queue is empty.
    private func feed(_ event: AssociationStateMachine.Event, pdu: PDU? = nil) {
        pendingEvents.append((event, pdu))
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while !pendingEvents.isEmpty {
            let (next, nextPDU) = pendingEvents.removeFirst()
            outgoing = nextPDU
            let actions = machine.handle(next)
            for action in actions { run(action, for: next) }
        }
        if needsFlush {
            needsFlush = false
            context?.flush()
        }
    }

    private var needsFlush = false

    private func run(_ action: AssociationStateMachine.Action, for event: AssociationStateMachine.Event) {
        guard let context else { return }
        switch action {
        case .connectTransport:
            break  // the channel is connected before the handler starts
        case .sendPDU(let kind):
            let pdu: PDU
            switch kind {
            case .abort(let source):
                pdu = .abort(Abort(source: Abort.Source(rawValue: source.sourceValue), reason: Abort.Reason(rawValue: source.reasonValue)))
            case .releaseRequest: pdu = outgoing ?? .releaseRequest(ReleasePDU())
            case .releaseResponse: pdu = .releaseResponse(ReleasePDU())
            default:
                guard let o = outgoing, o.type == kind.pduType else { return }
                pdu = o
            }
            write(pdu, context: context)
            if case .associateAccept = pdu { established() }
        case .startARTIMTimer:
            artim?.cancel()
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            artim = context.eventLoop.scheduleTask(in: artimTimeout) {
                bound.value.artim = nil
                bound.value.feed(.artimTimerExpired)
            }
        case .stopARTIMTimer:
            artim?.cancel()
            artim = nil
        case .closeTransport:
            artim?.cancel()
            artim = nil
            if needsFlush {
                needsFlush = false
                context.flush()
            }
            context.close(promise: nil)
        case .issueIndication(let indication):
            indicate(indication, context: context)
        case .issueConfirmation(let confirmation):
            switch confirmation {
            case .associateAccepted:
                established()
            case .associateRejected:
                break  // reported when the RJ arrived
            case .release:
                sink(.released)
                if machine.state == .sta12 { feed(.releaseResponse) }
            }
        case .rejectPrimitive:
            break  // the owner's call comes back as an error from `send`; other primitives are no-ops here
        }
    }

    private func indicate(_ indication: AssociationStateMachine.Indication, context: ChannelHandlerContext) {
        switch indication {
        case .associate:
            guard case .acceptor(let decide) = role, let rq = request else { return }
            sink(.associationRequested(rq))
            switch decide(rq) {
            case .accept(let ac):
                accept = ac
                feed(.associateResponseAccept, pdu: .associateAccept(ac))
            case .reject(let rj, why: _):
                feed(.associateResponseReject, pdu: .associateReject(rj))
            }
        case .data:
            guard case .dataTransfer(let pdata)? = outgoing else { return }
            if let stray = pdata.items.first(where: { !acceptedContextIDs.contains($0.presentationContextID) }) {
                reportProtocolError("a PDV on presentation context \(stray.presentationContextID), which the association did not accept")
                pendingEvents.append((.invalidPDUReceived(reason: .invalidPDUParameterValue), nil))
                return
            }
            for result in assembler.receive(pdata) {
                switch result {
                case .success(let message): sink(.message(message))
                case .failure(let error):
                    reportProtocolError("DIMSE message not assembled: \(error)")
                    pendingEvents.append((.abortRequest, nil))
                }
            }
        case .release:
            sink(.releaseRequested)
            feed(.releaseResponse)
        case .releaseCollision:
            if case .requestor = role { feed(.releaseResponse) }
        case .abort, .providerAbort:
            break  // reported when the A-ABORT arrived or the transport closed
        }
    }

    private func established() {
        guard let rq = request, let ac = accept else { return }
        let contexts = AcceptedContext.accepted(request: rq, accept: ac)
        // We send within the peer's limit: the requestor's from the RQ, the acceptor's from the AC.
        let peerMax: UInt32
        switch role {
        case .requestor: peerMax = ac.fields.maximumLength ?? 0
        case .acceptor: peerMax = rq.fields.maximumLength ?? 0
        }
        acceptedContextIDs = Set(contexts.map(\.id))
        guard peerMax == 0 || peerMax >= MessageFragmenter.smallestMaximumLength,
              let fragmenter = try? MessageFragmenter(maximumLength: peerMax) else {
            // No PDV with a data fragment fits in fewer than 8 bytes: the peer cannot receive anything.
            reportProtocolError("the peer's maximum PDU length \(peerMax) leaves no room for a PDV")
            pendingEvents.append((.abortRequest, nil))
            return
        }
        self.fragmenter = fragmenter
        sink(.established(request: rq, accept: ac, contexts: contexts))
    }

    private func write(_ pdu: PDU, context: ChannelHandlerContext) {
        let bytes = pdu.encoded()
        if let tap {
            var body = bytes
            body.moveReaderIndex(forwardBy: pduHeaderLength)
            tap.onPDU(pdu, PDUFrame(type: pdu.type, reserved: 0, body: body, streamOffset: 0), ownRole, .wallClock())
        }
        context.write(wrapOutboundOut(bytes), promise: nil)
        needsFlush = true
    }

    private func reportClosed() {
        artim?.cancel()
        artim = nil
        guard !closedReported else { return }
        closedReported = true
        sink(.closed)
    }

    private func providerReason(_ reason: Abort.Reason) -> AssociationStateMachine.ProviderAbortReason {
        switch reason.rawValue {
        case 1: .unrecognizedPDU
        case 2: .unexpectedPDU
        case 4: .unrecognizedPDUParameter
        case 5: .unexpectedPDUParameter
        case 6: .invalidPDUParameterValue
        default: .reasonNotSpecified
        }
    }
}
