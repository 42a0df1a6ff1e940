import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The requestor side of one association: connect, negotiate, send DIMSE messages, receive the peer's,
/// release or abort. Each method may be called from any task; `receive` is for one consumer at a time.
///
/// ```swift
/// let client = try await DICOMClient.connect(host: "127.0.0.1", port: 11112, parameters: parameters)
/// try await client.send(.cEchoRequest(CEchoRequest(messageID: client.nextMessageID())), dataSet: nil, contextID: 1)
/// let response = try await client.receive()
/// try await client.release()
/// ```
public final class DICOMClient: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<ULConnectionHandler>
    private let mailbox: Mailbox
    private let messageIDs = NIOLockedValueBox<UInt16>(0)
    private let artimTimeout: TimeAmount

    /// The A-ASSOCIATE-RQ we sent and the A-ASSOCIATE-AC the peer answered.
    public let associateRequest: AssociateRequest
    public let associateAccept: AssociateAccept
    /// The contexts the peer accepted.
    public let acceptedContexts: [AcceptedContext]
    /// The peer's maximum P-DATA-TF variable field length (0 = unlimited); we fragment to it.
    public let peerMaxPDULength: UInt32
    /// The TLS session the association runs in (version, suite, the server's certificate); nil without TLS.
    public let tls: TLSSessionInfo?

    private init(channel: any Channel, handler: NIOLoopBound<ULConnectionHandler>, mailbox: Mailbox, artimTimeout: TimeAmount,
                 request: AssociateRequest, accept: AssociateAccept, contexts: [AcceptedContext], tls: TLSSessionInfo?) {
        self.channel = channel
        self.handler = handler
        self.mailbox = mailbox
        self.artimTimeout = artimTimeout
        self.associateRequest = request
        self.associateAccept = accept
        self.acceptedContexts = contexts
        self.peerMaxPDULength = accept.fields.maximumLength ?? 0
        self.tls = tls
    }

    /// Opens a TCP connection (with `tls`, a TLS session in it), sends the A-ASSOCIATE-RQ and waits for the answer.
    /// Throws `AssociationError.rejected` with the peer's A-ASSOCIATE-RJ, `.aborted`, `.timedOut`, `.connectionFailed`
    /// (also for a failed TLS handshake, with its reason in words).
    public static func connect(host: String, port: Int, parameters: AssociationParameters,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                               tap: AssociationTap? = nil, tls: TLSContext? = nil) async throws -> DICOMClient {
        let mailbox = Mailbox()
        let request = parameters.associateRequest
        let artim = parameters.artimTimeout
        // The handler is kept from the initializer: a peer may reject and close before we could look it up.
        let installed = NIOLockedValueBox<NIOLoopBound<ULConnectionHandler>?>(nil)
        let handshake = NIOLockedValueBox<TLSHandshakeOutcome?>(nil)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(parameters.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.install(on: channel, host: host) { outcome in handshake.withLockedValue { $0 = outcome } }
                    let handler = ULConnectionHandler(role: .requestor(request), artimTimeout: artim, tap: tap, sink: mailbox.post)
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(PDUFrameDecoder(maximumPDULength: frameLimit(advertised: parameters.maxPDULength))))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    installed.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw AssociationError.connectionFailed(SocketFailure(connectingTo: host, port: port, error: error).description)
        }
        guard let handler = installed.withLockedValue({ $0 }) else {
            channel.close(promise: nil)
            throw AssociationError.connectionFailed(
                "cannot connect to \(SocketFailure.address(host: host, port: port)): the connection was set up without its handler")
        }
        var protocolError: String?
        func handshakeFailure() -> AssociationError? {
            guard case .failed(let failure)? = handshake.withLockedValue({ $0 }) else { return nil }
            return .connectionFailed("TLS handshake with \(SocketFailure.address(host: host, port: port)) failed: \(failure.reason)")
        }
        do {
            while let event = try await mailbox.next(timeout: parameters.connectTimeout, on: channel.eventLoop,
                                                     what: "A-ASSOCIATE-AC from \(host):\(port)") {
                switch event {
                case .established(let rq, let ac, let contexts):
                    var session: TLSSessionInfo?
                    if case .established(let info)? = handshake.withLockedValue({ $0 }) { session = info }
                    return DICOMClient(channel: channel, handler: handler, mailbox: mailbox, artimTimeout: artim,
                                       request: rq, accept: ac, contexts: contexts, tls: session)
                case .rejected(let rj):
                    try? await channel.closeFuture.get()
                    throw AssociationError.rejected(rj)
                case .aborted(let source, let reason):
                    channel.close(promise: nil)
                    throw AssociationError.aborted(source: source, reason: reason)
                case .protocolError(let why):
                    protocolError = why
                case .closed:
                    throw handshakeFailure() ?? protocolError.map { AssociationError.protocolViolation($0) } ?? AssociationError.closedByPeer
                default:
                    continue
                }
            }
        } catch let error as AssociationError {
            if case .timedOut = error {
                await handler.abortAndWait(channel: channel)
            }
            throw error
        }
        throw handshakeFailure() ?? protocolError.map { AssociationError.protocolViolation($0) } ?? AssociationError.closedByPeer
    }

    /// The accepted context for an abstract syntax (the first, if several were accepted).
    public func context(for abstractSyntax: String) -> AcceptedContext? {
        acceptedContexts.first { $0.abstractSyntax == abstractSyntax }
    }

    /// A new Message ID (1, 2, 3, ... wrapping past 65535 to 1).
    public func nextMessageID() -> UInt16 {
        messageIDs.withLockedValue { id in
            id = id == UInt16.max ? 1 : id + 1
            return id
        }
    }

    /// Sends a command (and data set, already encoded in the context's transfer syntax), fragmented to the
    /// peer's maximum PDU length.
    public func send(_ command: DIMSECommand, dataSet: ByteBuffer?, contextID: UInt8) async throws {
        try await send(command, source: dataSet.map(DataSetSource.bytes), contextID: contextID)
    }

    /// Sends a command and its data set, which may be read in pieces while it is sent (a long
    /// recorded data set): one piece in memory at a time.
    public func send(_ command: DIMSECommand, source: DataSetSource?, contextID: UInt8) async throws {
        try await ULConnectionHandler.send(command, dataSet: source, contextID: contextID, handler: handler, on: channel.eventLoop)
    }

    /// The next message from the peer; nil once the association has ended by release or close.
    /// Throws `AssociationError.aborted` if the peer aborted, `.timedOut` past `timeout`.
    public func receive(timeout: TimeAmount? = nil) async throws -> DIMSEMessageAssembly? {
        var protocolError: String?
        while let event = try await mailbox.next(timeout: timeout, on: channel.eventLoop, what: "a DIMSE message from the peer") {
            switch event {
            case .message(let message): return message
            case .aborted(let source, let reason): throw AssociationError.aborted(source: source, reason: reason)
            case .protocolError(let why): protocolError = why
            case .closed:
                if let protocolError { throw AssociationError.protocolViolation(protocolError) }
                return nil
            default: continue
            }
        }
        if let protocolError { throw AssociationError.protocolViolation(protocolError) }
        return nil
    }

    /// Sends A-RELEASE-RQ and waits for A-RELEASE-RP and the close (aborting past the ARTIM timeout).
    /// Messages still arriving meanwhile are dropped.
    public func release() async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.requestRelease() }.get()
        // One deadline for the whole wait: messages still arriving must not extend it.
        let deadline = NIODeadline.now() + artimTimeout
        do {
            while let event = try await mailbox.next(timeout: max(.zero, deadline - .now()), on: channel.eventLoop,
                                                     what: "A-RELEASE-RP") {
                switch event {
                case .aborted(let source, let reason): throw AssociationError.aborted(source: source, reason: reason)
                case .closed: return
                default: continue
                }
            }
        } catch let error as AssociationError {
            if case .timedOut = error { await handler.abortAndWait(channel: channel) }
            throw error
        }
    }

    /// Sends A-ABORT (service-user) and closes.
    public func abort() async {
        await handler.abortAndWait(channel: channel)
    }
}

/// The largest PDU we frame, of any type (association PDUs are not bound by the maximum length): a few times what
/// we advertised, at least 1 MiB, never more than the frame decoder's 16 MiB default; 0 (unlimited) gets that
/// default. A P-DATA-TF over what we advertised is refused by `ULConnectionHandler` (PS3.8 Annex D.1).
func frameLimit(advertised: UInt32) -> Int {
    guard advertised > 0 else { return PDUFrameDecoder.defaultMaximumPDULength }
    return min(PDUFrameDecoder.defaultMaximumPDULength, max(1 << 20, 4 * Int(advertised)))
}

extension NIOLoopBound where Value == ULConnectionHandler {
    func abortAndWait(channel: any Channel) async {
        let bound = self
        _ = try? await channel.eventLoop.submit { bound.value.requestAbort() }.get()
        // AA-1 sends the A-ABORT and waits (ARTIM) for the peer to close; we don't need to wait that long.
        _ = try? await channel.close()
    }
}
