import DICOMInspect
import DICOMUL
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy

/// User Identity credentials (PS3.7 D.3.3.7) go to the peers as they are, and to the recordings,
/// text logs, `events.jsonl` and the console as zeros of the same length (hex dumps of a
/// malformed A-ASSOCIATE-RQ or -AC included), unless `recordSecrets`. A raw SCU sends a
/// hand-built A-ASSOCIATE-RQ; a raw upstream answers a hand-built A-ASSOCIATE-AC. Each run has
/// two associations: one well formed (recorded), then one whose association PDU does not decode
/// (hex dumped).
@Suite(.peers) struct UserIdentityMaskingTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static let username = Array("MASKTEST-USER".utf8)

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var identity: UserIdentityRequestSubItem
        /// The A-ASSOCIATE-AC's server response (0x59), for the case that checks it.
        var serverResponse: [UInt8]?
        /// What must never be written without `recordSecrets`.
        var secret: [UInt8]
        /// What must be written as it is (the username of types 1 and 2).
        var kept: [UInt8]?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "type 2 passcode",
             identity: UserIdentityRequestSubItem(identityType: .usernameAndPasscode, positiveResponseRequested: 0,
                                                  primaryField: username, secondaryField: Array("PASSCODE-5f3a9c".utf8)),
             secret: Array("PASSCODE-5f3a9c".utf8), kept: username),
        Case(name: "type 3 Kerberos ticket",
             identity: UserIdentityRequestSubItem(identityType: .kerberos, positiveResponseRequested: 0,
                                                  primaryField: Array("KERBEROS-TICKET-8d1e77a0".utf8), secondaryField: []),
             secret: Array("KERBEROS-TICKET-8d1e77a0".utf8)),
        Case(name: "type 4 SAML assertion",
             identity: UserIdentityRequestSubItem(identityType: .saml, positiveResponseRequested: 0,
                                                  primaryField: Array("<saml:Assertion>SAML-41c9</saml:Assertion>".utf8),
                                                  secondaryField: []),
             secret: Array("<saml:Assertion>SAML-41c9</saml:Assertion>".utf8)),
        Case(name: "type 5 JSON Web Token",
             identity: UserIdentityRequestSubItem(identityType: .jwt, positiveResponseRequested: 0,
                                                  primaryField: Array("eyJhbGciOiJIUzI1NiJ9.JWT-7b3e.c2ln".utf8), secondaryField: []),
             secret: Array("eyJhbGciOiJIUzI1NiJ9.JWT-7b3e.c2ln".utf8)),
        Case(name: "A-ASSOCIATE-AC server response",
             identity: UserIdentityRequestSubItem(identityType: .username, positiveResponseRequested: 1,
                                                  primaryField: username, secondaryField: []),
             serverResponse: Array("SERVER-RESPONSE-2b7c41".utf8),
             secret: Array("SERVER-RESPONSE-2b7c41".utf8), kept: username),
    ]

    @Test(arguments: cases, [false, true])
    func credentialsAreZerosInEveryOutput(_ c: Case, recordSecrets: Bool) async throws {
        let dir = try TemporaryDirectory("uid")
        defer { dir.remove() }
        let logDir = dir.file("logs")
        let recordDir = dir.file("rec")

        let isAccept = c.serverResponse != nil
        let rq = TestPDUs.associateRequest(extra: [.userIdentityRequest(c.identity)])
        let ac = TestPDUs.associateAccept(extra: c.serverResponse.map { [.userIdentityAccept(UserIdentityAcceptSubItem(serverResponse: $0))] } ?? [])
        // The PDU that does not decode, and the bytes of it the outputs may show.
        let malformed = isAccept ? Self.appendingUndecodableItem(ac, type: 0x21)
            : Self.appendingUndecodableItem(TestPDUs.associateRequest(extra: [.userIdentityRequest(c.identity)]), type: 0x20)
        let shownMalformed = Self.shown(malformed, recordSecrets: recordSecrets)

        let upstream = try await ScriptedUpstream.start(.answer(Array(ac.readableBytesView)), group: group)
        defer { Task { await upstream.stop() } }
        let malformedUpstream = try await ScriptedUpstream.start(.answer(Array(malformed.readableBytesView)), group: group)
        defer { Task { await malformedUpstream.stop() } }
        let logs = try await withProxy(upstream: upstream.port, routes: ["BADAC": malformedUpstream.port], configure: {
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
            $0.recordSecrets = recordSecrets
        }) { proxy in
            // 1. A well-formed association: the peers get the real credentials.
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(rq)
            #expect(try await client.receive(atLeast: ac.readableBytes) == Array(ac.readableBytesView))
            try await eventually("the upstream to get the A-ASSOCIATE-RQ") { upstream.received.current.readableBytes >= rq.readableBytes }
            #expect(upstream.received.current == rq)
            try await client.send(Self.requestorAbort)
            await client.close()
            try await eventually("the first association's end") { proxy.logs.lines.current.filter { $0.contains("END ") }.count == 1 }

            // 2. An association PDU that does not decode: both get A-ABORT, its bytes are dumped.
            let second = try await RawClient.connect(port: proxy.port, group: group)
            try await second.send(isAccept ? TestPDUs.associateRequest(called: "BADAC", extra: [.userIdentityRequest(c.identity)]) : malformed)
            try await second.waitUntilClosed()
            try await eventually("the second association's end") { proxy.logs.lines.current.filter { $0.contains("END ") }.count == 2 }
            return proxy.logs.text
        }

        let textLogs = try Self.files(in: logDir, suffix: ".txt").map { String(decoding: $0, as: UTF8.self) }.joined()
        let events = String(decoding: try Self.files(in: logDir, suffix: ".jsonl").joined(), as: UTF8.self)
        let recordings = try Self.files(in: recordDir, suffix: ".pcap")
        #expect(textLogs.count > 0 && events.count > 0 && recordings.count == 2)

        // The hex dumps: zeros of the secret's length where it was (or the secret, with recordSecrets).
        let dump = hexDump(shownMalformed)
        #expect(dump.allSatisfy { line in textLogs.contains(line) }, "\(textLogs)")
        #expect(dump.allSatisfy { line in logs.contains(line) }, "\(logs)")
        let rawBytes = try jsonLines(logDir + "/events.jsonl").filter { $0["type"] as? String == "raw-bytes" }
        #expect(rawBytes.map { $0["bytes"] as? String } == [hexString(shownMalformed)])
        #expect(events.contains(hexString(ByteBuffer(bytes: c.secret))) == recordSecrets)

        // The recording of the well-formed association: the PDU with zeros (or as it was).
        let recorded = isAccept ? ac : rq
        let shownRecorded = Self.shown(recorded, recordSecrets: recordSecrets)
        #expect(recordings.contains { $0.contains(bytes: Array(shownRecorded.readableBytesView)) })
        #expect(recordings.contains { $0.contains(bytes: c.secret) } == recordSecrets)
        if let kept = c.kept { #expect(recordings.allSatisfy { $0.contains(bytes: kept) }) }

        // The text never shows the credentials themselves (only their length).
        #expect(!textLogs.contains(String(decoding: c.secret, as: UTF8.self)))
        #expect(!logs.contains(String(decoding: c.secret, as: UTF8.self)))
        #expect(!events.contains(String(decoding: c.secret, as: UTF8.self)))
    }

    /// A-ABORT from the service user (PS3.8 Table 9-26): the raw SCU ends the association.
    static let requestorAbort: [UInt8] = [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00]

    /// `pdu` with a presentation context item of `type` too short for its fixed fields after its
    /// items: the PDU frames but does not decode.
    static func appendingUndecodableItem(_ pdu: ByteBuffer, type: UInt8) -> ByteBuffer {
        var bytes = pdu
        bytes.writeBytes([type, 0x00, 0x00, 0x02, 0x01, 0x00])
        bytes.setInteger(UInt32(bytes.readableBytes - pduHeaderLength), at: bytes.readerIndex + 2)
        return bytes
    }

    static func shown(_ pdu: ByteBuffer, recordSecrets: Bool) -> ByteBuffer {
        var copy = pdu
        if !recordSecrets { #expect(UserIdentityCredentials.mask(&copy) > 0) }
        return copy
    }

    static func files(in directory: String, suffix: String) throws -> [[UInt8]] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }.sorted()
            .map { Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) }
    }
}
