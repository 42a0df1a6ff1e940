import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// `"CALLING" -> "CALLED" from 10.0.0.5:40112`: who an association of our SCP is with.
func peers(_ rq: AssociateRequest, _ remote: String) -> String {
    "\"\(printable(rq.fields.callingAETitle.value))\" -> \"\(printable(rq.fields.calledAETitle.value))\" from \(remote)"
}

/// An AE title as the console may show it: control characters a peer sent (an escape sequence would
/// act on the operator's terminal) as `\u{1B}`.
func printable(_ text: String) -> String {
    text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16, uppercase: true))}" : String($0) }
        .joined()
}

/// Answers the requests of our SCP's associations.
public protocol DICOMServiceHandler: Sendable {
    /// Called for each request other than C-ECHO (answered by the server) and C-CANCEL (reported through
    /// `association.isCancelled(messageID:)`), one at a time per association, in arrival order.
    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws
}

/// One accepted association of our SCP.
public final class ServerAssociation: Sendable {
    public let connection: Int
    public let remoteAddress: String
    public let associateRequest: AssociateRequest
    public let associateAccept: AssociateAccept
    public let contexts: [AcceptedContext]
    /// The TLS session the association runs in; nil on a plain port.
    public let tls: TLSSessionInfo?
    /// Requests received and not yet answered, and those of them a C-CANCEL named.
    private let requests = NIOLockedValueBox<(outstanding: Set<UInt16>, cancelled: Set<UInt16>)>(([], []))
    private let messageIDs = NIOLockedValueBox<UInt16>(0)
    /// Requests we sent to the SCU (C-STORE sub-operations of a C-GET), waiting for their response.
    private let awaiting = NIOLockedValueBox<(open: Bool, waiters: [UInt16: CheckedContinuation<DIMSEMessageAssembly, any Error>])>(
        (true, [:]))

    init(connection: Int, remoteAddress: String, request: AssociateRequest, accept: AssociateAccept, contexts: [AcceptedContext],
         tls: TLSSessionInfo? = nil) {
        self.connection = connection
        self.tls = tls
        self.remoteAddress = remoteAddress
        self.associateRequest = request
        self.associateAccept = accept
        self.contexts = contexts
    }

    /// `"CALLING" -> "CALLED" from 10.0.0.5:40112`: who the association is with, as the logs say it.
    public var peerDescription: String { peers(associateRequest, remoteAddress) }
    public var callingAETitle: String { associateRequest.fields.callingAETitle.value }
    public var calledAETitle: String { associateRequest.fields.calledAETitle.value }
    public func context(id: UInt8) -> AcceptedContext? { contexts.first { $0.id == id } }
    /// Whether a C-CANCEL for `messageID` has arrived.
    public func isCancelled(messageID: UInt16) -> Bool { requests.withLockedValue { $0.cancelled.contains(messageID) } }
    /// A C-CANCEL counts only for a request still outstanding (one after the final response is ignored, PS3.7 §9.3.2.3).
    func cancel(_ messageID: UInt16) {
        requests.withLockedValue { r in
            if r.outstanding.contains(messageID) { r.cancelled.insert(messageID) }
        }
    }
    func received(_ messageID: UInt16) { requests.withLockedValue { _ = $0.outstanding.insert(messageID) } }
    func answered(_ messageID: UInt16) {
        requests.withLockedValue { r in
            r.outstanding.remove(messageID)
            r.cancelled.remove(messageID)
        }
    }

    /// A Message ID for a request we send on this association (1, 2, ... wrapping to 1).
    public func nextMessageID() -> UInt16 {
        messageIDs.withLockedValue { id in
            id = id == UInt16.max ? 1 : id + 1
            return id
        }
    }

    func awaitResponse(to messageID: UInt16, timeout: TimeAmount, on eventLoop: any EventLoop,
                       registered: @escaping @Sendable () -> Void) async throws -> DIMSEMessageAssembly {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = awaiting.withLockedValue { state -> Bool in
                guard state.open else { return false }
                state.waiters[messageID] = continuation
                return true
            }
            if accepted {
                registered()
                eventLoop.scheduleTask(in: timeout) { [self] in
                    _ = deliverFailure(to: messageID, AssociationError.timedOut("the SCU's response to our message \(messageID)"))
                }
            } else {
                continuation.resume(throwing: AssociationError.notEstablished("the association has ended"))
            }
        }
    }

    /// Hands a response from the SCU to the request waiting for it; false when none waits.
    func deliverResponse(_ message: DIMSEMessageAssembly) -> Bool {
        guard let id = message.command.messageIDBeingRespondedTo else { return false }
        let waiter = awaiting.withLockedValue { $0.waiters.removeValue(forKey: id) }
        waiter?.resume(returning: message)
        return waiter != nil
    }

    func deliverFailure(to messageID: UInt16, _ error: any Error) -> Bool {
        let waiter = awaiting.withLockedValue { $0.waiters.removeValue(forKey: messageID) }
        waiter?.resume(throwing: error)
        return waiter != nil
    }

    func failPendingRequests() {
        let waiters = awaiting.withLockedValue { state -> [CheckedContinuation<DIMSEMessageAssembly, any Error>] in
            state.open = false
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for w in waiters { w.resume(throwing: AssociationError.closedByPeer) }
    }
}

/// Sends responses on the context of the request being answered, and requests of our own on the same
/// association (the C-STORE sub-operations of a C-GET), waiting for their responses.
public struct DIMSEResponder: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ULConnectionHandler>
    let association: ServerAssociation
    let requestTimeout: TimeAmount
    /// The context of the request being answered.
    public let contextID: UInt8

    /// Sends a response command and its data set (encoded in the context's transfer syntax).
    public func send(_ command: DIMSECommand, dataSet: ByteBuffer?) async throws {
        try await send(command, dataSet: dataSet, contextID: contextID)
    }

    /// Sends a command on another accepted context.
    public func send(_ command: DIMSECommand, dataSet: ByteBuffer?, contextID: UInt8) async throws {
        try await send(command, source: dataSet.map(DataSetSource.bytes), contextID: contextID)
    }

    /// Sends a command whose data set may be read in pieces while it is sent.
    public func send(_ command: DIMSECommand, source: DataSetSource?, contextID: UInt8) async throws {
        try await ULConnectionHandler.send(command, dataSet: source, contextID: contextID, handler: handler, on: channel.eventLoop)
    }

    /// Sends a request of ours (its Message ID from `association.nextMessageID()`) on `contextID` and waits for
    /// the SCU's response to it. Throws if the association ends first.
    public func request(_ command: DIMSECommand, dataSet: ByteBuffer?, contextID: UInt8) async throws -> DIMSEMessageAssembly {
        try await request(command, source: dataSet.map(DataSetSource.bytes), contextID: contextID)
    }

    /// `request(_:dataSet:contextID:)` with a data set that may be read in pieces while it is sent.
    public func request(_ command: DIMSECommand, source dataSet: DataSetSource?, contextID: UInt8) async throws -> DIMSEMessageAssembly {
        guard let id = command.messageID else {
            throw AssociationError.protocolViolation("\(command.commandField?.description ?? "the command") is not a request")
        }
        let handler = self.handler
        let channel = self.channel
        let association = self.association
        return try await association.awaitResponse(to: id, timeout: requestTimeout, on: channel.eventLoop) {
            Task {
                do {
                    try await ULConnectionHandler.send(command, dataSet: dataSet, contextID: contextID, handler: handler,
                                                       on: channel.eventLoop)
                } catch {
                    _ = association.deliverFailure(to: id, error)
                }
            }
        }
    }
}

/// Our SCP: accepts associations on a TCP port and hands their requests to a `DICOMServiceHandler`.
public final class DICOMServer: Sendable {
    private let serverChannel: any Channel
    private let connections: ServerConnections
    /// The port we listen on (the one the OS chose when started with port 0).
    public let port: Int

    private init(serverChannel: any Channel, connections: ServerConnections) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.port = serverChannel.localAddress?.port ?? 0
    }

    /// Binds `host:port` (0 lets the OS choose) and starts accepting associations; throws
    /// `SocketFailure` when it cannot listen there.
    public static func start(host: String = "127.0.0.1", port: Int, configuration: ServerConfiguration,
                             handler: any DICOMServiceHandler,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> DICOMServer {
        let connections = ServerConnections(limit: configuration.maxAssociations)
        let connectionCount = NIOLockedValueBox(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let number = connectionCount.withLockedValue { $0 += 1; return $0 }
                let remote = "\(channel.remoteAddress?.ipAddress ?? "?"):\(channel.remoteAddress?.port ?? 0)"
                let (overLimit, replacing) = connections.admit(number, channel: channel, remote: remote)
                if let replacing, let limit = connections.limit {
                    ServerConnections.close(replacing, limit: limit, logger: configuration.logger)
                }
                channel.closeFuture.whenComplete { _ in connections.remove(number) }
                return channel.eventLoop.makeCompletedFuture {
                    try ServerSession.install(on: channel, number: number, configuration: configuration, handler: handler,
                                              overLimit: overLimit ? connections.limit : nil,
                                              onRequest: { connections.requested(number) })
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw SocketFailure(listeningOn: host, port: port, error: error)
        }
        return DICOMServer(serverChannel: channel, connections: connections)
    }

    /// Stops accepting; every open association gets an A-ABORT (PS3.8 AA-1), then its connection is closed.
    public func shutdown() async {
        _ = try? await serverChannel.close()
        let open = connections.channels
        for c in open {
            _ = try? await c.eventLoop.submit {
                try c.pipeline.syncOperations.handler(type: ULConnectionHandler.self).requestAbort()
            }.get()
            _ = try? await c.close()
        }
    }

    /// Number of connections open now.
    public var openConnections: Int { connections.count }
}

/// Per connection: answers the association request, runs C-ECHO and C-CANCEL on the event loop and feeds other
/// requests, in order, to one task that calls the service handler.
final class ServerSession: Sendable {
    private struct State {
        var association: ServerAssociation?
        var requests: AsyncStream<DIMSEMessageAssembly>.Continuation?
        var tls: TLSSessionInfo?
    }

    private let number: Int
    private let channel: any Channel
    private let configuration: ServerConfiguration
    private let serviceHandler: any DICOMServiceHandler
    private let state = NIOLockedValueBox(State())
    private let bound: NIOLockedValueBox<NIOLoopBound<ULConnectionHandler>?> = NIOLockedValueBox(nil)

    private init(number: Int, channel: any Channel, configuration: ServerConfiguration, handler: any DICOMServiceHandler) {
        self.number = number
        self.channel = channel
        self.configuration = configuration
        self.serviceHandler = handler
    }

    /// `overLimit`: the connection came past `maxAssociations` (this limit): its A-ASSOCIATE-RQ gets A-ASSOCIATE-RJ
    /// 2/3/2. `onRequest`: told when the A-ASSOCIATE-RQ is in.
    static func install(on channel: any Channel, number: Int, configuration: ServerConfiguration,
                        handler: any DICOMServiceHandler, overLimit: Int? = nil, onRequest: @escaping @Sendable () -> Void = {}) throws {
        let session = ServerSession(number: number, channel: channel, configuration: configuration, handler: handler)
        var logger = configuration.logger
        logger[metadataKey: DICOMLogKey.associationID] = .string(DICOMLogKey.number(number))
        let log = logger
        let remoteAddress = channel.remoteAddress
        let remote = "\(remoteAddress?.ipAddress ?? "?"):\(remoteAddress?.port ?? 0)"
        if let tls = configuration.tls {
            try tls.install(on: channel) { outcome in
                switch outcome {
                case .established(let info):
                    session.state.withLockedValue { $0.tls = info }
                    log.info("TLS established from \(remote): \(info)")
                case .failed(let failure):
                    log.notice("association refused: TLS handshake from \(remote) failed: \(failure.reason)")
                }
            }
        }
        let ul = ULConnectionHandler(
            role: .acceptor(decide: { rq in
                onRequest()
                if let overLimit { return ServerConnections.refuse(rq, from: remote, limit: overLimit, logger: log) }
                let decision = configuration.decide(rq, from: remoteAddress)
                if case .reject(let rj, let why) = decision {
                    log.notice("association rejected: \(peers(rq, remote)): \(why) (A-ASSOCIATE-RJ \(rj))")
                }
                return decision
            }),
            artimTimeout: configuration.artimTimeout,
            tap: configuration.tap?(number),
            limits: configuration.messageLimits,
            sink: { event in session.handle(event, logger: log, remote: remote) })
        if let idle = configuration.idleTimeout {
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
        }
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(PDUFrameDecoder(maximumPDULength: frameLimit(advertised: configuration.maxPDULength))))
        try channel.pipeline.syncOperations.addHandler(ul)
        session.bound.withLockedValue { $0 = NIOLoopBound(ul, eventLoop: channel.eventLoop) }
    }

    private func handle(_ event: ULEvent, logger: Logger, remote: String) {
        switch event {
        case .associationRequested:
            break
        case .established(let rq, let ac, let contexts):
            let tls = state.withLockedValue { $0.tls }
            let association = ServerAssociation(connection: number, remoteAddress: remote, request: rq, accept: ac, contexts: contexts,
                                                tls: tls)
            let (stream, continuation) = AsyncStream.makeStream(
                of: DIMSEMessageAssembly.self, bufferingPolicy: .bufferingOldest(max(1, configuration.maximumQueuedRequests)))
            state.withLockedValue {
                $0.association = association
                $0.requests = continuation
            }
            let contextNames = contexts.map { UIDRegistry.name(for: $0.abstractSyntax) ?? $0.abstractSyntax }
            logger.info("association accepted: \(peers(rq, remote)); \(contextNames.joined(separator: ", "))\(tls.map { "; \($0)" } ?? "")")
            guard let bound = bound.withLockedValue({ $0 }) else { return }
            let service = serviceHandler
            let channel = self.channel
            let requestTimeout = configuration.requestTimeout
            Task {
                for await request in stream {
                    let responder = DIMSEResponder(channel: channel, handler: bound, association: association,
                                                   requestTimeout: requestTimeout, contextID: request.presentationContextID)
                    defer { if let id = request.command.messageID { association.answered(id) } }
                    do {
                        try await service.handle(request, association: association, responder: responder)
                    } catch {
                        logger.error("request failed, association aborted: \(peers(rq, remote)): \(error)")
                        await bound.abortAndWait(channel: channel)
                        return
                    }
                }
            }
        case .message(let message):
            let (association, requests) = state.withLockedValue { ($0.association, $0.requests) }
            guard let association else { return }
            switch message.command {
            case .cEchoRequest(let rq):
                let rsp = CEchoResponse(messageIDBeingRespondedTo: rq.messageID, status: StatusCode.success,
                                        affectedSOPClassUID: rq.affectedSOPClassUID)
                try? bound.withLockedValue({ $0 })?.value.send(command: .cEchoResponse(rsp), dataSet: nil,
                                                                 contextID: message.presentationContextID)
            case .cCancelRequest(let cancel):
                association.cancel(cancel.messageIDBeingRespondedTo)
            default:
                guard let id = message.command.messageID else {
                    if !association.deliverResponse(message) {
                        logger.warning("a response from the SCU to no request of ours", metadata: ["command": "\(message.command)"])
                    }
                    return
                }
                association.received(id)
                if case .dropped = requests?.yield(message) {
                    logger.warning("more than \(configuration.maximumQueuedRequests) requests waiting; aborting the association")
                    bound.withLockedValue({ $0 })?.value.requestAbort()
                }
            }
        case .rejected:
            break
        case .releaseRequested:
            logger.info("association released by the SCU: \(described(remote))")
            finish()
        case .released:
            finish()
        case .aborted(let source, let reason):
            logger.notice("association aborted by the peer: \(described(remote)) (source \(source), reason \(reason))")
            finish()
        case .protocolError(let why):
            logger.warning("protocol error, association aborted: \(described(remote)): \(why)")
        case .idleTimeout:
            let seconds = configuration.idleTimeout.map { " for \(Double($0.nanoseconds) / 1e9) s" } ?? ""
            logger.notice("idle timeout, association aborted: \(described(remote)) sent nothing\(seconds)")
        case .closed:
            finish()
        }
    }

    /// `"CALLING" -> "CALLED" from 10.0.0.5:40112`, or only the address before an A-ASSOCIATE-RQ.
    private func described(_ remote: String) -> String {
        guard let association = state.withLockedValue({ $0.association }) else { return "from \(remote)" }
        return association.peerDescription
    }

    private func finish() {
        let (continuation, association) = state.withLockedValue { s -> (AsyncStream<DIMSEMessageAssembly>.Continuation?, ServerAssociation?) in
            let c = s.requests
            s.requests = nil
            return (c, s.association)
        }
        continuation?.finish()
        association?.failPendingRequests()
    }
}
