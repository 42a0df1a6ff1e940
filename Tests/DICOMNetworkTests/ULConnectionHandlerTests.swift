import DICOMUL
import DIMSE
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import DICOMNetwork

/// `ULConnectionHandler` behind `PDUFrameDecoder`, as our SCU and SCP run it, driven through an
/// `EmbeddedChannel`: the peer's PDUs are written in, ours read out, the ARTIM timer runs on the
/// embedded loop's clock. No sockets, no peers: each script is one path of PS3.8 Table 9-10.
@Suite struct ULConnectionHandlerTests {
    static let artim: TimeAmount = .seconds(30)
    static let implicitLittleEndian = "1.2.840.10008.1.2"
    static let request = AssociationParameters(
        callingAETitle: "SCU", calledAETitle: "SCP",
        contexts: [PresentationContextProposal(id: 1, abstractSyntax: CEchoRequest.verificationSOPClassUID,
                                               transferSyntaxes: [implicitLittleEndian])],
        maxPDULength: 16384).associateRequest

    /// Our SCP's answer to `request`: context 1 accepted.
    static func accept() throws -> AssociateAccept {
        let server = ServerConfiguration(aeTitle: "SCP",
                                         supportedContexts: [CEchoRequest.verificationSOPClassUID: [implicitLittleEndian]])
        guard case .accept(let accept) = server.decide(request) else {
            throw ScriptError("our SCP did not accept the request")
        }
        return accept
    }

    struct ScriptError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The events the handler reports to its owner, in order.
    struct Events: Sendable {
        let box = NIOLockedValueBox<[ULEvent]>([])

        func post(_ event: ULEvent) { box.withLockedValue { $0.append(event) } }

        var all: [ULEvent] { box.withLockedValue { $0 } }

        /// The events' names, e.g. `established`, `aborted(0,0)`.
        var names: [String] {
            all.map { event in
                switch event {
                case .associationRequested: "associationRequested"
                case .established: "established"
                case .rejected: "rejected"
                case .message: "message"
                case .releaseRequested: "releaseRequested"
                case .released: "released"
                case .aborted(let source, let reason): "aborted(\(source),\(reason))"
                case .protocolError: "protocolError"
                case .idleTimeout: "idleTimeout"
                case .closed: "closed"
                }
            }
        }
    }

    /// A connected channel with the handler in `role` behind the framing decoder.
    struct Connection {
        let channel: EmbeddedChannel
        let handler: ULConnectionHandler
        let events: Events

        init(_ role: ULConnectionHandler.Role, maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength) throws {
            let events = Events()
            self.events = events
            handler = ULConnectionHandler(role: role, artimTimeout: ULConnectionHandlerTests.artim, tap: nil,
                                          sink: { events.post($0) })
            channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PDUFrameDecoder(maximumPDULength: maximumPDULength)))
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 104)).wait()
        }

        /// The peer sends `pdu`.
        func peerSends(_ pdu: PDU) throws {
            try channel.writeInbound(pdu.encoded())
        }

        /// The PDUs we sent since the last call.
        func sent() throws -> [PDU] {
            var decoder = PDUDecoder()
            var pdus: [PDU] = []
            while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
                while let pdu = try decoder.decode(buffer: &bytes) { pdus.append(pdu) }
            }
            return pdus
        }

        /// An acceptor's association, established (Sta6).
        static func established() throws -> Connection {
            let accept = try ULConnectionHandlerTests.accept()
            let connection = try Connection(.acceptor(decide: { _ in .accept(accept) }))
            try connection.peerSends(.associateRequest(ULConnectionHandlerTests.request))
            #expect(try connection.sent() == [.associateAccept(accept)])
            #expect(connection.handler.state == .sta6)
            return connection
        }
    }

    static func echoRequest(messageID: UInt16, contextID: UInt8 = 1) throws -> [PDU] {
        let fragmenter = try MessageFragmenter(maximumLength: 16384)
        return try fragmenter.fragment(.cEchoRequest(CEchoRequest(messageID: messageID)), dataSet: nil,
                                       presentationContextID: contextID).map(PDU.dataTransfer)
    }

    // MARK: Association and release

    @Test func acceptorAssociatesReceivesAMessageAndIsReleased() throws {
        let accept = try Self.accept()
        let connection = try Connection(.acceptor(decide: { _ in .accept(accept) }))
        #expect(connection.handler.state == .sta2)  // AE-5: awaiting the A-ASSOCIATE-RQ
        try connection.peerSends(.associateRequest(Self.request))
        #expect(try connection.sent() == [.associateAccept(accept)])  // AE-6, AE-7
        #expect(connection.handler.state == .sta6)
        for pdu in try Self.echoRequest(messageID: 7) { try connection.peerSends(pdu) }  // DT-2
        try connection.peerSends(.releaseRequest(ReleasePDU()))
        #expect(try connection.sent() == [.releaseResponse(ReleasePDU())])  // AR-2, AR-4
        #expect(connection.handler.state == .sta13)
        try connection.channel.close().wait()  // AR-5
        #expect(connection.handler.state == .sta1)
        #expect(connection.events.names == ["associationRequested", "established", "message", "releaseRequested", "closed"])
        guard case .message(let message) = connection.events.all[2], case .cEchoRequest(let echo) = message.command else {
            Issue.record("no C-ECHO-RQ")
            return
        }
        #expect(echo.messageID == 7)
        #expect(message.presentationContextID == 1)
    }

    @Test func requestorAssociatesSendsAMessageAndReleases() throws {
        let connection = try Connection(.requestor(Self.request))
        #expect(try connection.sent() == [.associateRequest(Self.request)])  // AE-1, AE-2
        #expect(connection.handler.state == .sta5)
        // Nothing can be sent before the association is accepted.
        #expect(throws: AssociationError.self) {
            try connection.handler.send(command: .cEchoRequest(CEchoRequest(messageID: 1)), dataSet: nil, contextID: 1)
        }
        try connection.peerSends(.associateAccept(try Self.accept()))  // AE-3
        #expect(connection.handler.state == .sta6)
        try connection.handler.send(command: .cEchoRequest(CEchoRequest(messageID: 1)), dataSet: nil, contextID: 1)
        #expect(try connection.sent() == Self.echoRequest(messageID: 1))  // DT-1
        connection.handler.requestRelease()
        #expect(try connection.sent() == [.releaseRequest(ReleasePDU())])  // AR-1
        #expect(connection.handler.state == .sta7)
        try connection.peerSends(.releaseResponse(ReleasePDU()))  // AR-3: confirmation, then we close
        #expect(connection.handler.state == .sta1)
        #expect(!connection.channel.isActive)
        #expect(connection.events.names == ["established", "released", "closed"])
    }

    @Test func acceptorRejectsAndWaitsForThePeerToClose() throws {
        let reject = AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                     reason: AssociateReject.Reason.calledAETitleNotRecognized)
        let connection = try Connection(.acceptor(decide: { _ in .reject(reject, why: "not ours") }))
        try connection.peerSends(.associateRequest(Self.request))
        #expect(try connection.sent() == [.associateReject(reject)])  // AE-8
        #expect(connection.handler.state == .sta13)
        try connection.channel.close().wait()
        #expect(connection.handler.state == .sta1)
        #expect(connection.events.names == ["associationRequested", "closed"])
    }

    @Test func requestorIsRejected() throws {
        let connection = try Connection(.requestor(Self.request))
        _ = try connection.sent()
        let reject = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation,
                                     reason: AssociateReject.Reason.temporaryCongestion)
        try connection.peerSends(.associateReject(reject))  // AE-4: confirmation, then we close
        #expect(connection.handler.state == .sta1)
        #expect(!connection.channel.isActive)
        #expect(connection.events.names == ["rejected", "closed"])
    }

    // MARK: Abort

    @Test func peerAbortEndsTheAssociation() throws {
        let connection = try Connection.established()
        try connection.peerSends(.abort(Abort(source: .serviceUser, reason: .notSpecified)))  // AA-3
        #expect(try connection.sent().isEmpty)
        #expect(connection.handler.state == .sta1)
        #expect(!connection.channel.isActive)
        #expect(connection.events.names == ["associationRequested", "established", "aborted(0,0)", "closed"])
    }

    /// Our abort (AA-1), then the peer never closes: ARTIM expires and we close (AA-2).
    @Test func ourAbortThenARTIMCloses() throws {
        let connection = try Connection.established()
        connection.handler.requestAbort()
        #expect(try connection.sent() == [.abort(Abort(source: .serviceUser, reason: .notSpecified))])
        #expect(connection.handler.state == .sta13)
        connection.channel.embeddedEventLoop.advanceTime(by: Self.artim - .seconds(1))
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(connection.handler.state == .sta1)
        #expect(!connection.channel.isActive)
        #expect(connection.events.names == ["associationRequested", "established", "closed"])
    }

    /// A connection that never sends its A-ASSOCIATE-RQ is closed when ARTIM expires (Sta2, AA-2).
    @Test func silentRequestorIsClosedByARTIM() throws {
        let connection = try Connection(.acceptor(decide: { _ in .reject(AssociateReject(result: .rejectedPermanent,
                                                                                          source: .serviceUser, reason: 1),
                                                                           why: "unused") }))
        connection.channel.embeddedEventLoop.advanceTime(by: Self.artim)
        #expect(connection.handler.state == .sta1)
        #expect(!connection.channel.isActive)
        #expect(try connection.sent().isEmpty)
        #expect(connection.events.names == ["closed"])
    }

    /// A PDU longer than the framing limit: refused from its header, answered with a provider
    /// A-ABORT (AA-8, invalid-PDU-parameter value).
    @Test func oversizedPDUIsAbortedFromItsHeader() throws {
        let accept = try Self.accept()
        let connection = try Connection(.acceptor(decide: { _ in .accept(accept) }), maximumPDULength: 1024)
        try connection.peerSends(.associateRequest(Self.request))
        _ = try connection.sent()
        var header = ByteBuffer(bytes: [PDUType.dataTransfer.rawValue, 0])
        header.writeInteger(UInt32(1025))
        try connection.channel.writeInbound(header)
        #expect(try connection.sent() == [.abort(Abort(source: .serviceProvider, reason: .invalidPDUParameterValue))])
        #expect(connection.handler.state == .sta13)
        #expect(connection.events.names == ["associationRequested", "established", "protocolError"])
    }

    /// A PDV on a presentation context the association did not accept is a protocol error (AA-8).
    @Test func pdvOnAnUnacceptedContextIsAborted() throws {
        let connection = try Connection.established()
        for pdu in try Self.echoRequest(messageID: 3, contextID: 3) { try connection.peerSends(pdu) }
        #expect(try connection.sent() == [.abort(Abort(source: .serviceProvider, reason: .invalidPDUParameterValue))])
        #expect(connection.handler.state == .sta13)
        #expect(connection.events.names == ["associationRequested", "established", "protocolError"])
    }

    /// An A-ASSOCIATE-RQ again once established: unexpected PDU (AA-8).
    @Test func secondAssociateRequestIsAborted() throws {
        let connection = try Connection.established()
        try connection.peerSends(.associateRequest(Self.request))
        #expect(try connection.sent() == [.abort(Abort(source: .serviceProvider, reason: .unexpectedPDU))])
        #expect(connection.handler.state == .sta13)
    }
}
