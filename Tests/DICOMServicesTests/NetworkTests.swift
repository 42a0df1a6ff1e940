import DICOMCore
import DICOMNetwork
import DICOMTestSupport
import DICOMUL
import DIMSE
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Our SCU and SCP engine (DICOMNetwork) against DCMTK, and against each other.
@Suite(.peers) struct NetworkTests {
    static let verification = CEchoRequest.verificationSOPClassUID

    struct NoServices: DICOMServiceHandler {
        func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {}
    }

    static func echoServer(allowed: Set<String>? = nil, aeTitle: String? = nil) async throws -> DICOMServer {
        try await DICOMServer.start(port: 0, configuration: ServerConfiguration(
            aeTitle: aeTitle, allowList: allowed.map { CallingAEAllowList(aeTitles: $0) },
            supportedContexts: [verification: PresentationContextProposal.defaultTransferSyntaxes]), handler: NoServices())
    }

    @Test(.requires(.dcmtk)) func clientEchoesDCMTKStorescp() async throws {
        let dir = try TemporaryDirectory("net")
        defer { dir.remove() }
        let port = try freePort()
        let scp = try Subprocess(Peers.storescp, ["--aetitle", "STORESCP", String(port)], name: "storescp", directory: dir)
        defer { scp.stop() }
        // Until storescp listens (it prints nothing when it does): attempts until an association, however long a
        // loaded machine takes to start it.
        var client: DICOMClient?
        let deadline = ContinuousClock.now + peerMargin
        while client == nil, ContinuousClock.now < deadline, scp.process.isRunning {
            client = try? await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: AssociationParameters(
                callingAETitle: "ECHOSCU", calledAETitle: "STORESCP",
                contexts: PresentationContextProposal.numbered([Self.verification])))
            if client == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let association = try #require(client, "storescp: \(scp.stderr)")
        let context = try #require(association.context(for: Self.verification))
        let id = association.nextMessageID()
        try await association.send(.cEchoRequest(CEchoRequest(messageID: id)), dataSet: nil, contextID: context.id)
        let response = try #require(try await association.receive(timeout: .seconds(90)))
        guard case .cEchoResponse(let rsp) = response.command else { Issue.record("not a C-ECHO-RSP: \(response.command)"); return }
        #expect(rsp.status == 0x0000)
        #expect(rsp.messageIDBeingRespondedTo == id)
        try await association.release()
    }

    @Test(.requires(.dcmtk)) func dcmtkEchoscuAgainstOurServer() async throws {
        let server = try await Self.echoServer(allowed: ["ECHOSCU"], aeTitle: "DICOMTAP")
        let dir = try TemporaryDirectory("net")
        defer { dir.remove() }
        let ok = try Subprocess(Peers.echoscu, ["-v", "-aet", "ECHOSCU", "-aec", "DICOMTAP", "127.0.0.1", String(server.port)],
                                name: "echoscu", directory: dir)
        #expect(try await ok.wait(timeout: peerMargin) == 0, "\(ok.stderr)\(ok.stdout)")
        #expect((ok.stdout + ok.stderr).contains("Received Echo Response (Success)"))
        let unknown = try Subprocess(Peers.echoscu, ["-v", "-aet", "INTRUDER", "-aec", "DICOMTAP", "127.0.0.1", String(server.port)],
                                     name: "echoscu-bad", directory: dir)
        #expect(try await unknown.wait(timeout: peerMargin) != 0)
        #expect((unknown.stdout + unknown.stderr).contains("Calling AE Title Not Recognized"), "\(unknown.stdout)\(unknown.stderr)")
        let wrongCalled = try Subprocess(Peers.echoscu, ["-v", "-aet", "ECHOSCU", "-aec", "OTHER", "127.0.0.1", String(server.port)],
                                         name: "echoscu-called", directory: dir)
        #expect(try await wrongCalled.wait(timeout: peerMargin) != 0)
        #expect((wrongCalled.stdout + wrongCalled.stderr).contains("Called AE Title Not Recognized"))
        await server.shutdown()
    }

    @Test func clientAndServerAgreeAndRejectionIsTyped() async throws {
        let server = try await Self.echoServer(allowed: ["FRIEND"])
        let parameters = AssociationParameters(callingAETitle: "FRIEND", contexts: PresentationContextProposal.numbered([Self.verification, "1.2.3.4"]))
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: parameters)
        #expect(client.acceptedContexts.map(\.abstractSyntax) == [Self.verification])
        #expect(client.acceptedContexts.first?.transferSyntax == TransferSyntax.explicitVRLittleEndian.uid)
        for _ in 0..<3 {
            let id = client.nextMessageID()
            try await client.send(.cEchoRequest(CEchoRequest(messageID: id)), dataSet: nil, contextID: 1)
            let rsp = try #require(try await client.receive(timeout: .seconds(90)))
            #expect(rsp.command.messageIDBeingRespondedTo == id)
            #expect(rsp.command.status == 0)
        }
        try await client.release()
        var stranger = parameters
        stranger.callingAETitle = "STRANGER"
        do {
            _ = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: stranger)
            Issue.record("a stranger was accepted")
        } catch AssociationError.rejected(let rj) {
            #expect(rj.result == .rejectedPermanent)
            #expect(rj.source == .serviceUser)
            #expect(rj.reason == 3)
        }
        await server.shutdown()
    }

    /// `serve --allow AE@ADDRESS/PREFIX`: the right AE title from outside its block is rejected 1/1/3 like an unknown one.
    @Test func allowListWithAddresses() async throws {
        let allowList = try CallingAEAllowList(parsing: ["LOCAL@127.0.0.0/8", "FAR@10.0.0.0/8"])
        let server = try await DICOMServer.start(port: 0, configuration: ServerConfiguration(
            allowList: allowList, supportedContexts: [Self.verification: PresentationContextProposal.defaultTransferSyntaxes]),
            handler: NoServices())
        func associate(_ calling: String) async throws -> AssociateReject? {
            let parameters = AssociationParameters(callingAETitle: calling, contexts: PresentationContextProposal.numbered([Self.verification]))
            do {
                let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: parameters)
                try await client.release()
                return nil
            } catch AssociationError.rejected(let rj) {
                return rj
            }
        }
        #expect(try await associate("LOCAL") == nil)
        for refused in ["FAR", "STRANGER", "local"] {
            #expect(try await associate(refused) == CallingAEAllowList.reject, "\(refused)")
        }
        await server.shutdown()
    }

    @Test func nothingListeningIsAConnectionError() async throws {
        let port = try freePort()
        await #expect(throws: AssociationError.self) {
            _ = try await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: AssociationParameters(
                contexts: PresentationContextProposal.numbered([Self.verification]), connectTimeout: .seconds(2)))
        }
    }

    @Test func artimClosesAConnectionThatSendsNoAssociateRequest() async throws {
        let server = try await DICOMServer.start(port: 0, configuration: ServerConfiguration(
            supportedContexts: [Self.verification: PresentationContextProposal.defaultTransferSyntaxes],
            artimTimeout: .milliseconds(300)), handler: NoServices())
        let raw = try await RawClient.connect(port: server.port, group: MultiThreadedEventLoopGroup.singleton)
        // Sta2: ARTIM expires (AA-2) and the server closes without sending anything.
        try await raw.waitUntilClosed(timeout: peerMargin)
        #expect(raw.collector.received.current.readableBytes == 0)
        await server.shutdown()
    }

    @Test func garbageGetsAnAbortAndTheServerGoesOn() async throws {
        let server = try await Self.echoServer()
        let raw = try await RawClient.connect(port: server.port, group: MultiThreadedEventLoopGroup.singleton)
        // PDU type 0x09 does not exist. In Sta2 (awaiting the A-ASSOCIATE-RQ) PS3.8 Table 9-10 gives AA-1:
        // an A-ABORT, then the ARTIM timer until the requestor closes.
        try await raw.send([0x09, 0x00, 0x00, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF])
        let answer = try await raw.receive(atLeast: 10, timeout: peerMargin)
        #expect(Array(answer.prefix(6)) == [0x07, 0x00, 0x00, 0x00, 0x00, 0x04])
        await raw.close()
        // The server still answers others.
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: AssociationParameters(
            contexts: PresentationContextProposal.numbered([Self.verification])))
        try await client.send(.cEchoRequest(CEchoRequest(messageID: client.nextMessageID())), dataSet: nil, contextID: 1)
        #expect(try await client.receive(timeout: .seconds(90))?.command.status == 0)
        try await client.release()
        await server.shutdown()
    }

    @Test func releaseAnswersAndAbortIsSeenByTheServer() async throws {
        let server = try await Self.echoServer()
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: AssociationParameters(
            contexts: PresentationContextProposal.numbered([Self.verification])))
        await client.abort()
        try await eventually("the server to drop the aborted connection", timeout: peerMargin) { server.openConnections == 0 }
        await server.shutdown()
    }

    /// A PDV on a presentation context the association did not accept is a protocol error: A-ABORT from the
    /// service provider, reason invalid PDU parameter value (PS3.8 AA-8).
    @Test func pdvOnAnUnacceptedContextIsAborted() async throws {
        let server = try await Self.echoServer()
        let raw = try await RawClient.connect(port: server.port, group: MultiThreadedEventLoopGroup.singleton)
        let rq = AssociationParameters(contexts: PresentationContextProposal.numbered([Self.verification])).associateRequest
        try await raw.send(PDU.associateRequest(rq).encoded())
        let ac = try await raw.receive(atLeast: 6, timeout: peerMargin)
        #expect(ac.first == 0x02)
        let acLength = 6 + (Int(ac[2]) << 24 | Int(ac[3]) << 16 | Int(ac[4]) << 8 | Int(ac[5]))
        // P-DATA-TF with one PDV on context 3 (only 1 was proposed): a last command fragment of 2 bytes.
        try await raw.send([0x04, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00])
        let all = try await raw.receive(atLeast: acLength + 10, timeout: peerMargin)
        #expect(Array(all[acLength..<(acLength + 10)]) == [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x06])
        await raw.close()
        await server.shutdown()
    }

    @Test func shutdownAbortsOpenAssociations() async throws {
        let server = try await Self.echoServer()
        let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: AssociationParameters(
            contexts: PresentationContextProposal.numbered([Self.verification])))
        await server.shutdown()
        do {
            _ = try await client.receive(timeout: .seconds(90))
            Issue.record("the association went on after the server's shutdown")
        } catch AssociationError.aborted(let source, _) {
            #expect(source == 0)
        }
    }
}
