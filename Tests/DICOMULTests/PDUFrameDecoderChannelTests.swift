import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import DICOMUL

/// `PDUFrameDecoder` in a channel, as our SCU and SCP run it (`ByteToMessageHandler` in front of
/// `ULConnectionHandler`): driven through an `EmbeddedChannel`, no sockets.
@Suite struct PDUFrameDecoderChannelTests {
    /// A frame without its stream offset: NIO's verifier feeds its inputs in shuffled orders
    /// through one decoder, so the offsets depend on the order; the content does not.
    struct FrameContent: Equatable {
        var type: PDUType
        var reserved: UInt8
        var body: ByteBuffer

        init(_ frame: PDUFrame) {
            type = frame.type
            reserved = frame.reserved
            body = frame.body
        }

        init(_ pdu: PDU) {
            var bytes = pdu.encoded()
            type = pdu.type
            reserved = bytes.getInteger(at: bytes.readerIndex + 1, as: UInt8.self) ?? 0
            bytes.moveReaderIndex(forwardBy: pduHeaderLength)
            body = bytes
        }
    }

    struct FrameContentDecoder: NIOSingleStepByteToMessageDecoder {
        typealias InboundOut = FrameContent
        var framer = PDUFrameDecoder()

        mutating func decode(buffer: inout ByteBuffer) throws -> FrameContent? {
            try framer.decode(buffer: &buffer).map(FrameContent.init)
        }

        mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> FrameContent? {
            try framer.decodeLast(buffer: &buffer, seenEOF: seenEOF).map(FrameContent.init)
        }
    }

    /// Every PDU type, fed in every split NIO's verifier tries: whole, byte by byte, many at once.
    @Test func verifierFramesEveryPDUType() throws {
        let pairs: [(ByteBuffer, [FrameContent])] = PDUTests.allPDUs.map { ($0.encoded(), [FrameContent($0)]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { FrameContentDecoder() }
    }

    /// One byte per read: nothing comes out before a PDU's last byte, then exactly that PDU,
    /// at its offset in the stream.
    @Test func byteByByteReadsGiveEachPDUOnItsLastByte() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder()))
        var offset = 0
        for pdu in PDUTests.allPDUs {
            let bytes = pdu.encoded()
            for (i, byte) in bytes.readableBytesView.enumerated() {
                try channel.writeInbound(ByteBuffer(bytes: [byte]))
                let frame = try channel.readInbound(as: PDUFrame.self)
                guard i == bytes.readableBytes - 1 else {
                    #expect(frame == nil)
                    continue
                }
                let framed = try #require(frame)
                #expect(framed.type == pdu.type)
                #expect(framed.streamOffset == offset)
                #expect(framed.body.readableBytes == bytes.readableBytes - pduHeaderLength)
                #expect(try PDUDecoder.decode(framed) == pdu)
            }
            offset += bytes.readableBytes
        }
        #expect(try channel.finish().isClean)
    }

    /// A PDU length over the limit is refused as soon as the six header bytes are in: the body
    /// is never waited for, so it is never buffered.
    @Test func oversizedPDUIsRefusedFromItsHeaderBeforeItsBodyIsBuffered() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder(maximumPDULength: 1 << 16)))
        let release = PDU.releaseRequest(ReleasePDU()).encoded()
        try channel.writeInbound(release)
        #expect(try channel.readInbound(as: PDUFrame.self)?.type == .releaseRequest)
        // A P-DATA-TF announcing 65537 bytes: five header bytes are not enough to decide...
        try channel.writeInbound(ByteBuffer(bytes: [0x04, 0x00, 0x00, 0x01, 0x00]))
        #expect(try channel.readInbound(as: PDUFrame.self) == nil)
        // ...the sixth is.
        let error = #expect(throws: PDUDecodingError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x01]))
        }
        #expect(error?.code == .pduTooLarge)
        #expect(error?.offset == release.readableBytes)
        #expect(error?.pduType == PDUType.dataTransfer.rawValue)
        #expect(try channel.readInbound(as: PDUFrame.self) == nil)
        _ = try? channel.finish()
    }

    /// The largest PDU allowed is framed; one byte more is refused.
    @Test func limitIsInclusive() throws {
        let limit = 64
        var pdv = ByteBuffer()
        pdv.writeInteger(UInt8(0x04))
        pdv.writeInteger(UInt8(0))
        pdv.writeInteger(UInt32(limit))
        pdv.writeRepeatingByte(0, count: limit)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder(maximumPDULength: limit)))
        try channel.writeInbound(pdv)
        #expect(try channel.readInbound(as: PDUFrame.self)?.body.readableBytes == limit)
        var over = ByteBuffer(bytes: [0x04, 0x00])
        over.writeInteger(UInt32(limit + 1))
        #expect(throws: PDUDecodingError.self) { try channel.writeInbound(over) }
        _ = try? channel.finish()
    }

    @Test func unknownPDUTypeIsRefusedFromItsHeader() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder()))
        let error = #expect(throws: PDUDecodingError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x09, 0x00, 0x00, 0x00, 0x00, 0x04]))
        }
        #expect(error?.code == .unknownPDUType)
        #expect(error?.offset == 0)
        _ = try? channel.finish()
    }

    /// The peer closes in the middle of a PDU: the channel reports the truncated PDU.
    @Test func streamEndingInsideAPDUIsReportedWhenTheChannelCloses() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: [0x05, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00]))
        #expect(try channel.readInbound(as: PDUFrame.self) == nil)
        let error = #expect(throws: PDUDecodingError.self) { try channel.finish() }
        #expect(error?.code == .truncated)
    }
}
