import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import DICOMProxy

/// The relay's channel handlers without sockets (`EmbeddedChannel`): the framer, one glue
/// handler with a scripted association behind it, and the real `AssociationRelay` on an SCU
/// channel for what it answers without an upstream.
@Suite struct RelayFrameDecoderTests {
    static func channel(maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder(maximumPDULength: maximumPDULength)))
        return channel
    }

    static let release = ByteBuffer(bytes: [0x05, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00])

    /// A PDU read byte by byte comes out once, whole, with its exact bytes and its frame.
    @Test func passesOnAPDUReadInPieces() throws {
        let channel = try Self.channel()
        let request = TestPDUs.associateRequest()
        for index in 0..<request.readableBytes {
            try channel.writeInbound(request.getSlice(at: request.readerIndex + index, length: 1) ?? ByteBuffer())
            if index < request.readableBytes - 1 {
                #expect(try channel.readInbound(as: RelayInput.self) == nil)
            }
        }
        guard case .pdu(let frame, let bytes)? = try channel.readInbound(as: RelayInput.self) else {
            Issue.record("no PDU passed on")
            return
        }
        #expect(bytes == request)
        #expect(frame.type == .associateRequest)
        #expect(frame.body.readableBytes == request.readableBytes - pduHeaderLength)
        #expect(frame.streamOffset == 0)
        #expect(try channel.finish().isClean)
    }

    /// Two PDUs in one read are two inputs, in order, the second at its stream offset.
    @Test func passesOnEachPDUOfARead() throws {
        let channel = try Self.channel()
        var both = TestPDUs.associateRequest()
        let first = both
        both.writeImmutableBuffer(Self.release)
        try channel.writeInbound(both)
        guard case .pdu(_, let a)? = try channel.readInbound(as: RelayInput.self),
              case .pdu(let frame, let b)? = try channel.readInbound(as: RelayInput.self) else {
            Issue.record("not two PDUs")
            return
        }
        #expect(a == first)
        #expect(b == Self.release)
        #expect(frame.type == .releaseRequest)
        #expect(frame.streamOffset == first.readableBytes)
        #expect(try channel.readInbound(as: RelayInput.self) == nil)
    }

    /// A PDU over the bound fails on its header alone, before its body is buffered.
    @Test func rejectsAnOversizePDUFromItsHeader() throws {
        let channel = try Self.channel(maximumPDULength: 1024)
        let header = ByteBuffer(bytes: [0x04, 0x00, 0x00, 0x00, 0x04, 0x01])  // P-DATA-TF of 1025 bytes, no body yet
        let error = #expect(throws: PDUDecodingError.self) { try channel.writeInbound(header) }
        #expect(error?.code == .pduTooLarge)
        #expect(try channel.readInbound(as: RelayInput.self) == nil)
    }

    @Test func rejectsAnUnknownPDUType() throws {
        let channel = try Self.channel()
        let error = #expect(throws: PDUDecodingError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x09, 0x00, 0x00, 0x00, 0x00, 0x00]))
        }
        #expect(error?.code == .unknownPDUType)
    }

    /// The peer half-closes inside a PDU: what it sent of it is passed on as cut, not as malformed.
    @Test func passesOnTheRestOfAPDUCutByHalfClose() throws {
        let channel = try Self.channel()
        let request = TestPDUs.associateRequest()
        let part = request.getSlice(at: request.readerIndex, length: 20) ?? ByteBuffer()
        try channel.writeInbound(part)
        #expect(try channel.readInbound(as: RelayInput.self) == nil)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try channel.readInbound(as: RelayInput.self) == .truncated(part))
    }
}

/// What a scripted association saw of its glue handler, and what it lets the handler do.
final class ScriptedRelay: RelaySideDelegate {
    var allowsReading = true
    var calls: [String] = []
    var inputs: [RelayInput] = []
    var errors: [any Error] = []

    func mayRead(_ role: PeerRole) -> Bool { allowsReading }
    func becameWritable(_ role: PeerRole) { calls.append("writable \(role)") }
    func received(_ input: RelayInput, from role: PeerRole) { inputs.append(input) }
    func readComplete(from role: PeerRole) { calls.append("read complete \(role)") }
    func inputClosed(_ role: PeerRole) { calls.append("input closed \(role)") }
    func channelClosed(_ role: PeerRole) { calls.append("closed \(role)") }
    func errorCaught(_ error: any Error, from role: PeerRole) { errors.append(error) }
}

final class Flag {
    var value = false
}

/// At the head of an embedded pipeline: counts the reads that get through and keeps the closes asked for.
final class HeadRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    var closes: [CloseMode] = []

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closes.append(mode)
        if mode == .all {
            context.close(mode: mode, promise: promise)
        } else {
            promise?.succeed(())
        }
    }
}

@Suite struct RelaySideHandlerTests {
    struct Harness {
        let channel = EmbeddedChannel()
        let relay = ScriptedRelay()
        let head = HeadRecorder()
        let handler: RelaySideHandler

        init(role: PeerRole = .requestor) throws {
            handler = RelaySideHandler(role: role, relay: relay)
            // As the relay's channels are: connected, and a peer's FIN does not close the channel.
            channel.allowRemoteHalfClosure = true
            channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 50000), promise: nil)
            try channel.pipeline.syncOperations.addHandler(head)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RelayFrameDecoder(maximumPDULength: 1024)))
            try channel.pipeline.syncOperations.addHandler(handler)
        }
    }

    /// Backpressure: a read the association does not allow is held, not lost, and goes out once resumed.
    @Test func holdsAReadUntilTheAssociationAllowsIt() throws {
        let h = try Harness()
        h.relay.allowsReading = false
        h.channel.read()
        #expect(h.head.reads == 0)
        h.handler.resumeReading()
        #expect(h.head.reads == 0, "still not allowed")
        h.relay.allowsReading = true
        h.handler.resumeReading()
        #expect(h.head.reads == 1)
        h.handler.resumeReading()
        #expect(h.head.reads == 1, "one held read, one read")
        h.channel.read()
        #expect(h.head.reads == 2)
    }

    /// The association hears when this peer's channel can take bytes again (and when it is added writable).
    @Test func tellsWhenTheChannelBecomesWritable() throws {
        let h = try Harness(role: .acceptor)
        #expect(h.relay.calls == ["writable acceptor"])
        h.channel.isWritable = false
        h.channel.pipeline.fireChannelWritabilityChanged()
        #expect(h.handler.isWritable == false)
        #expect(h.relay.calls == ["writable acceptor"])
        h.channel.isWritable = true
        h.channel.pipeline.fireChannelWritabilityChanged()
        #expect(h.relay.calls == ["writable acceptor", "writable acceptor"])
    }

    /// Framed PDUs reach the association with their bytes, then the end of the read burst.
    @Test func handsOnFramedPDUsAndTheEndOfARead() throws {
        let h = try Harness()
        var bytes = TestPDUs.associateRequest()
        bytes.writeImmutableBuffer(RelayFrameDecoderTests.release)
        try h.channel.writeInbound(bytes)
        h.channel.pipeline.fireChannelReadComplete()
        #expect(h.relay.inputs.count == 2)
        guard case .pdu(let frame, let first)? = h.relay.inputs.first else {
            Issue.record("no PDU")
            return
        }
        #expect(frame.type == .associateRequest)
        #expect(first == TestPDUs.associateRequest())
        #expect(h.relay.calls.last == "read complete requestor")
        #expect(try h.channel.readInbound(as: RelayInput.self) == nil, "the glue handler is the end of the pipeline")
    }

    /// Half-close: the peer's FIN reaches the association (after the cut PDU), and the handler closes only its output.
    @Test func passesOnHalfClose() throws {
        let h = try Harness()
        let request = TestPDUs.associateRequest()
        try h.channel.writeInbound(request.getSlice(at: request.readerIndex, length: 10) ?? ByteBuffer())
        h.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(h.relay.inputs.count == 1)
        if case .truncated(let rest)? = h.relay.inputs.first { #expect(rest.readableBytes == 10) } else { Issue.record("no cut PDU") }
        #expect(h.relay.calls.last == "input closed requestor")
        h.handler.closeOutput()
        #expect(h.head.closes == [.output])
        #expect(h.channel.isActive)
    }

    /// Writes wait for the flush; a PDU of the proxy's own is written and the channel closed.
    @Test func writesOnFlushAndClosesAfterItsOwnPDU() throws {
        let h = try Harness()
        #expect(h.channel.isActive)
        h.handler.write(RelayFrameDecoderTests.release)
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == nil)
        h.handler.flush()
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == RelayFrameDecoderTests.release)
        let abort = ByteBuffer(bytes: TestPDUs.abort(reason: 0))
        h.handler.send(abort, thenCloseWithin: .seconds(2))
        #expect(try h.channel.readOutbound(as: ByteBuffer.self) == abort)
        #expect(!h.channel.isActive)
        #expect(h.head.closes == [.all])
        #expect(h.relay.calls.last == "closed requestor")
    }

    /// A framing error reaches the association as the decoder's error (code, offset), and nothing is passed on.
    @Test func reportsAFramingError() throws {
        let h = try Harness()
        try h.channel.writeInbound(ByteBuffer(bytes: [0x04, 0x00, 0x00, 0x00, 0x10, 0x00]))
        let error = try #require(h.relay.errors.first as? PDUDecodingError)
        #expect(error.code == .pduTooLarge)
        #expect(error.offset == 0)
        #expect(h.relay.inputs.isEmpty)
    }
}

/// The real relay on an SCU channel, for the answers it gives without an upstream.
@Suite struct AssociationRelayEmbeddedTests {
    static func relay(routing: RoutingTable, logDirectory: String? = nil) throws -> (EmbeddedChannel, AssociationRelay) {
        let channel = EmbeddedChannel()
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 50000), promise: nil)
        var configuration = ProxyConfiguration(listen: ProxyEndpoint(host: "127.0.0.1", port: 0), routing: routing)
        configuration.logDirectory = logDirectory
        let events = try logDirectory.map { try AppendOnlyFile(appendingTo: $0 + "/events.jsonl") }
        let shared = ProxyShared(configuration: configuration, events: events,
                                 logger: Logger(label: "relay-test") { _ in SwiftLogNoOpLogHandler() },
                                 tls: TLSContexts(listen: nil, upstream: nil))
        let relay = AssociationRelay(id: "0001", channel: channel, shared: shared) { _ in }
        try channel.pipeline.syncOperations.addHandlers(relay.requestorHandlers())
        return (channel, relay)
    }

    /// A first PDU that is not an A-ASSOCIATE-RQ: A-ABORT 2/2 to the SCU, closed, the association finished and logged.
    @Test func abortsAnUnexpectedFirstPDU() throws {
        let dir = try TemporaryDirectory("relay-embedded")
        defer { dir.remove() }
        let (channel, relay) = try Self.relay(routing: RoutingTable(defaultUpstream: ProxyEndpoint(host: "127.0.0.1", port: 1)),
                                              logDirectory: dir.path)
        let done = Flag()
        relay.finished.futureResult.assumeIsolated().whenSuccess { done.value = true }
        #expect(channel.isActive)
        try channel.writeInbound(RelayFrameDecoderTests.release)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: TestPDUs.abort(reason: 2)))
        #expect(!channel.isActive)
        #expect(relay.isFinished)
        #expect(done.value)
        let texts = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix("-0001-unknown-unknown.txt") }
        let text = try String(contentsOfFile: dir.file(try #require(texts.first)), encoding: .utf8)
        #expect(text.hasPrefix("=== Association 0001: 127.0.0.1:50000 -> (no upstream)  start "), "\(text)")
        #expect(text.contains("unexpected-first-pdu"), "\(text)")
        #expect(text.contains("] END  aborted by the proxy (unexpected-first-pdu)  "), "\(text)")
        let events = try String(contentsOfFile: dir.file("events.jsonl"), encoding: .utf8)
        #expect(events.contains("\"type\":\"association-end\""))
        #expect(events.contains("\"proxyAction\":"))
    }

    /// No route for the called AE title: A-ASSOCIATE-RJ 1/1/7, and no upstream connection is tried.
    @Test func rejectsAnAssociationWithoutRoute() throws {
        let (channel, relay) = try Self.relay(routing: RoutingTable(routes: [:]))
        #expect(channel.isActive)
        #expect(relay.mayRead(.requestor))
        try channel.writeInbound(TestPDUs.associateRequest(called: "NOWHERE"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: TestPDUs.reject(result: 1, source: 1, reason: 7)))
        #expect(relay.acceptor == nil)
        #expect(!channel.isActive)
        #expect(relay.isFinished)
    }
}
