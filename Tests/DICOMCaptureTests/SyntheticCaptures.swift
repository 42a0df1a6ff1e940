import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore
@testable import DICOMCapture

/// Captures of DICOM conversations built here (what no peer will send: hostile AE titles and
/// names; C-MOVEs with their sub-associations interleaved in time), written as pcap files.
final class SyntheticCapture {
    private(set) var records: [PcapRecord] = []
    /// 2023-11-14T22:13:20Z, then 1 ms per segment unless told otherwise.
    private(set) var time: Int64 = 1_700_000_000 * 1_000_000_000

    func wait(milliseconds: Int64) { time += milliseconds * 1_000_000 }

    fileprivate func emit(_ spec: Conversation.Spec, of conversation: Conversation, clientIP: TestIP, serverIP: TestIP) {
        time += 1_000_000
        records.append(PcapRecord(timestampNanoseconds: time,
                                  data: conversation.frame(spec, link: .ethernet(vlanTags: []), clientIP: clientIP, serverIP: serverIP),
                                  originalLength: nil))
    }

    var bytes: [UInt8] { PcapWriter.bytes(linkType: 1, records: records) }

    /// A TCP connection from 10.0.0.`client` to 10.0.0.`server`:104, handshake sent.
    func connection(client: UInt8, clientPort: UInt16, server: UInt8) -> SyntheticLeg {
        let clientIP = TestIP.v4(0x0A00_0000 | UInt32(client)), serverIP = TestIP.v4(0x0A00_0000 | UInt32(server))
        let leg = SyntheticLeg(capture: self, conversation: Conversation(
            client: Endpoint(address: clientIP.address, port: clientPort), server: Endpoint(address: serverIP.address, port: 104)),
            clientIP: clientIP, serverIP: serverIP)
        for spec in leg.conversation.handshake() { emit(spec, of: leg.conversation, clientIP: clientIP, serverIP: serverIP) }
        return leg
    }
}

/// One association of a synthetic capture.
final class SyntheticLeg {
    let capture: SyntheticCapture
    var conversation: Conversation
    let clientIP: TestIP
    let serverIP: TestIP

    init(capture: SyntheticCapture, conversation: Conversation, clientIP: TestIP, serverIP: TestIP) {
        self.capture = capture
        self.conversation = conversation
        self.clientIP = clientIP
        self.serverIP = serverIP
    }

    func send(_ pdu: PDU, from role: PeerRole) {
        let bytes = Array(pdu.encoded().readableBytesView)
        for spec in conversation.send(role == .requestor ? .client : .server, bytes, segmentSize: 1400) {
            capture.emit(spec, of: conversation, clientIP: clientIP, serverIP: serverIP)
        }
    }

    /// A-ASSOCIATE-RQ proposing `abstractSyntax` (context 1, Explicit VR Little Endian), and its A-ASSOCIATE-AC.
    func associate(calling: String, called: String, abstractSyntax: String) {
        let ts = "1.2.840.10008.1.2.1"
        let rq = AssociationPDUFields(calledAETitle: called, callingAETitle: calling, items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: abstractSyntax, transferSyntaxes: [ts])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
        ])
        send(.associateRequest(AssociateRequest(fields: rq)), from: .requestor)
        let ac = AssociationPDUFields(calledAETitle: called, callingAETitle: calling, items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance, transferSyntax: ts)),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
        ])
        send(.associateAccept(AssociateAccept(fields: ac)), from: .acceptor)
    }

    func message(_ command: DIMSECommand, dataSet: ByteBuffer? = nil, from role: PeerRole) {
        guard let fragmenter = try? MessageFragmenter(maximumLength: 16384),
              let pdus = try? fragmenter.fragment(command, dataSet: dataSet, presentationContextID: 1) else { return }
        for p in pdus { send(.dataTransfer(p), from: role) }
    }

    func release() {
        send(.releaseRequest(ReleasePDU()), from: .requestor)
        send(.releaseResponse(ReleasePDU()), from: .acceptor)
        for spec in conversation.close() { capture.emit(spec, of: conversation, clientIP: clientIP, serverIP: serverIP) }
    }

    /// A data set of text elements (Explicit VR Little Endian), values padded to even length.
    static func dataSet(_ elements: [(UInt32, VR, String)]) -> ByteBuffer {
        var ds = Dataset(encoding: .explicitLittleEndian)
        for (tag, vr, value) in elements {
            var bytes = ByteBuffer(string: value)
            if bytes.readableBytes % 2 == 1 { bytes.writeString(vr == .UI ? "\0" : " ") }
            ds[Tag(tag)] = DataElement(tag: Tag(tag), vr: vr, value: .bytes(bytes))
        }
        return (try? DatasetEncoder().encode(ds)) ?? ByteBuffer()
    }
}

enum SyntheticCaptures {
    static let patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
    static let patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
    static let secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"

    /// Hostile text from the network: the calling AE title `<b>EVIL</b>`, a patient whose ID and name
    /// hold a script, a final response whose Error Comment has quotes and an ampersand.
    static func hostile() -> [UInt8] {
        let capture = SyntheticCapture()
        let leg = capture.connection(client: 1, clientPort: 40001, server: 2)
        leg.associate(calling: "<b>EVIL</b>", called: "ARCHIVE", abstractSyntax: patientRootFind)
        let identifier = SyntheticLeg.dataSet([(0x0008_0052, .CS, "PATIENT"), (0x0010_0010, .PN, "<script>alert(1)</script>"),
                                               (0x0010_0020, .LO, "<i>42</i>")])
        leg.message(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: patientRootFind)), dataSet: identifier, from: .requestor)
        leg.message(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: 1, status: 0xC000, affectedSOPClassUID: patientRootFind,
                                                 errorComment: #"say "no" & 'never' <img src=x>"#)), from: .acceptor)
        leg.release()
        return capture.bytes
    }

    /// A C-MOVE of two instances to STORESCP (association 1), their C-STOREs on an association from
    /// the SCP to STORESCP (association 2, with Move Originator fields), then a C-MOVE to NOWHERE
    /// refused with 0xA801 (association 1 again, no association to NOWHERE).
    static func move() -> [UInt8] {
        let capture = SyntheticCapture()
        let scu = capture.connection(client: 1, clientPort: 40002, server: 2)
        scu.associate(calling: "MOVESCU", called: "QRSCP", abstractSyntax: patientRootMove)
        let key = SyntheticLeg.dataSet([(0x0008_0052, .CS, "PATIENT"), (0x0010_0020, .LO, "PAT-7")])
        scu.message(.cMoveRequest(CMoveRequest(messageID: 7, affectedSOPClassUID: patientRootMove, moveDestination: "STORESCP")),
                    dataSet: key, from: .requestor)
        capture.wait(milliseconds: 5)
        let store = capture.connection(client: 2, clientPort: 40003, server: 3)
        store.associate(calling: "QRSCP", called: "STORESCP", abstractSyntax: secondaryCapture)
        for n in 1...2 {
            let uid = "1.2.3.4.\(n)"
            let image = SyntheticLeg.dataSet([(0x0008_0016, .UI, secondaryCapture), (0x0008_0018, .UI, uid),
                                              (0x0010_0020, .LO, "PAT-7")])
            store.message(.cStoreRequest(CStoreRequest(messageID: UInt16(n), affectedSOPClassUID: secondaryCapture,
                                                       affectedSOPInstanceUID: uid, moveOriginatorApplicationEntityTitle: "MOVESCU",
                                                       moveOriginatorMessageID: 7)), dataSet: image, from: .requestor)
            store.message(.cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: UInt16(n), status: 0, affectedSOPClassUID: secondaryCapture,
                                                         affectedSOPInstanceUID: uid)), from: .acceptor)
        }
        store.release()
        scu.message(.cMoveResponse(CMoveResponse(messageIDBeingRespondedTo: 7, status: 0, affectedSOPClassUID: patientRootMove,
                                                 completed: 2, failed: 0, warning: 0)), from: .acceptor)
        capture.wait(milliseconds: 20)
        scu.message(.cMoveRequest(CMoveRequest(messageID: 8, affectedSOPClassUID: patientRootMove, moveDestination: "NOWHERE")),
                    dataSet: key, from: .requestor)
        scu.message(.cMoveResponse(CMoveResponse(messageIDBeingRespondedTo: 8, status: 0xA801, affectedSOPClassUID: patientRootMove,
                                                 completed: 0, failed: 0, warning: 0)), from: .acceptor)
        scu.release()
        return capture.bytes
    }
}
