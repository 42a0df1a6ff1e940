import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@_exported import DICOMProxyTestSupport
@testable import DICOMProxy

extension Peers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static let script = directory.appendingPathComponent("peer.py").path
}

extension Subprocess {
    /// Runs `peer.py` with python.
    static func python(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 600) throws -> Subprocess {
        try python(script: Peers.script, ["--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }
}

// MARK: - Raw peers (for what real peers will not do)

/// An upstream SCP stand-in: answers the A-ASSOCIATE-RQ of each connection with a fixed
/// A-ASSOCIATE-AC (followed by `afterAccept`, if any) or with the bytes of `answer`, or never
/// answers (`silent`), and keeps everything it received.
final class ScriptedUpstream: @unchecked Sendable {
    enum Behavior: Sendable {
        case silent
        case accept(afterAccept: [UInt8])
        case answer([UInt8])
    }

    let channel: any Channel
    let received = Locked(ByteBuffer())
    let closedConnections = Locked(0)
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(_ behavior: Behavior, group: any EventLoopGroup) async throws -> ScriptedUpstream {
        let box = Locked<ScriptedUpstream?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let upstream = box.current else { return }
                    try channel.pipeline.syncOperations.addHandler(ScriptedPeerHandler(behavior: behavior, upstream: upstream))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let upstream = ScriptedUpstream(channel: channel)
        box.withValue { $0 = upstream }
        return upstream
    }

    func stop() async {
        try? await channel.close()
    }
}

final class ScriptedPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let behavior: ScriptedUpstream.Behavior
    let upstream: ScriptedUpstream
    var buffer = ByteBuffer()
    var answered = false

    init(behavior: ScriptedUpstream.Behavior, upstream: ScriptedUpstream) {
        self.behavior = behavior
        self.upstream = upstream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        var copy = bytes
        upstream.received.withValue { $0.writeBuffer(&copy) }
        buffer.writeBuffer(&bytes)
        guard !answered, let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self),
              buffer.readableBytes >= 6 + Int(length) else { return }
        var reply: ByteBuffer
        switch behavior {
        case .silent:
            return
        case .accept(let extra):
            reply = TestPDUs.associateAccept()
            reply.writeBytes(extra)
        case .answer(let bytes):
            reply = ByteBuffer(bytes: bytes)
        }
        answered = true
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream.closedConnections.withValue { $0 += 1 }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// PDUs the raw peers send.
enum TestPDUs {
    static let verification = "1.2.840.10008.1.1"
    static let implicitLittleEndian = "1.2.840.10008.1.2"

    /// `extra`: more User Information sub-items (User Identity Negotiation).
    static func associateRequest(called: String = "SCRIPTED", calling: String = "RAWSCU",
                                 extra: [UserInformationSubItem] = []) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: called, callingAETitle: calling, items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: verification,
                                                                       transferSyntaxes: [implicitLittleEndian])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))] + extra)),
        ])
        return PDU.associateRequest(AssociateRequest(fields: fields)).encoded()
    }

    static func associateAccept(extra: [UserInformationSubItem] = []) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "SCRIPTED", callingAETitle: "RAWSCU", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance,
                                                                     transferSyntax: implicitLittleEndian)),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))] + extra)),
        ])
        return PDU.associateAccept(AssociateAccept(fields: fields)).encoded()
    }

    /// A-ABORT from the service provider with `reason` (PS3.8 Table 9-26).
    static func abort(reason: UInt8) -> [UInt8] { [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, reason] }

    /// A-ASSOCIATE-RJ (PS3.8 Table 9-21).
    static func reject(result: UInt8, source: UInt8, reason: UInt8) -> [UInt8] {
        [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, result, source, reason]
    }
}

extension Array where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined(separator: " ") }
}

// MARK: - Files the proxy wrote

/// The objects of an `events.jsonl`.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw TimeoutError(what: "not a JSON object: \($0)")
        }
        return object
    }
}
