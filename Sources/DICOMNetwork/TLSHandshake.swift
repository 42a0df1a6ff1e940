import NIOCore
import NIOSSL
import NIOTLS

/// What a TLS handshake settled, as the logs and events say it:
/// `TLS 1.3 TLS_AES_256_GCM_SHA384, client certificate CN=modality issued by CN=Hospital CA`.
public struct TLSSessionInfo: Sendable, Hashable, CustomStringConvertible {
    /// `TLS 1.2`, `TLS 1.3`.
    public var version: String
    /// IANA name of the negotiated suite, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    public var cipherSuite: String
    /// Whose certificate `peerSubject` is: `client` when we accept, `server` when we connect.
    public var peerRole: String
    /// The peer's certificate subject and issuer (`CN=...,O=...`); nil when it sent none.
    public var peerSubject: String?
    public var peerIssuer: String?

    public init(version: String, cipherSuite: String, peerRole: String, peerSubject: String?, peerIssuer: String?) {
        self.version = version
        self.cipherSuite = cipherSuite
        self.peerRole = peerRole
        self.peerSubject = peerSubject
        self.peerIssuer = peerIssuer
    }

    public var description: String {
        let certificate = peerSubject.map { "\(peerRole) certificate \($0) issued by \(peerIssuer ?? "?")" }
            ?? "no \(peerRole) certificate"
        return "\(version) \(cipherSuite), \(certificate)"
    }
}

/// A TLS handshake that failed, with the reason a person can act on (`client certificate not signed by the CA
/// in --tls-ca (issued by CN=Other CA; --tls-ca holds CN=Hospital CA)`).
public struct TLSHandshakeFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "TLS handshake failed: \(reason)" }
}

/// How a connection's TLS handshake ended.
public enum TLSHandshakeOutcome: Sendable {
    case established(TLSSessionInfo)
    case failed(TLSHandshakeFailure)
}

extension TLSContext {
    /// Puts TLS at the front of a new connection's pipeline (before the DICOM handlers): the library's handler,
    /// a watcher of the raw bytes under it (the peer's first byte, the ServerHello's cipher suite) and a reporter
    /// above it that calls `report` once, when the handshake ends either way. A failed handshake closes the
    /// connection; its error does not reach the DICOM handlers. `host` is the host we connect to (client side).
    public func install(on channel: any Channel, host: String? = nil,
                        report: @escaping @Sendable (TLSHandshakeOutcome) -> Void) throws {
        let watcher = TLSWireWatcher(side: side)
        let tlsHandler: NIOSSLHandler
        switch side {
        case .server:
            tlsHandler = NIOSSLServerHandler(context: context)
        case .client:
            // SNI and the name check: the name asked for, else a host name; an IP address is checked against the
            // certificate's IP addresses by the library (it must not be sent as SNI).
            let name = serverName ?? host.flatMap { (try? SocketAddress(ipAddress: $0, port: 0)) == nil ? $0 : nil }
            do {
                tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: name)
            } catch {
                throw TLSHandshakeFailure(reason: "\(name ?? "") cannot be a TLS server name; give \(options.serverName) with the "
                                              + "host name in the server's certificate")
            }
        }
        let reporter = TLSHandshakeReporter(context: self, watcher: watcher, host: host, report: report)
        try channel.pipeline.syncOperations.addHandlers([watcher, tlsHandler, reporter])
    }
}

/// Under the TLS handler: sees the bytes on the wire. Notes the peer's first byte (a DICOM PDU type instead of a
/// TLS record means the peer speaks plain DICOM) and reads the cipher suite from the ServerHello, which is sent
/// in the clear in TLS 1.2 and 1.3 (RFC 8446 §4.1.3), since the library does not report it. Parses nothing else.
final class TLSWireWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// TLS record content type of handshake records (RFC 8446 §5.1), and the ServerHello's handshake type (§4).
    private static let handshakeRecord: UInt8 = 22
    private static let serverHelloMessage: UInt8 = 2
    /// Give up looking for the ServerHello past this many bytes (it is the server's first message).
    private static let searchLimit = 32 * 1024

    private let side: TLSContext.Side
    /// The first byte the peer sent, once it has sent one.
    private(set) var firstPeerByte: UInt8?
    private(set) var cipherSuite: UInt16?
    private var serverFlight: ByteBuffer?
    private var searching = true

    init(side: TLSContext.Side) { self.side = side }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if firstPeerByte == nil { firstPeerByte = bytes.getInteger(at: bytes.readerIndex) }
        if side == .client && searching { look(at: bytes) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if side == .server && searching { look(at: unwrapOutboundIn(data)) }
        context.write(data, promise: promise)
    }

    private func look(at bytes: ByteBuffer) {
        var flight = serverFlight ?? ByteBuffer()
        var more = bytes
        flight.writeBuffer(&more)
        serverFlight = flight
        // Records: type (1), version (2), length (2), fragment. The ServerHello: type 2, length (3), version (2),
        // random (32), session id length (1) and id, then the cipher suite (2).
        while let type = flight.getInteger(at: flight.readerIndex, as: UInt8.self),
              let length = flight.getInteger(at: flight.readerIndex + 3, as: UInt16.self),
              flight.readableBytes >= 5 + Int(length) {
            let fragment = flight.readerIndex + 5
            if type == Self.handshakeRecord, flight.getInteger(at: fragment, as: UInt8.self) == Self.serverHelloMessage,
               let idLength = flight.getInteger(at: fragment + 38, as: UInt8.self),
               let suite = flight.getInteger(at: fragment + 39 + Int(idLength), as: UInt16.self),
               39 + Int(idLength) + 2 <= Int(length) {
                cipherSuite = suite
                stop()
                return
            }
            flight.moveReaderIndex(forwardBy: 5 + Int(length))
        }
        serverFlight = flight
        if flight.writerIndex > Self.searchLimit { stop() }
    }

    private func stop() {
        searching = false
        serverFlight = nil
    }
}

/// Above the TLS handler: reports the handshake's outcome once (version, suite, peer certificate; or the reason
/// it failed, in words) and keeps TLS errors from the DICOM handlers.
final class TLSHandshakeReporter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let tls: TLSContext
    private let watcher: TLSWireWatcher
    private let host: String?
    private let report: @Sendable (TLSHandshakeOutcome) -> Void
    private var reported = false
    private var established = false
    /// Whether application data has arrived: in TLS 1.3 a client's handshake is over before the server has
    /// checked the client's certificate, so the server's refusal (an alert) arrives in place of the first data.
    private var dataArrived = false

    init(context: TLSContext, watcher: TLSWireWatcher, host: String?, report: @escaping @Sendable (TLSHandshakeOutcome) -> Void) {
        self.tls = context
        self.watcher = watcher
        self.host = host
        self.report = report
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        dataArrived = true
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted? = event as? TLSUserEvent, !reported {
            let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
            let peer = handler?.peerCertificate
            established = true
            reported = true
            report(.established(TLSSessionInfo(
                version: TLSProfile.versionName(handler?.tlsVersion),
                cipherSuite: watcher.cipherSuite.map(TLSProfile.cipherSuiteName) ?? "(cipher suite not seen)",
                peerRole: tls.side == .server ? "client" : "server",
                peerSubject: peer?.subjectDescription, peerIssuer: peer?.issuerDescription)))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if established && !dataArrived && (error as? NIOSSLError) != .uncleanShutdown
            && (error is NIOSSLError || error is BoringSSLError) {
            reported = false
            established = false
        }
        if established {
            // A peer that closes without TLS's close_notify (many do) ends the association as a TCP close would.
            if case .uncleanShutdown? = error as? NIOSSLError { return }
            context.fireErrorCaught(error)
            return
        }
        let peer = (try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self))?.peerCertificate
        fail(TLSFailureReason.explain(error, context: tls, peerCertificate: peer, firstPeerByte: watcher.firstPeerByte, host: host))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !established {
            fail(TLSFailureReason.explain(BoringSSLError.syscallError, context: tls, peerCertificate: nil,
                                          firstPeerByte: watcher.firstPeerByte, host: host))
        }
        context.fireChannelInactive()
    }

    private func fail(_ reason: String) {
        guard !reported else { return }
        reported = true
        report(.failed(TLSHandshakeFailure(reason: reason)))
    }
}
