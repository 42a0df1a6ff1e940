import DICOMInspect
import DICOMUL
import NIOCore
import Testing
@testable import DICOMProxy

/// The relay's state machine as scripts: event in, action out.
@Suite struct RelayStateMachineTests {
    static let upstream = ProxyEndpoint(host: "127.0.0.1", port: 11112)
    static let routing = RoutingTable(routes: ["CARDIO": ProxyEndpoint(host: "10.0.0.1", port: 104)], defaultUpstream: upstream)

    static func request(called: String) -> PDU {
        guard case .some(let pdu) = try? PDU(frame: frame(TestPDUs.associateRequest(called: called))) else {
            return .releaseRequest(ReleasePDU())
        }
        return pdu
    }

    static func frame(_ bytes: ByteBuffer) -> PDUFrame {
        var b = bytes
        var decoder = PDUFrameDecoder()
        return (try? decoder.decodeFrame(buffer: &b)) ?? PDUFrame(type: .abort, reserved: 0, body: ByteBuffer(), streamOffset: 0)
    }

    static let accept = PDU.associateAccept(AssociateAccept(fields: AssociationPDUFields(calledAETitle: "A", callingAETitle: "B", items: [])))
    static let data = PDU.dataTransfer(DataTransfer(items: []))

    @Test func relaysAnAssociationFromRequestToRelease() {
        var machine = RelayStateMachine(routing: Self.routing)
        #expect(machine.mayRead(.requestor))
        #expect(machine.requestorSent(Self.request(called: "ANY")) == .connect(Self.upstream))
        #expect(!machine.mayRead(.requestor))
        #expect(machine.requestorSent(Self.data) == .hold)
        #expect(machine.upstreamConnected() == .sendHeldPDUs)
        #expect(machine.state == .awaitingAssociateResponse)
        #expect(machine.acceptorSent(Self.accept) == .forward(to: .requestor))
        #expect(machine.state == .relaying)
        #expect(machine.requestorSent(Self.data) == .forward(to: .acceptor))
        #expect(machine.acceptorSent(Self.data) == .forward(to: .requestor))
        #expect(machine.inputClosed(.requestor) == .closeOutput(.acceptor))
        #expect(machine.channelClosed(.acceptor) == .close(.requestor))
        #expect(machine.channelClosed(.requestor) == .none)
        #expect(machine.isFinished)
    }

    @Test func routesByCalledAETitle() {
        var machine = RelayStateMachine(routing: Self.routing)
        #expect(machine.requestorSent(Self.request(called: "CARDIO")) == .connect(ProxyEndpoint(host: "10.0.0.1", port: 104)))
    }

    @Test func rejectsWithoutRouteOrDefault() {
        var machine = RelayStateMachine(routing: RoutingTable(routes: ["CARDIO": Self.upstream]))
        let rj = AssociateReject(result: .rejectedPermanent, source: .serviceUser, reason: 7)
        #expect(machine.requestorSent(Self.request(called: "OTHER")) == .reject(rj, abortAcceptor: false, .noRoute(calledAETitle: "OTHER")))
        #expect(machine.channelClosed(.requestor) == .none)
        #expect(machine.isFinished)
    }

    /// The allow-list is checked before routing: a calling AE title not allowed, or allowed but from
    /// another address, gets A-ASSOCIATE-RJ 1/1/3 and no upstream connection.
    @Test func rejectsCallingAETitlesNotAllowed() throws {
        let allowList = try CallingAEAllowList(parsing: ["RAWSCU@127.0.0.1", "FAR@10.0.0.0/8"])
        let local = IPAddress("127.0.0.1")
        func request(calling: String) -> PDU {
            (try? PDU(frame: Self.frame(TestPDUs.associateRequest(called: "ANY", calling: calling)))) ?? Self.data
        }
        let rj = AssociateReject(result: .rejectedPermanent, source: .serviceUser, reason: 3)

        var allowed = RelayStateMachine(routing: Self.routing, allowList: allowList, requestorAddress: local)
        #expect(allowed.requestorSent(request(calling: "RAWSCU")) == .connect(Self.upstream))

        var unknown = RelayStateMachine(routing: Self.routing, allowList: allowList, requestorAddress: local)
        #expect(unknown.requestorSent(request(calling: "INTRUDER")) == .reject(rj, abortAcceptor: false, .callingAETitleNotAllowed(
            "calling AE title \"INTRUDER\" from 127.0.0.1 is not on the allow-list")))
        #expect(unknown.state == .closing)
        #expect(unknown.channelClosed(.requestor) == .none)
        #expect(unknown.isFinished)

        var elsewhere = RelayStateMachine(routing: Self.routing, allowList: allowList, requestorAddress: local)
        #expect(elsewhere.requestorSent(request(calling: "FAR")) == .reject(rj, abortAcceptor: false, .callingAETitleNotAllowed(
            "calling AE title \"FAR\" is allowed only from 10.0.0.0/8, not from 127.0.0.1")))

        // Refused before routing: no route is not what a client that is not allowed hears.
        var unrouted = RelayStateMachine(routing: RoutingTable(routes: ["CARDIO": Self.upstream]), allowList: allowList,
                                         requestorAddress: local)
        guard case .reject(_, _, .callingAETitleNotAllowed) = unrouted.requestorSent(request(calling: "INTRUDER")) else {
            Issue.record("not refused by the allow-list")
            return
        }
    }

    @Test func rejectsTransientlyWhenTheUpstreamIsUnreachable() {
        var machine = RelayStateMachine(routing: Self.routing)
        _ = machine.requestorSent(Self.request(called: "ANY"))
        let rj = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation, reason: 1)
        #expect(machine.upstreamConnectFailed("refused") == .reject(rj, abortAcceptor: false, .upstreamUnreachable("refused")))
        #expect(machine.associationResponseTimedOut() == .none)
        #expect(machine.channelClosed(.requestor) == .none)
        #expect(machine.isFinished)
    }

    @Test func rejectsAndAbortsUpstreamThatDoesNotAnswer() {
        var machine = RelayStateMachine(routing: Self.routing)
        _ = machine.requestorSent(Self.request(called: "ANY"))
        _ = machine.upstreamConnected()
        let rj = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation, reason: 1)
        #expect(machine.associationResponseTimedOut() == .reject(rj, abortAcceptor: true, .upstreamNotAnswering))
        #expect(machine.acceptorSent(Self.accept) == .none)
    }

    @Test func abortsBothOnAMalformedPDU() {
        var machine = RelayStateMachine(routing: Self.routing)
        _ = machine.requestorSent(Self.request(called: "ANY"))
        _ = machine.upstreamConnected()
        _ = machine.acceptorSent(Self.accept)
        #expect(machine.malformedPDU(from: .acceptor, unknownType: true, detail: "x")
                == .abort(Abort(source: .serviceProvider, reason: .unrecognizedPDU), .malformedPDU(from: .acceptor, "x")))
        #expect(machine.malformedPDU(from: .requestor, unknownType: false, detail: "y") == .none)
        #expect(machine.requestorSent(Self.data) == .none)
        // The A-ABORT to the upstream is not cut short when the SCU's side closes first.
        #expect(machine.channelClosed(.requestor) == .none)
        #expect(!machine.isFinished)
        #expect(machine.channelClosed(.acceptor) == .none)
        #expect(machine.isFinished)
    }

    @Test func invalidParameterValueForADecodingFailure() {
        var machine = RelayStateMachine(routing: Self.routing)
        #expect(machine.malformedPDU(from: .requestor, unknownType: false, detail: "z")
                == .abort(Abort(source: .serviceProvider, reason: .invalidPDUParameterValue), .malformedPDU(from: .requestor, "z")))
    }

    @Test func abortsWhenTheFirstPDUIsNotAnAssociateRequest() {
        var machine = RelayStateMachine(routing: Self.routing)
        #expect(machine.requestorSent(Self.data)
                == .abort(Abort(source: .serviceProvider, reason: .unexpectedPDU), .unexpectedFirstPDU(.dataTransfer)))
    }

    @Test func idleAndShutdownAbort() {
        var machine = RelayStateMachine(routing: Self.routing)
        _ = machine.requestorSent(Self.request(called: "ANY"))
        _ = machine.upstreamConnected()
        _ = machine.acceptorSent(Self.accept)
        #expect(machine.idleTimedOut() == .abort(Abort(source: .serviceProvider, reason: .notSpecified), .idle))
        #expect(machine.shutdownGraceExpired() == .closeBoth)
    }

    @Test func anUpstreamThatConnectsAfterTheSCULeftIsClosed() {
        var machine = RelayStateMachine(routing: Self.routing)
        _ = machine.requestorSent(Self.request(called: "ANY"))
        #expect(machine.channelClosed(.requestor) == .none)
        #expect(!machine.isFinished)
        #expect(machine.upstreamConnected() == .closeLateUpstream)
        #expect(machine.isFinished)
    }

    @Test func endpointParsing() {
        #expect(ProxyEndpoint(parsing: "pacs.local:104") == ProxyEndpoint(host: "pacs.local", port: 104))
        #expect(ProxyEndpoint(parsing: "[::1]:11112") == ProxyEndpoint(host: "::1", port: 11112))
        #expect(ProxyEndpoint(parsing: "11112", defaultHost: "0.0.0.0") == ProxyEndpoint(host: "0.0.0.0", port: 11112))
        #expect(ProxyEndpoint(parsing: "11112") == nil)
        #expect(ProxyEndpoint(parsing: "::1:104") == nil)
        #expect(ProxyEndpoint(parsing: "host:70000") == nil)
        #expect(RoutingTable(routes: ["CT ": Self.upstream]).upstream(forCalledAETitle: "CT") == Self.upstream)
    }

    @Test func fileNames() {
        let t = Timestamp(nanoseconds: 1_767_225_600_000_000_000 + 3_723_000_000_000)  // 2026-01-01 01:02:03 UTC
        #expect(associationFileStem(start: t, id: "0007", calling: "MOD A", called: "../PACS")
                == "20260101-010203-0007-MOD_A-.._PACS")
        #expect(fileNameComponent(nil) == "unknown")
        #expect(fileNameComponent("..") == "unknown")
    }
}
