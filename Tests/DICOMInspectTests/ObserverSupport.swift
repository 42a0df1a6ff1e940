import DICOMCore
import DICOMUL
import DIMSE
import Foundation
import NIOCore
@testable import DICOMInspect

/// Real-peer streams captured by tools/capture_peer_fixtures.py (shared with DICOMULTests).
enum PeerStreams {
    struct PDUEntry: Decodable, Sendable {
        let index: Int
        let direction: String
        let offset: Int
        let type: UInt8
        let length: Int
    }
    struct Scenario: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let pdus: [PDUEntry]
        let features: [String]
        var description: String { name }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("DICOMULTests/Fixtures/peers")

    static func scenarios() -> [Scenario] {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path) else { return [] }
        return (try? JSONDecoder().decode([Scenario].self, from: data)) ?? []
    }

    static func bytes(_ name: String, _ direction: String) -> ByteBuffer {
        ByteBuffer(bytes: FileManager.default.contents(atPath: directory.appendingPathComponent("\(name).\(direction).bin").path) ?? Data())
    }

    /// Feeds both streams to an observer PDU by PDU in the recorded order (1 ms apart),
    /// each PDU cut into pieces of `chunk` bytes, then closes the connection.
    static func observe(_ name: String, chunk: Int = .max) -> (AssociationObserver, [ObservationEvent]) {
        guard let scenario = scenarios().first(where: { $0.name == name }) else { return (AssociationObserver(), []) }
        let streams = ["rq": bytes(name, "rq"), "ac": bytes(name, "ac")]
        var observer = AssociationObserver(configuration: .keepingExchanges)
        var events: [ObservationEvent] = []
        for entry in scenario.pdus.sorted(by: { $0.index < $1.index }) {
            let stream = streams[entry.direction]!
            let pdu = stream.getSlice(at: entry.offset, length: entry.length + 6) ?? ByteBuffer()
            let role: PeerRole = entry.direction == "rq" ? .requestor : .acceptor
            let time = Timestamp(nanoseconds: Int64(entry.index) * 1_000_000)
            var offset = 0
            while offset < pdu.readableBytes {
                let n = min(chunk, pdu.readableBytes - offset)
                events += observer.receive(pdu.getSlice(at: offset, length: n)!, from: role, at: time)
                offset += n
            }
        }
        events += observer.connectionClosed(at: Timestamp(nanoseconds: 1_000_000_000))
        return (observer, events)
    }
}

/// Builds synthetic associations for the cases real peers will not produce.
struct SyntheticAssociation {
    var observer = AssociationObserver(configuration: .keepingExchanges)
    var events: [ObservationEvent] = []
    var clock: Int64 = 0

    static let rpi = "1.2.840.10008.5.1.4.37.1"

    mutating func send(_ pdu: PDU, from role: PeerRole) {
        clock += 1_000_000
        events += observer.receive(pdu.encoded(), from: role, at: Timestamp(nanoseconds: clock))
    }

    mutating func associate(maximumLength: UInt32 = 16384, transferSyntax: String = "1.2.840.10008.1.2.1") {
        let rq = AssociationPDUFields(calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: Self.rpi,
                                                                       transferSyntaxes: [transferSyntax])),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 3, abstractSyntax: "1.2.840.10008.1.1",
                                                                       transferSyntaxes: ["1.2.840.10008.1.2"])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: maximumLength))])),
        ])
        send(.associateRequest(AssociateRequest(fields: rq)), from: .requestor)
        let ac = AssociationPDUFields(calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance, transferSyntax: transferSyntax)),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 3, result: .abstractSyntaxNotSupported,
                                                                     transferSyntax: "1.2.840.10008.1.2")),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: maximumLength))])),
        ])
        send(.associateAccept(AssociateAccept(fields: ac)), from: .acceptor)
    }

    static func identifier(patientID: String, withTemplate: Bool = true) -> ByteBuffer {
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds[Tag(0x0010_0010)] = DataElement(tag: Tag(0x0010_0010), vr: .PN, value: .bytes(ByteBuffer()))
        var id = ByteBuffer(string: patientID)
        if id.readableBytes % 2 == 1 { id.writeString(" ") }
        ds[Tag(0x0010_0020)] = DataElement(tag: Tag(0x0010_0020), vr: .LO, value: .bytes(id))
        if withTemplate {
            var item = Dataset(encoding: .explicitLittleEndian)
            item.append(DataElement(tag: Tag(0x0008_0105), vr: .CS, value: .bytes(ByteBuffer(string: "DCMR"))))
            item.append(DataElement(tag: Tag(0x0040_DB00), vr: .CS, value: .bytes(ByteBuffer(string: "9007"))))
            ds[Tag(0x0040_A504)] = DataElement(tag: Tag(0x0040_A504), vr: .SQ, value: .sequence([SequenceItem(dataset: item)]))
        }
        return (try? DatasetEncoder().encode(ds)) ?? ByteBuffer()
    }

    mutating func message(_ command: DIMSECommand, dataSet: ByteBuffer?, from role: PeerRole, contextID: UInt8 = 1,
                          maximumLength: UInt32 = 16384) {
        guard let fragmenter = try? MessageFragmenter(maximumLength: maximumLength),
              let pdus = try? fragmenter.fragment(command, dataSet: dataSet, presentationContextID: contextID) else { return }
        for p in pdus { send(.dataTransfer(p), from: role) }
    }

    mutating func find(id: UInt16, patientID: String = "1234567", withTemplate: Bool = true) {
        message(.cFindRequest(CFindRequest(messageID: id, affectedSOPClassUID: Self.rpi)),
                dataSet: Self.identifier(patientID: patientID, withTemplate: withTemplate), from: .requestor)
    }

    mutating func respond(to id: UInt16, status: UInt16, dataSet: ByteBuffer? = nil) {
        message(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: Self.rpi,
                                             hasDataSet: dataSet != nil)), dataSet: dataSet, from: .acceptor)
    }

    func codes() -> [Finding.Code] { observer.findings.map(\.code) }
}

extension AssociationObserver.Configuration {
    /// The default configuration, every ended exchange kept in `exchanges` for the tests to read.
    static var keepingExchanges: Self {
        var configuration = Self()
        configuration.keepsExchanges = true
        return configuration
    }
}
