import Foundation
import NIOCore
import NIOTestUtils
import Testing
@testable import DICOMUL

/// The exact bytes pynetdicom 3.0.4 and DCMTK 3.6.7 sent in real associations
/// (`tools/capture_peer_fixtures.py`, annotated in `Fixtures/peers/*.txt`): every stream
/// frames into the PDUs the independent Python annotator found, each PDU decodes, and
/// re-encoding reproduces the stream byte for byte.
@Suite struct PeerFixtureTests {
    struct Scenario: Decodable, Sendable, CustomStringConvertible {
        struct PDUEntry: Decodable, Sendable {
            let direction: String
            let offset: Int
            let type: UInt8
            let length: Int
        }
        let name: String
        let requestor: String
        let acceptor: String
        let pdus: [PDUEntry]
        let features: [String]
        var description: String { name }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peers")

    static func scenarios() -> [Scenario] {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path) else { return [] }
        return (try? JSONDecoder().decode([Scenario].self, from: data)) ?? []
    }

    static func stream(_ name: String, _ direction: String) -> ByteBuffer {
        ByteBuffer(bytes: FileManager.default.contents(atPath: directory.appendingPathComponent("\(name).\(direction).bin").path) ?? Data())
    }

    static func pdus(_ name: String, _ direction: String) throws -> [PDU] {
        let processor = NIOSingleStepByteToMessageProcessor(PDUDecoder())
        var out: [PDU] = []
        try processor.process(buffer: stream(name, direction)) { out.append($0) }
        try processor.finishProcessing(seenEOF: true) { out.append($0) }
        return out
    }

    static func scenario(_ name: String) -> Scenario? { scenarios().first { $0.name == name } }

    @Test func everyScenarioIsPresent() {
        #expect(Self.scenarios().count >= 20)
    }

    @Test(arguments: scenarios())
    func streamsFrameDecodeAndReencodeExactly(_ scenario: Scenario) throws {
        for direction in ["rq", "ac"] {
            let input = Self.stream(scenario.name, direction)
            let expected = scenario.pdus.filter { $0.direction == direction }
            var framer = PDUFrameDecoder()
            var buffer = input
            var frames: [PDUFrame] = []
            while let frame = try framer.decodeFrame(buffer: &buffer) { frames.append(frame) }
            #expect(buffer.readableBytes == 0, "\(scenario.name).\(direction): \(buffer.readableBytes) bytes left over")
            #expect(frames.map(\.streamOffset) == expected.map(\.offset))
            #expect(frames.map(\.type.rawValue) == expected.map(\.type))
            #expect(frames.map { $0.body.readableBytes } == expected.map(\.length))
            var reencoded = ByteBuffer()
            for frame in frames {
                let pdu = try PDUDecoder.decode(frame)
                #expect(pdu.type == frame.type)
                pdu.write(into: &reencoded)
            }
            #expect(reencoded == input, "\(scenario.name).\(direction) does not re-encode byte for byte")
        }
    }

    @Test func pynetdicomRelevantPatientQueryNegotiation() throws {
        let rq = try Self.pdus("pynetdicom_rpi_find", "rq")
        guard case .associateRequest(let request)? = rq.first else {
            Issue.record("first PDU is not an A-ASSOCIATE-RQ")
            return
        }
        #expect(request.fields.protocolVersion == 1)
        #expect(request.fields.applicationContextName == ApplicationContextItem.dicomApplicationContextName)
        #expect(request.presentationContexts.contains { $0.abstractSyntax == "1.2.840.10008.5.1.4.37.1" })
        #expect(request.fields.userInformation?.implementationClassUID == "1.2.826.0.1.3680043.9.3811.3.0.4")
        #expect(request.fields.userInformation?.implementationVersionName == "PYNETDICOM_304")
        #expect(request.fields.maximumLength == 16382)
        let ac = try Self.pdus("pynetdicom_rpi_find", "ac")
        guard case .associateAccept(let accept)? = ac.first else {
            Issue.record("first PDU is not an A-ASSOCIATE-AC")
            return
        }
        #expect(accept.presentationContexts.first?.result == .acceptance)
        #expect(accept.fields.calledAETitle == request.fields.calledAETitle)
        // Every later PDU from the requestor is P-DATA-TF, then the release request.
        #expect(rq.dropFirst().dropLast().allSatisfy { $0.type == .dataTransfer })
        #expect(rq.last?.type == .releaseRequest)
        #expect(ac.last?.type == .releaseResponse)
    }

    @Test func dcmtkSetsAReservedByteInItsPresentationContexts() throws {
        // DCMTK sends 0xFF in a reserved byte of each presentation context item; it must survive.
        guard case .associateRequest(let request)? = try Self.pdus("dcmtk_echo", "rq").first else {
            Issue.record("no A-ASSOCIATE-RQ")
            return
        }
        let context = try #require(request.presentationContexts.first)
        #expect(context.reservedBody.contains(0xFF))
        #expect(request.fields.userInformation?.implementationVersionName == "OFFIS_DCMTK_367")
        #expect(request.fields.callingAETitle.value == "ECHOSCU")
    }

    @Test func negotiationSubItemsFromPynetdicom() throws {
        guard case .associateRequest(let request)? = try Self.pdus("pynetdicom_negotiation", "rq").first,
              let info = request.fields.userInformation else {
            Issue.record("no user information")
            return
        }
        var kinds = Set<String>()
        for item in info.subItems {
            switch item {
            case .maximumLength: kinds.insert("0x51")
            case .implementationClassUID: kinds.insert("0x52")
            case .asynchronousOperationsWindow(let w):
                kinds.insert("0x53")
                #expect(w.maximumOperationsInvoked == 5 && w.maximumOperationsPerformed == 3)
            case .roleSelection: kinds.insert("0x54")
            case .implementationVersionName: kinds.insert("0x55")
            case .sopClassExtendedNegotiation(let e):
                kinds.insert("0x56")
                #expect(e.serviceClassApplicationInformation == [1, 1, 1])
            case .sopClassCommonExtendedNegotiation: kinds.insert("0x57")
            case .userIdentityRequest(let u):
                kinds.insert("0x58")
                #expect(u.identityType == .usernameAndPasscode)
                #expect(u.positiveResponseRequested == 1)
            case .userIdentityAccept, .unknown: kinds.insert("other")
            }
        }
        #expect(kinds == ["0x51", "0x52", "0x53", "0x54", "0x55", "0x56", "0x57", "0x58"])
        guard case .associateAccept(let accept)? = try Self.pdus("pynetdicom_negotiation", "ac").first else {
            Issue.record("no A-ASSOCIATE-AC")
            return
        }
        let results = Set(accept.presentationContexts.map(\.result.rawValue))
        #expect(results.isSuperset(of: [0, 1, 3, 4]))
    }

    @Test func rejectsFromBothPeers() throws {
        for (name, result, source, reason) in [("pynetdicom_reject_called_aet", 1, 1, 7), ("dcmtk_reject", 1, 1, 1)] {
            guard case .associateReject(let rj)? = try Self.pdus(name, "ac").first else {
                Issue.record("\(name): no A-ASSOCIATE-RJ")
                continue
            }
            #expect(rj.result.rawValue == UInt8(result))
            #expect(rj.source.rawValue == UInt8(source))
            #expect(rj.reason == UInt8(reason))
        }
    }

    @Test func userIdentityAcceptFromPynetdicom() throws {
        let ac = try Self.pdus("pynetdicom_user_identity_jwt", "ac")
        guard case .associateAccept(let accept)? = ac.first else {
            Issue.record("no A-ASSOCIATE-AC")
            return
        }
        let hasResponse = accept.fields.userInformation?.subItems.contains {
            if case .userIdentityAccept = $0 { return true } else { return false }
        }
        #expect(hasResponse == true)
    }

    @Test func fragmentedStoreRespectsTheNegotiatedLength() throws {
        let rq = try Self.pdus("pynetdicom_store_fragmented", "rq")
        let ac = try Self.pdus("pynetdicom_store_fragmented", "ac")
        guard case .associateAccept(let accept)? = ac.first, let max = accept.fields.maximumLength else {
            Issue.record("no max length")
            return
        }
        #expect(max == 1024)
        for case .dataTransfer(let p) in rq { #expect(p.bodyLength <= Int(max)) }
        #expect(rq.filter { $0.type == .dataTransfer }.count >= 3)
    }

    @Test func everyPeerStreamFedByteByByte() throws {
        for scenario in Self.scenarios().prefix(6) {
            let input = Self.stream(scenario.name, "rq")
            let processor = NIOSingleStepByteToMessageProcessor(PDUDecoder())
            var count = 0
            for byte in input.readableBytesView {
                try processor.process(buffer: ByteBuffer(bytes: [byte])) { _ in count += 1 }
            }
            #expect(count == scenario.pdus.filter { $0.direction == "rq" }.count)
        }
    }
}
