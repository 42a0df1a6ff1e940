import NIOCore
import NIOTestUtils
import Testing
@testable import DICOMUL

/// Builds every PDU type with every item and sub-item, and checks decode/encode both ways.
@Suite struct PDUTests {
    static let rpiGeneral = "1.2.840.10008.5.1.4.37.1"

    static func fullRequest() -> PDU {
        let userInfo = UserInformationItem(subItems: [
            .maximumLength(MaximumLengthSubItem(maximumLength: 16384)),
            .implementationClassUID("1.2.826.0.1.3680043.9.3811.3.0.4"),
            .asynchronousOperationsWindow(AsynchronousOperationsWindowSubItem(maximumOperationsInvoked: 5, maximumOperationsPerformed: 3)),
            .roleSelection(RoleSelectionSubItem(sopClassUID: "1.2.840.10008.5.1.4.1.2.2.3", scuRole: 1, scpRole: 1)),
            .implementationVersionName("PYNETDICOM_304"),
            .sopClassExtendedNegotiation(SOPClassExtendedNegotiationSubItem(sopClassUID: "1.2.840.10008.5.1.4.1.2.1.1",
                                                                            serviceClassApplicationInformation: [1, 1, 0])),
            .sopClassCommonExtendedNegotiation(SOPClassCommonExtendedNegotiationSubItem(
                sopClassUID: "1.2.840.10008.5.1.4.1.1.88.22", serviceClassUID: "1.2.840.10008.4.2",
                relatedGeneralSOPClassUIDs: ["1.2.840.10008.5.1.4.1.1.88.11"])),
            .userIdentityRequest(UserIdentityRequestSubItem(identityType: .usernameAndPasscode, positiveResponseRequested: 1,
                                                            primaryField: Array("pacsadmin".utf8), secondaryField: Array("s3cret".utf8))),
            .unknown(UnknownItem(type: 0x5A, body: [1, 2, 3, 4])),
        ])
        let fields = AssociationPDUFields(calledAETitle: "ANY-SCP", callingAETitle: "MODALITY1", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(
                contextID: 1, abstractSyntax: rpiGeneral,
                transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1.99"])),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 3, abstractSyntax: "1.2.840.10008.1.1",
                                                                       transferSyntaxes: ["1.2.840.10008.1.2"])),
            .userInformation(userInfo),
        ])
        return .associateRequest(AssociateRequest(fields: fields))
    }

    static func fullAccept() -> PDU {
        let fields = AssociationPDUFields(calledAETitle: "ANY-SCP", callingAETitle: "MODALITY1", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance,
                                                                     transferSyntax: "1.2.840.10008.1.2.1")),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 3, result: .abstractSyntaxNotSupported,
                                                                     transferSyntax: "1.2.840.10008.1.2")),
            .userInformation(UserInformationItem(subItems: [
                .maximumLength(MaximumLengthSubItem(maximumLength: 0)),
                .implementationClassUID("1.2.276.0.7230010.3.0.3.6.7"),
                .implementationVersionName("OFFIS_DCMTK_367"),
                .userIdentityAccept(UserIdentityAcceptSubItem(serverResponse: Array("token".utf8))),
            ])),
        ])
        return .associateAccept(AssociateAccept(fields: fields))
    }

    static func dataTransfer() -> PDU {
        .dataTransfer(DataTransfer(items: [
            PresentationDataValueItem(presentationContextID: 1, messageControlHeader: .init(isCommand: true, isLastFragment: true),
                                      fragment: ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00])),
            PresentationDataValueItem(presentationContextID: 1, messageControlHeader: .init(isCommand: false, isLastFragment: false),
                                      fragment: ByteBuffer(bytes: [0x10, 0x00])),
        ]))
    }

    static let allPDUs: [PDU] = [
        fullRequest(), fullAccept(),
        .associateReject(AssociateReject(result: .rejectedPermanent, source: .serviceUser, reason: 7)),
        dataTransfer(),
        .releaseRequest(ReleasePDU()), .releaseResponse(ReleasePDU()),
        .abort(Abort(source: .serviceProvider, reason: .unexpectedPDU)),
    ]

    func frame(_ bytes: ByteBuffer) throws -> PDU {
        var b = bytes
        var decoder = PDUDecoder()
        let pdu = try #require(try decoder.decode(buffer: &b))
        #expect(b.readableBytes == 0)
        return pdu
    }

    @Test(arguments: allPDUs)
    func encodeDecodeRoundTrip(_ pdu: PDU) throws {
        let bytes = pdu.encoded()
        let decoded = try frame(bytes)
        #expect(decoded == pdu)
        #expect(decoded.encoded() == bytes)
    }

    @Test func associateRejectBytesFromTheReference() throws {
        // DICOM-REFERENCE §1: an RJ encoded by pynetdicom.
        let bytes = ByteBuffer(bytes: [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x01, 0x07])
        guard case .associateReject(let rj) = try frame(bytes) else {
            Issue.record("not an RJ")
            return
        }
        #expect(rj.result == .rejectedPermanent)
        #expect(rj.source == .serviceUser)
        #expect(rj.reasonDescription == "called-AE-title-not-recognized")
        #expect(PDU.associateReject(rj).encoded() == bytes)
    }

    @Test func requestFieldsAreReadable() throws {
        guard case .associateRequest(let rq) = try frame(Self.fullRequest().encoded()) else {
            Issue.record("not an RQ")
            return
        }
        #expect(rq.fields.calledAETitle.value == "ANY-SCP")
        #expect(rq.fields.callingAETitle.value == "MODALITY1")
        #expect(rq.fields.calledAETitle.bytes.count == 16)
        #expect(rq.fields.applicationContextName == "1.2.840.10008.3.1.1.1")
        #expect(rq.presentationContexts.map(\.contextID) == [1, 3])
        #expect(rq.presentationContexts[0].abstractSyntax == Self.rpiGeneral)
        #expect(rq.presentationContexts[0].transferSyntaxes.count == 3)
        #expect(rq.fields.maximumLength == 16384)
        #expect(rq.fields.userInformation?.implementationVersionName == "PYNETDICOM_304")
    }

    @Test func nonZeroReservedFieldsAndOddPaddingSurvive() throws {
        var bytes = Self.fullRequest().encoded()
        bytes.setInteger(UInt8(0x7F), at: 1)          // PDU header reserved byte
        bytes.setInteger(UInt16(0xBEEF), at: 8)       // reserved after protocol version
        bytes.setInteger(UInt8(0x20), at: 25)         // called AE padding stays as is
        bytes.setInteger(UInt8(0x41), at: 50)         // one of the 32 reserved bytes
        let decoded = try frame(bytes)
        #expect(decoded.encoded() == bytes)
    }

    /// The framing decoder over a stream of every PDU, fed in every split NIO's verifier tries
    /// (whole, byte by byte, in random chunks, concatenated).
    @Test func byteToMessageDecoderVerifier() throws {
        let pairs: [(ByteBuffer, [PDU])] = Self.allPDUs.map { ($0.encoded(), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { PDUDecoder() }
    }

    @Test func byteByByteStream() throws {
        var stream = ByteBuffer()
        for pdu in Self.allPDUs { pdu.write(into: &stream) }
        let processor = NIOSingleStepByteToMessageProcessor(PDUDecoder())
        var decoded: [PDU] = []
        for byte in stream.readableBytesView {
            try processor.process(buffer: ByteBuffer(bytes: [byte])) { decoded.append($0) }
        }
        try processor.finishProcessing(seenEOF: true) { decoded.append($0) }
        #expect(decoded == Self.allPDUs)
    }

    // MARK: Bad input

    func decodeError(_ bytes: [UInt8], maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength) -> PDUDecodingError? {
        var b = ByteBuffer(bytes: bytes)
        var decoder = PDUDecoder(maximumPDULength: maximumPDULength)
        do {
            _ = try decoder.decode(buffer: &b)
            _ = try decoder.decodeLast(buffer: &b, seenEOF: true)
            return nil
        } catch let e as PDUDecodingError {
            return e
        } catch {
            return nil
        }
    }

    @Test func unknownPDUType() {
        let e = decodeError([0x09, 0x00, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0])
        #expect(e?.code == .unknownPDUType)
        #expect(e?.offset == 0)
    }

    @Test func oversizedPDUIsRejectedFromItsHeader() {
        // Only the header has arrived: the length alone is enough to refuse it.
        let e = decodeError([0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xF0], maximumPDULength: 1 << 20)
        #expect(e?.code == .pduTooLarge)
    }

    @Test func streamEndingInsideAPDU() {
        let e = decodeError([0x05, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00])
        #expect(e?.code == .truncated)
    }

    @Test func fixedLengthPDUsWithWrongLength() {
        #expect(decodeError([0x07, 0x00, 0x00, 0x00, 0x00, 0x05, 0, 0, 2, 1, 0])?.code == .invalidPDULength)
        #expect(decodeError([0x03, 0x00, 0x00, 0x00, 0x00, 0x03, 0, 1, 1])?.code == .invalidPDULength)
        #expect(decodeError([0x05, 0x00, 0x00, 0x00, 0x00, 0x02, 0, 0])?.code == .invalidPDULength)
        #expect(decodeError([0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0, 1, 0, 0])?.code == .invalidPDULength)
    }

    @Test func itemLengthOverrunsThePDU() {
        var bytes = Array(Self.fullRequest().encoded().readableBytesView)
        // The application context item starts at offset 74; claim it is 0x7FFF long.
        #expect(bytes[74] == 0x10)
        bytes[76] = 0x7F
        bytes[77] = 0xFF
        let e = decodeError(bytes)
        #expect(e?.code == .invalidItemLength)
        #expect(e?.offset == 74)
        #expect(e?.pduType == 0x01)
        #expect(e?.rawBytes?.readableBytes == bytes.count)
    }

    @Test func subItemLengthUnderrunsItsFields() {
        // A role selection sub-item whose UID length leaves no room for the role bytes.
        let info = UserInformationItem(subItems: [.unknown(UnknownItem(type: 0x54, body: [0x00, 0x03, 0x31, 0x2E, 0x32]))])
        let fields = AssociationPDUFields(calledAETitle: "A", callingAETitle: "B", items: [.userInformation(info)])
        let bytes = Array(PDU.associateRequest(AssociateRequest(fields: fields)).encoded().readableBytesView)
        #expect(decodeError(bytes)?.code == .invalidItemLength)
    }

    @Test func pdvLengthsThatDoNotFit() {
        // PDV item length 1: no room for context ID and control header.
        #expect(decodeError([0x04, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x01])?.code == .invalidItemLength)
        // PDV item length 0.
        #expect(decodeError([0x04, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00])?.code == .invalidItemLength)
        // PDV item length past the PDU.
        let e = decodeError([0x04, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x10, 0x01, 0x03, 0xAA, 0xBB])
        #expect(e?.code == .invalidItemLength)
        #expect(e?.offset == 6)
        // A P-DATA-TF with no PDV at all.
        #expect(decodeError([0x04, 0x00, 0x00, 0x00, 0x00, 0x00])?.code == .invalidPDULength)
    }

    @Test func errorOffsetsAreStreamOffsets() throws {
        var stream = ByteBuffer()
        PDU.releaseRequest(ReleasePDU()).write(into: &stream)
        stream.writeBytes([0x07, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00])
        var decoder = PDUDecoder()
        _ = try decoder.decode(buffer: &stream)
        do {
            _ = try decoder.decode(buffer: &stream)
            Issue.record("no error")
        } catch let e as PDUDecodingError {
            #expect(e.offset == 10 + 2)
            #expect(e.description.contains("A-ABORT"))
        }
    }
}
