import DICOMCore
import DICOMNetwork
import DICOMPeerSupport
import DICOMUL
import DIMSE
import NIOCore
import NIOPosix
import Testing

/// The limits and timeouts of our SCP (`ServerConfiguration`: `idleTimeout`, `artimTimeout`, `requestTimeout`,
/// `maximumQueuedRequests`, `maxPDULength`), each on loopback against a server on a port the OS picked: what the
/// peer gets when it runs into one, what it gets when it stays within it, and that the server serves a new
/// association afterwards.
///
/// Timeouts are short and every wait for an event is long (this runs on a loaded 2-core machine): no test asserts
/// that something happened within a time, only that it happens, or that it does not happen while the peer stays
/// well within a limit.
@Suite(.ownExecutor) struct ServerLimitsTests {

    // MARK: idleTimeout

    /// An association established and then silent is aborted after the idle timeout: A-ABORT (AA-1: the SCP's
    /// own decision, source service-user 0, reason 0), then the server closes the connection; nothing else is sent.
    @Test func silentAssociationIsAbortedAfterTheIdleTimeout() async throws {
        try await withServer(configuration(idle: .seconds(1))) { server in
            let (peer, _) = try await RawPeer.associate(port: server.port, timeoutCutsTolerated: 3)
            let abort = try await peer.waitForAbort()
            #expect(abort.source == .serviceUser)
            #expect(abort.reason == .notSpecified)
            try await peer.waitUntilClosed()
            #expect(try peer.pdus().map(\.type) == [.associateAccept, .abort])
            try await eventually("the server to forget the connection", timeout: patience) { server.openConnections == 0 }
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 10)
        }
    }

    /// An association that keeps talking (a C-ECHO every 100 ms for 2.5 times the 6 s idle timeout) is not aborted;
    /// once it falls silent, it is. (6 s, event loops of its own that no other test loads, and the SCU's loop on the
    /// suite's queue of its own: beside a parallel build, tests that block the cooperative pool's two threads once
    /// held it back for over 6 s.)
    @Test func associationThatKeepsTalkingIsNotAbortedUntilItFallsSilent() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { Task { try? await group.shutdownGracefully() } }
        try await talkThenFallSilent(group: group)
    }

    private func talkThenFallSilent(group: MultiThreadedEventLoopGroup) async throws {
        let idle = Duration.seconds(6)
        try await withServer(configuration(idle: TimeAmount(idle)), group: group) { server in
            // The SCU itself stalled past the idle timeout (a CI machine running two peer tests and a build on two
            // cores once held it 6 s between echoes): the server was right to abort, and the talking starts again
            // on a new association. An abort while the SCU kept within the timeout fails the test.
            var client: DICOMClient
            var attempt = 0
            talking: while true {
                attempt += 1
                client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: parameters(), group: group)
                let start = ContinuousClock.now
                var lastAnswer = start
                var echoes = 0
                while ContinuousClock.now - start < .seconds(15) {
                    let id = client.nextMessageID()
                    do {
                        try await client.send(.cEchoRequest(CEchoRequest(messageID: id)), dataSet: nil, contextID: 1)
                        let response = try #require(try await client.receive(timeout: margin))
                        #expect(response.command.messageIDBeingRespondedTo == id)
                        #expect(response.command.status == 0x0000)
                    } catch where ContinuousClock.now - lastAnswer >= idle && attempt < 3 {
                        await client.abort()
                        continue talking
                    }
                    lastAnswer = ContinuousClock.now
                    echoes += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(echoes >= 2)
                break
            }
            do {
                let message = try await client.receive(timeout: margin)
                Issue.record("the silent association was not aborted; received \(String(describing: message?.command))")
            } catch AssociationError.aborted(let source, let reason) {
                #expect(source == 0)
                #expect(reason == 0)
            }
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    // MARK: artimTimeout

    /// A connection that never sends its A-ASSOCIATE-RQ is closed when ARTIM expires (Sta2, AA-2), without a byte.
    @Test func artimClosesAConnectionThatNeverAssociates() async throws {
        try await withServer(configuration(artim: .milliseconds(300))) { server in
            let peer = try await RawPeer.connect(port: server.port)
            try await peer.waitUntilClosed()
            #expect(peer.collector.received.current.readableBytes == 0)
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    /// After answering an A-RELEASE-RQ (AR-4), the server waits ARTIM for the requestor to close (Sta13), then
    /// closes the connection itself (AA-2).
    @Test func artimClosesAfterAReleaseTheRequestorDoesNotClose() async throws {
        try await withServer(configuration(artim: .milliseconds(300))) { server in
            let (peer, _) = try await RawPeer.associate(port: server.port, then: [.releaseRequest(ReleasePDU())],
                                                        timeoutCutsTolerated: 3)
            _ = try await peer.waitForPDU("the A-RELEASE-RP") { $0.type == .releaseResponse }
            try await peer.waitUntilClosed()
            #expect(try peer.pdus().map(\.type) == [.associateAccept, .releaseResponse])
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    // MARK: a handler that never answers

    /// The server does not bound the time its service handler takes: a request whose handler never answers gets
    /// no response, and the association ends only because the peer, waiting, is silent for the idle timeout
    /// (A-ABORT 0/0, close). The handler is not cancelled: its answer, once it comes, fails (no association).
    @Test func requestWhoseHandlerNeverAnswersIsCutByTheIdleTimeout() async throws {
        let gate = Gate()
        defer { gate.open() }
        let handler = FindHandler(gate: gate)
        try await withServer(configuration(idle: .milliseconds(500)), handler: handler) { server in
            let find = try dataTransfers(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: SOP.find)),
                                         dataSet: identifier(), contextID: 1)
            let (peer, _) = try await RawPeer.associate(port: server.port, [SOP.find], then: find, timeoutCutsTolerated: 3)
            let abort = try await peer.waitForAbort()
            #expect(abort.source == .serviceUser)
            #expect(abort.reason == .notSpecified)
            try await peer.waitUntilClosed()
            #expect(try peer.messages().isEmpty)
            try await eventually("the handler to have the request", timeout: patience) { handler.started.current == [1] }
            gate.open()
            try await eventually("the late answer to fail", timeout: patience) { handler.failedAnswers.current.count == 1 }
            #expect(handler.answered.current.isEmpty)
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    // MARK: requestTimeout

    /// `requestTimeout` bounds the wait for the SCU's response to a request of ours (a C-GET's C-STORE
    /// sub-operation): the SCU that never answers it makes `DIMSEResponder.request` throw `.timedOut`; our handler
    /// throws it on, and the SCU gets an A-ABORT (0/0) instead of the C-GET-RSP.
    @Test func subOperationTheSCUNeverAnswersTimesOut() async throws {
        let handler = GetHandler()
        try await withServer(configuration(requestTimeout: .milliseconds(300)), handler: handler) { server in
            let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port,
                                                       parameters: parameters([SOP.get, SOP.secondaryCapture]))
            let get = try #require(client.context(for: SOP.get))
            try await client.send(.cGetRequest(CGetRequest(messageID: client.nextMessageID(), affectedSOPClassUID: SOP.get)),
                                  dataSet: identifier(), contextID: get.id)
            let store = try #require(try await client.receive(timeout: margin))
            guard case .cStoreRequest = store.command else {
                Issue.record("expected the C-STORE-RQ sub-operation, got \(store.command)")
                return
            }
            // We never answer it.
            do {
                let message = try await client.receive(timeout: margin)
                Issue.record("expected an A-ABORT, got \(String(describing: message?.command))")
            } catch AssociationError.aborted(let source, let reason) {
                #expect(source == 0)
                #expect(reason == 0)
            }
            let errors = handler.errors.current
            #expect(errors.count == 1)
            if let error = errors.first {
                guard case AssociationError.timedOut = error else {
                    Issue.record("the sub-operation failed with \(error), not a timeout")
                    return
                }
            }
            #expect(handler.outcomes.current.isEmpty)
            try await expectServesEcho(port: server.port)
        }
    }

    /// The same C-GET whose sub-operation the SCU answers (well within a 30 s `requestTimeout`) completes.
    @Test func subOperationTheSCUAnswersCompletes() async throws {
        let handler = GetHandler()
        try await withServer(configuration(requestTimeout: .seconds(30)), handler: handler) { server in
            let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port,
                                                       parameters: parameters([SOP.get, SOP.secondaryCapture]))
            let get = try #require(client.context(for: SOP.get))
            let getID = client.nextMessageID()
            try await client.send(.cGetRequest(CGetRequest(messageID: getID, affectedSOPClassUID: SOP.get)),
                                  dataSet: identifier(), contextID: get.id)
            let store = try #require(try await client.receive(timeout: margin))
            guard case .cStoreRequest(let rq) = store.command else {
                Issue.record("expected the C-STORE-RQ sub-operation, got \(store.command)")
                return
            }
            try await client.send(.cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: rq.messageID, status: 0x0000,
                                                                 affectedSOPClassUID: rq.affectedSOPClassUID,
                                                                 affectedSOPInstanceUID: rq.affectedSOPInstanceUID)),
                                  dataSet: nil, contextID: store.presentationContextID)
            let final = try #require(try await client.receive(timeout: margin))
            guard case .cGetResponse(let rsp) = final.command else {
                Issue.record("expected the C-GET-RSP, got \(final.command)")
                return
            }
            #expect(rsp.messageIDBeingRespondedTo == getID)
            #expect(rsp.status == 0x0000)
            #expect(rsp.numberOfCompletedSuboperations == 1)
            #expect(handler.outcomes.current == ["C-STORE-RSP 0"])
            #expect(handler.errors.current.isEmpty)
            try await client.release()
        }
    }

    // MARK: maximumQueuedRequests

    /// Requests pipelined up to `maximumQueuedRequests` (3, all in while the handler is still busy with the
    /// first) are all answered, in order.
    @Test func pipelinedRequestsWithinTheQueueLimitAreAllAnswered() async throws {
        let gate = Gate()
        defer { gate.open() }
        let handler = FindHandler(gate: gate)
        let received = ReceivedDataTransfers()
        try await withServer(configuration(maximumQueuedRequests: 3, tap: received.tap), handler: handler) { server in
            var requests: [PDU] = []
            for id in UInt16(1)...3 {
                requests += try dataTransfers(.cFindRequest(CFindRequest(messageID: id, affectedSOPClassUID: SOP.find)),
                                              dataSet: identifier(), contextID: 1)
            }
            let (peer, _) = try await RawPeer.associate(port: server.port, [SOP.find], then: requests)
            // Every request is in (command and data set PDUs) before the handler may answer the first.
            try await eventually("the server to receive the 3 requests", timeout: patience) { received.count.current == 6 }
            gate.open()
            try await eventually("the 3 responses", timeout: patience) { try peer.messages().count == 3 || peer.isClosed }
            let responses = try peer.messages()
            #expect(responses.map(\.command.messageIDBeingRespondedTo) == [1, 2, 3])
            #expect(responses.map(\.command.status) == [0, 0, 0])
            // The handler notes an answer after its send completes, which may be after the peer has read it.
            try await eventually("the handler's 3 sends to complete", timeout: patience) { handler.answered.current.count == 3 }
            #expect(handler.answered.current == [1, 2, 3])
            try await peer.send(.releaseRequest(ReleasePDU()))
            _ = try await peer.waitForPDU("the A-RELEASE-RP") { $0.type == .releaseResponse }
            let pdus = try peer.pdus()
            #expect(!pdus.contains { $0.type == .abort })
            await peer.close()
            try await expectServesEcho(port: server.port)
        }
    }

    /// More requests pipelined than the queue holds (5 with `maximumQueuedRequests` 3 and the handler busy:
    /// at most 1 handled + 3 queued) get an A-ABORT (service-user 0/0) and no response; the server then closes
    /// (ARTIM, as the peer does not) and serves others. The requests already queued still reach the handler after
    /// the abort; their answers fail.
    @Test func pipelinedRequestsOverTheQueueLimitAreAborted() async throws {
        let gate = Gate()
        defer { gate.open() }
        let handler = FindHandler(gate: gate)
        try await withServer(configuration(artim: .milliseconds(500), maximumQueuedRequests: 3), handler: handler) { server in
            var requests: [PDU] = []
            for id in UInt16(1)...5 {
                requests += try dataTransfers(.cFindRequest(CFindRequest(messageID: id, affectedSOPClassUID: SOP.find)),
                                              dataSet: identifier(), contextID: 1)
            }
            let (peer, _) = try await RawPeer.associate(port: server.port, [SOP.find], then: requests, timeoutCutsTolerated: 3)
            let abort = try await peer.waitForAbort()
            #expect(abort.source == .serviceUser)
            #expect(abort.reason == .notSpecified)
            try await peer.waitUntilClosed()
            #expect(try peer.messages().isEmpty)
            gate.open()
            try await eventually("the handler to give up on the queued requests", timeout: patience) {
                !handler.started.current.isEmpty && handler.failedAnswers.current.count == handler.started.current.count
            }
            #expect(handler.answered.current.isEmpty)
            #expect(handler.started.current.count <= 4)
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    // MARK: maxPDULength

    /// A request fragmented to exactly the maximum length we advertised (4096) is answered.
    @Test func pdataOfExactlyTheAdvertisedMaximumIsAccepted() async throws {
        let handler = FindHandler()
        let received = ReceivedDataTransfers()
        try await withServer(configuration(maxPDU: 4096, tap: received.tap), handler: handler) { server in
            let client = try await DICOMClient.connect(host: "127.0.0.1", port: server.port, parameters: parameters([SOP.find]))
            #expect(client.peerMaxPDULength == 4096)
            let id = client.nextMessageID()
            try await client.send(.cFindRequest(CFindRequest(messageID: id, affectedSOPClassUID: SOP.find)),
                                  dataSet: identifier(length: 10_000), contextID: 1)
            let response = try #require(try await client.receive(timeout: margin))
            #expect(response.command.messageIDBeingRespondedTo == id)
            #expect(response.command.status == 0x0000)
            #expect(received.largest.current == 4096)
            try await client.release()
        }
    }

    /// A P-DATA-TF longer than the maximum length we advertised in our A-ASSOCIATE-AC (4098 > 4096) is a protocol
    /// error (PS3.8 Annex D.1): A-ABORT from the service provider, reason invalid-PDU-parameter value (2/6, AA-8),
    /// the request never reaches the handler, and the server closes (ARTIM, as the peer does not) and serves others.
    @Test func pdataOverTheAdvertisedMaximumIsAborted() async throws {
        let handler = FindHandler()
        try await withServer(configuration(artim: .milliseconds(500), maxPDU: 4096), handler: handler) { server in
            // The command in a PDU of its own, then the whole 4092-byte data set in one PDV: PDU-length 6 + 4092.
            let find = try dataTransfers(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: SOP.find)),
                                         dataSet: identifier(length: 4092), contextID: 1)
            #expect(find.count == 2)
            #expect(find.last.map { $0.encoded().readableBytes - 6 } == 4098)
            let (peer, ac) = try await RawPeer.associate(port: server.port, [SOP.find], then: find, timeoutCutsTolerated: 3)
            #expect(ac.fields.maximumLength == 4096)
            let abort = try await peer.waitForAbort()
            #expect(abort.source == .serviceProvider)
            #expect(abort.reason == .invalidPDUParameterValue)
            try await peer.waitUntilClosed()
            #expect(try peer.messages().isEmpty)
            #expect(handler.started.current.isEmpty)
            await peer.close()
            try await expectServesEcho(port: server.port, timeoutCutsTolerated: 3)
        }
    }

    /// Our SCU holds an acceptor to the maximum length it advertised in its A-ASSOCIATE-RQ just the same: a
    /// P-DATA-TF over it gets an A-ABORT 2/6, `receive` reports the protocol violation, and the connection is
    /// closed (ARTIM, as the acceptor does not).
    @Test func clientAbortsAnAcceptorThatExceedsItsMaximum() async throws {
        let acceptor = try await RawAcceptor.start()
        do {
            async let connecting = DICOMClient.connect(host: "127.0.0.1", port: acceptor.port,
                                                       parameters: parameters([SOP.find], maxPDU: 4096, artim: .milliseconds(500)))
            let scp = try await acceptor.firstConnection()
            let rqPDU = try await scp.waitForPDU("the A-ASSOCIATE-RQ") { $0.type == .associateRequest }
            guard case .associateRequest(let rq) = rqPDU else { preconditionFailure() }
            #expect(rq.fields.maximumLength == 4096)
            guard case .accept(let ac) = configuration().decide(rq) else {
                Issue.record("our own configuration rejected the request")
                await acceptor.stop()
                return
            }
            // A pending C-FIND-RSP whose identifier comes in one PDU of 4098 bytes.
            let pending = CFindResponse(messageIDBeingRespondedTo: 1, status: 0xFF00, affectedSOPClassUID: SOP.find, hasDataSet: true)
            try await scp.send([.associateAccept(ac)]
                + dataTransfers(.cFindResponse(pending), dataSet: identifier(length: 4092), contextID: 1))
            let client = try await connecting
            do {
                let message = try await client.receive(timeout: margin)
                Issue.record("expected a protocol violation, got \(String(describing: message?.command))")
            } catch AssociationError.protocolViolation(let why) {
                #expect(why.contains("4098"), "\(why)")
                #expect(why.contains("4096"), "\(why)")
            }
            let abort = try await scp.waitForAbort()
            #expect(abort.source == .serviceProvider)
            #expect(abort.reason == .invalidPDUParameterValue)
            try await scp.waitUntilClosed()
        } catch {
            await acceptor.stop()
            throw error
        }
        await acceptor.stop()
    }

    // MARK: a real peer

    /// DCMTK's echoscu is served before and after each fault: a P-DATA-TF over our maximum, more pipelined
    /// requests than the queue holds (the raw peers close on the A-ABORT, as a real one does), an association left
    /// silent past the idle timeout (3 s: room for echoscu's own association).
    @Test(.requires(.dcmtk), .peers) func dcmtkEchoscuIsServedAfterEachFault() async throws {
        let gate = Gate()
        defer { gate.open() }
        let handler = FindHandler(gate: gate)
        let dir = try TemporaryDirectory("network")
        defer { dir.remove() }
        try await withServer(configuration(idle: .seconds(3), maxPDU: 4096, maximumQueuedRequests: 2),
                             handler: handler) { server in
            func echoscu(_ name: String) async throws {
                let process = try Subprocess(Peers.echoscu, ["-v", "-aet", "ECHOSCU", "-aec", "DICOMTAP", "127.0.0.1", String(server.port)],
                                             name: name, directory: dir)
                defer { process.stop() }
                let status = try await process.wait(timeout: .seconds(120))
                let output = process.stdout + process.stderr
                #expect(status == 0, "\(name): \(output)")
                #expect(output.contains("Received Echo Response (Success)"), "\(name): \(output)")
            }
            try await echoscu("echoscu-first")

            let oversized = try dataTransfers(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: SOP.find)),
                                              dataSet: identifier(length: 4092), contextID: 1)
            let (tooLong, _) = try await RawPeer.associate(port: server.port, [SOP.find], then: oversized, timeoutCutsTolerated: 3)
            #expect(try await tooLong.waitForAbort().reason == .invalidPDUParameterValue)
            await tooLong.close()
            try await echoscu("echoscu-after-oversized-pdu")

            var flood: [PDU] = []
            for id in UInt16(1)...4 {
                flood += try dataTransfers(.cFindRequest(CFindRequest(messageID: id, affectedSOPClassUID: SOP.find)),
                                           dataSet: identifier(), contextID: 1)
            }
            let (flooding, _) = try await RawPeer.associate(port: server.port, [SOP.find], then: flood, timeoutCutsTolerated: 3)
            #expect(try await flooding.waitForAbort().source == .serviceUser)
            await flooding.close()
            try await echoscu("echoscu-after-queue-overflow")

            let (silent, _) = try await RawPeer.associate(port: server.port, timeoutCutsTolerated: 3)
            #expect(try await silent.waitForAbort().source == .serviceUser)
            try await silent.waitUntilClosed()
            await silent.close()
            try await echoscu("echoscu-after-idle-abort")
        }
    }
}
