import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMPeerSupport
import DICOMTestSupport
import DICOMUL
import DIMSE
import NIOCore
import NIOPosix
import Testing

/// How long a test waits for an event it expects (this machine is a loaded 2-core box): a bound on a hang, never
/// a measure of speed.
let margin: TimeAmount = .seconds(60)
let patience: Duration = .seconds(180)  // a parallel build beside the suite once delayed a connection past 60 s

// MARK: - SOP classes and data sets

enum SOP {
    static let verification = CEchoRequest.verificationSOPClassUID
    /// Patient Root Query/Retrieve Information Model - FIND.
    static let find = "1.2.840.10008.5.1.4.1.2.1.1"
    /// Patient Root Query/Retrieve Information Model - GET.
    static let get = "1.2.840.10008.5.1.4.1.2.1.3"
    /// Secondary Capture Image Storage (the C-STORE sub-operations of our C-GET).
    static let secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"
}

/// An Explicit VR Little Endian data set of exactly `length` bytes (even, at least 20): Patient ID (0010,0020)
/// "PAT1" and Patient Comments (0010,4000, LT) filled with "x" up to the length.
func identifier(length: Int = 64) -> ByteBuffer {
    precondition(length >= 20 && length % 2 == 0)
    var b = ByteBuffer()
    func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) {
        b.writeInteger(group, endianness: .little)
        b.writeInteger(element, endianness: .little)
        b.writeString(vr)
        b.writeInteger(UInt16(value.count), endianness: .little)
        b.writeBytes(value)
    }
    element(0x0010, 0x0020, "LO", Array("PAT1".utf8))
    element(0x0010, 0x4000, "LT", [UInt8](repeating: UInt8(ascii: "x"), count: length - 20))
    return b
}

// MARK: - Servers

/// Starts a server on a port the OS picks, runs `body`, and shuts the server down whatever happens.
func withServer<T>(_ configuration: ServerConfiguration, handler: any DICOMServiceHandler = NoServices(),
                   group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                   _ body: (DICOMServer) async throws -> T) async throws -> T {
    let server = try await DICOMServer.start(port: 0, configuration: configuration, handler: handler, group: group)
    do {
        let result = try await body(server)
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}

/// Verification, C-FIND, C-GET and Secondary Capture storage, in Explicit then Implicit VR LE.
func configuration(idle: TimeAmount? = nil, artim: TimeAmount = .seconds(30), requestTimeout: TimeAmount = .seconds(60),
                   maxPDU: UInt32 = 65536, maximumQueuedRequests: Int = 64,
                   tap: (@Sendable (Int) -> AssociationTap?)? = nil) -> ServerConfiguration {
    let ts = PresentationContextProposal.defaultTransferSyntaxes
    return ServerConfiguration(
        supportedContexts: [SOP.verification: ts, SOP.find: ts, SOP.get: ts, SOP.secondaryCapture: ts],
        maxPDULength: maxPDU, artimTimeout: artim, idleTimeout: idle, requestTimeout: requestTimeout,
        maximumQueuedRequests: maximumQueuedRequests, tap: tap)
}

/// Association parameters proposing `abstractSyntaxes` on contexts 1, 3, 5...
func parameters(_ abstractSyntaxes: [String] = [SOP.verification], maxPDU: UInt32 = 65536,
                artim: TimeAmount = .seconds(30)) -> AssociationParameters {
    AssociationParameters(callingAETitle: "NETTEST", calledAETitle: "DICOMTAP",
                          contexts: PresentationContextProposal.numbered(abstractSyntaxes), maxPDULength: maxPDU,
                          connectTimeout: margin, artimTimeout: artim)
}

/// The server still accepts a new association and answers its C-ECHO, then releases it.
///
/// On a server with a short idle or ARTIM timeout, a new association may itself be cut by that timeout if this
/// loaded machine stalls the client longer than it between connecting and its A-ASSOCIATE-RQ, or between two PDUs:
/// that is the server doing its job, not failing to serve. With `timeoutCutsTolerated` > 0, such a cut (an A-ABORT
/// from the service user, or the server closing before its A-ASSOCIATE-AC) is retried up to that many times; any
/// other failure fails at once.
func expectServesEcho(port: Int, timeoutCutsTolerated: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    var attempt = 0
    while true {
        attempt += 1
        do {
            let client = try await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: parameters())
            let id = client.nextMessageID()
            try await client.send(.cEchoRequest(CEchoRequest(messageID: id)), dataSet: nil, contextID: 1)
            let response = try #require(try await client.receive(timeout: margin), sourceLocation: sourceLocation)
            guard case .cEchoResponse(let rsp) = response.command else {
                Issue.record("not a C-ECHO-RSP: \(response.command)", sourceLocation: sourceLocation)
                await client.abort()
                return
            }
            #expect(rsp.messageIDBeingRespondedTo == id, sourceLocation: sourceLocation)
            #expect(rsp.status == 0x0000, sourceLocation: sourceLocation)
            try await client.release()
            return
        } catch let error as AssociationError where attempt <= timeoutCutsTolerated && error.isTimeoutCut {
            continue
        }
    }
}

extension AssociationError {
    /// What a client sees when the server's idle timeout (A-ABORT 0/0, or a close before the A-ASSOCIATE-AC) or
    /// its ARTIM timeout in Sta2 (a close before the A-ASSOCIATE-AC) cuts the association, including a cut that
    /// arrives between the A-ASSOCIATE-AC and the client's first request (the client is back in Sta1 when it sends).
    var isTimeoutCut: Bool {
        switch self {
        case .aborted(let source, let reason): source == 0 && reason == 0
        case .closedByPeer, .notEstablished: true
        default: false
        }
    }
}

// MARK: - Service handlers

/// Answers nothing (C-ECHO is answered by the server itself).
struct NoServices: DICOMServiceHandler {
    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {}
}

/// Opens once; every waiter before and after goes on.
final class Gate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withValue { s -> Bool in
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withValue { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// Answers each C-FIND-RQ with one final Success response, after `gate` opens (at once without one). Records
/// the requests it started, those it answered, and the errors of answers that could not be sent.
struct FindHandler: DICOMServiceHandler {
    var gate: Gate?
    let started = Locked<[UInt16]>([])
    let answered = Locked<[UInt16]>([])
    let failedAnswers = Locked<[String]>([])

    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard case .cFindRequest(let rq) = request.command else { return }
        started.withValue { $0.append(rq.messageID) }
        if let gate { await gate.wait() }
        do {
            try await responder.send(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: rq.messageID, status: 0x0000,
                                                                  affectedSOPClassUID: rq.affectedSOPClassUID)), dataSet: nil)
            answered.withValue { $0.append(rq.messageID) }
        } catch {
            failedAnswers.withValue { $0.append("\(error)") }
        }
    }
}

/// Answers a C-GET-RQ like a retrieve SCP: one C-STORE-RQ sub-operation to the SCU on its Secondary Capture
/// context, awaiting the SCU's C-STORE-RSP (bounded by the server's `requestTimeout`), then the final C-GET-RSP.
/// An error from the sub-operation is recorded and thrown on, so the server aborts the association.
struct GetHandler: DICOMServiceHandler {
    let outcomes = Locked<[String]>([])
    let errors = Locked<[any Error]>([])

    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard case .cGetRequest(let rq) = request.command else { return }
        guard let storage = association.contexts.first(where: { $0.abstractSyntax == SOP.secondaryCapture }) else {
            outcomes.withValue { $0.append("no storage context") }
            return
        }
        let store = CStoreRequest(messageID: association.nextMessageID(), affectedSOPClassUID: SOP.secondaryCapture,
                                  affectedSOPInstanceUID: "1.2.826.0.1.3680043.2.1143.1")
        do {
            let response = try await responder.request(.cStoreRequest(store), dataSet: identifier(), contextID: storage.id)
            outcomes.withValue { $0.append("C-STORE-RSP \(response.command.status.map { String($0, radix: 16) } ?? "-")") }
        } catch {
            errors.withValue { $0.append(error) }
            throw error
        }
        try await responder.send(.cGetResponse(CGetResponse(messageIDBeingRespondedTo: rq.messageID, status: 0x0000,
                                                            affectedSOPClassUID: rq.affectedSOPClassUID,
                                                            remaining: 0, completed: 1, failed: 0, warning: 0)), dataSet: nil)
    }
}

/// Counts the P-DATA-TF PDUs a server receives from requestors, and the largest PDU-length among them.
final class ReceivedDataTransfers: Sendable {
    let count = Locked(0)
    let largest = Locked(0)

    var tap: @Sendable (Int) -> AssociationTap? {
        { _ in
            AssociationTap { [self] pdu, frame, from, _ in
                guard from == .requestor, case .dataTransfer = pdu else { return }
                count.withValue { $0 += 1 }
                largest.withValue { $0 = max($0, frame.body.readableBytes) }
            }
        }
    }
}

// MARK: - A raw peer

/// A TCP peer that sends hand-made PDUs and decodes what comes back: for faults real peers won't commit.
struct RawPeer {
    let channel: any Channel
    let collector: ByteCollector

    init(channel: any Channel, collector: ByteCollector) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects; `first` is written from the event loop as soon as the connection is up (`RawClient`).
    static func connect(port: Int, sending first: [PDU] = []) async throws -> RawPeer {
        let bytes = encoded(first)
        let client = try await RawClient.connect(port: port, group: MultiThreadedEventLoopGroup.singleton,
                                                 sending: bytes.readableBytes > 0 ? bytes : nil)
        return RawPeer(channel: client.channel, collector: client.collector)
    }

    static func encoded(_ pdus: [PDU]) -> ByteBuffer {
        var bytes = ByteBuffer()
        for pdu in pdus { _ = pdu.write(into: &bytes) }
        return bytes
    }

    func send(_ pdus: [PDU]) async throws {
        try await channel.writeAndFlush(Self.encoded(pdus))
    }

    func send(_ pdu: PDU) async throws { try await send([pdu]) }

    /// The complete PDUs received so far.
    func pdus() throws -> [PDU] {
        var buffer = collector.received.current
        var decoder = PDUDecoder()
        var out: [PDU] = []
        while let pdu = try decoder.decode(buffer: &buffer) { out.append(pdu) }
        return out
    }

    /// The DIMSE messages in the P-DATA-TF PDUs received so far.
    func messages() throws -> [DIMSEMessageAssembly] {
        var assembler = MessageAssembler()
        var out: [DIMSEMessageAssembly] = []
        for case .dataTransfer(let pdata) in try pdus() {
            for result in assembler.receive(pdata) { out.append(try result.get()) }
        }
        return out
    }

    var isClosed: Bool { collector.closed.current }

    /// Waits until a received PDU satisfies `match` (or the connection closed without one), and returns it.
    func waitForPDU(_ what: String, timeout: Duration = patience, _ match: (PDU) -> Bool) async throws -> PDU {
        var found: PDU?
        try await eventually(what, timeout: timeout) {
            // Closed before the bytes are read: NIO delivers every read before the close, so nothing can arrive
            // after (read the other way round, a PDU that came with the close was missed once on CI).
            let closed = isClosed
            found = try pdus().first(where: match)
            if found == nil && closed { throw TimeoutError(what: "\(what): the connection closed first; received \(try pdus())") }
            return found != nil
        }
        return found!
    }

    /// The first A-ABORT received, waiting for it.
    func waitForAbort(timeout: Duration = patience) async throws -> Abort {
        let pdu = try await waitForPDU("an A-ABORT", timeout: timeout) { if case .abort = $0 { true } else { false } }
        guard case .abort(let abort) = pdu else { preconditionFailure() }
        return abort
    }

    func waitUntilClosed(timeout: Duration = patience) async throws {
        try await eventually("the server to close the connection", timeout: timeout) { isClosed }
    }

    /// Connects, sends an A-ASSOCIATE-RQ for `abstractSyntaxes` and right behind it (in the same write, before the
    /// A-ASSOCIATE-AC is in) the PDUs of `following`, and returns the A-ASSOCIATE-AC.
    ///
    /// The server reads what follows the RQ in Sta6, exactly as if we had waited for the AC; sending it at once
    /// leaves no gap in which a short idle timeout could run out. The write is made from the event loop as soon as
    /// the TCP connection is up; if the server still closes the connection first without a byte (its idle or ARTIM
    /// timeout of a few hundred ms, in Sta2, on a loaded machine), the connection is opened again, up to
    /// `timeoutCutsTolerated` times.
    static func associate(port: Int, _ abstractSyntaxes: [String] = [SOP.verification], then following: [PDU] = [],
                          timeoutCutsTolerated: Int = 0) async throws -> (peer: RawPeer, accept: AssociateAccept) {
        var attempt = 0
        while true {
            attempt += 1
            // A write that fails because the server already closed (or reset) the connection: a cut before the
            // request went out. Anything else (nothing listening, say) is the test's failure.
            let peer: RawPeer
            do {
                peer = try await connect(port: port, sending: [.associateRequest(parameters(abstractSyntaxes).associateRequest)] + following)
            } catch let error where attempt <= timeoutCutsTolerated && Self.isCut(error) {
                continue
            }
            do {
                let pdu = try await peer.waitForPDU("the A-ASSOCIATE-AC") { if case .associateAccept = $0 { true } else { false } }
                guard case .associateAccept(let ac) = pdu else { preconditionFailure() }
                return (peer, ac)
            } catch {
                // Closed without a byte before the request was read or answered (the wait times out): a timeout cut,
                // not the test's subject.
                guard attempt <= timeoutCutsTolerated else { throw error }
                try? await peer.waitUntilClosed()
                guard peer.isClosed, peer.collector.received.current.readableBytes == 0 else { throw error }
                await peer.close()
            }
        }
    }

    /// The server closed or reset the connection under our write.
    static func isCut(_ error: any Error) -> Bool {
        if let error = error as? ChannelError { return error == .ioOnClosedChannel || error == .alreadyClosed }
        if let error = error as? IOError { return [ECONNRESET, EPIPE].contains(error.errnoCode) }
        return false
    }

    func close() async {
        try? await channel.close()
    }
}

/// The P-DATA-TF PDUs of one message, one PDV each, fragmented to `maximumLength` (0: one PDU for the command,
/// one for the data set).
func dataTransfers(_ command: DIMSECommand, dataSet: ByteBuffer?, contextID: UInt8, maximumLength: UInt32 = 0) throws -> [PDU] {
    try MessageFragmenter(maximumLength: maximumLength).fragment(command, dataSet: dataSet, presentationContextID: contextID)
        .map(PDU.dataTransfer)
}

// MARK: - A raw acceptor

/// A TCP listener whose connections are driven by the test with hand-made PDUs.
final class RawAcceptor: Sendable {
    let channel: any Channel
    let accepted: Locked<[RawPeer]>

    private init(channel: any Channel, accepted: Locked<[RawPeer]>) {
        self.channel = channel
        self.accepted = accepted
    }

    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> RawAcceptor {
        let accepted = Locked<[RawPeer]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                let collector = ByteCollector()
                accepted.withValue { $0.append(RawPeer(channel: channel, collector: collector)) }
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RawAcceptor(channel: channel, accepted: accepted)
    }

    /// The first connection accepted, waiting for it.
    func firstConnection() async throws -> RawPeer {
        try await eventually("a connection to the raw acceptor", timeout: patience) { !accepted.current.isEmpty }
        return accepted.current[0]
    }

    func stop() async {
        try? await channel.close()
        for peer in accepted.current { await peer.close() }
    }
}
