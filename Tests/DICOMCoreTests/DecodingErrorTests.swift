import NIOCore
import Testing
@testable import DICOMCore

/// Each error case of the decoder: a typed error naming the byte offset and the tag.
@Suite struct DecodingErrorTests {
    /// Explicit VR LE element bytes.
    func explicit(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8], length: UInt32? = nil) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(group, endianness: .little)
        b.writeInteger(element, endianness: .little)
        b.writeString(vr)
        let v = VR(code: vr)!
        if v.hasLongExplicitLength {
            b.writeInteger(UInt16(0), endianness: .little)
            b.writeInteger(length ?? UInt32(value.count), endianness: .little)
        } else {
            b.writeInteger(UInt16(length ?? UInt32(value.count)), endianness: .little)
        }
        b.writeBytes(value)
        return Array(b.readableBytesView)
    }

    func item(_ length: UInt32, tag: DICOMCore.Tag = .item) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(tag.group, endianness: .little)
        b.writeInteger(tag.element, endianness: .little)
        b.writeInteger(length, endianness: .little)
        return Array(b.readableBytesView)
    }

    func decode(_ bytes: [UInt8], _ encoding: DatasetEncoding = .explicitLittleEndian,
                options: DecodingOptions = .strict) -> Result<Dataset, DICOMDecodingError> {
        Result { () throws(DICOMDecodingError) in
            try DatasetDecoder(options: options).decode(ByteBuffer(bytes: bytes), encoding: encoding)
        }
    }

    func error(_ bytes: [UInt8], _ encoding: DatasetEncoding = .explicitLittleEndian,
               options: DecodingOptions = .strict) -> DICOMDecodingError? {
        if case .failure(let e) = decode(bytes, encoding, options: options) { return e }
        return nil
    }

    @Test func truncatedHeader() {
        let bytes = explicit(0x0010, 0x0020, "LO", Array("1234567 ".utf8)) + [0x10, 0x00, 0x30]
        let e = error(bytes)
        #expect(e?.code == .truncated)
        #expect(e?.offset == 16)
    }

    @Test func lengthPastEndOfBuffer() {
        let bytes = explicit(0x0010, 0x0020, "LO", Array("1234".utf8), length: 64)
        let e = error(bytes)
        #expect(e?.code == .lengthOverrun)
        #expect(e?.offset == 0)
        #expect(e?.tag == DICOMCore.Tag(0x0010_0020))
        #expect(e?.description.contains("(0010,0020) PatientID") == true)
    }

    @Test func fourGigabyteLengthInTinyBufferIsAnErrorNotAnAllocation() {
        let bytes = explicit(0x7FE0, 0x0010, "OB", Array(repeating: 0, count: 88), length: 0xFFFF_FFFE)
        #expect(bytes.count == 100)
        let e = error(bytes)
        #expect(e?.code == .lengthOverrun)
        #expect(e?.tag == .pixelData)
        let implicitBytes: [UInt8] = [0x10, 0x00, 0x10, 0x00, 0xFE, 0xFF, 0xFF, 0xFF] + Array(repeating: 0x41, count: 92)
        #expect(error(implicitBytes, .implicitLittleEndian)?.code == .lengthOverrun)
    }

    @Test func oddLength() {
        let bytes = explicit(0x0010, 0x0020, "LO", Array("123".utf8))
        let e = error(bytes)
        #expect(e?.code == .oddLength)
        #expect(e?.tag == DICOMCore.Tag(0x0010_0020))
        // Lenient decoding accepts it and still round-trips.
        guard case .success(let ds) = decode(bytes, options: .lenient) else {
            Issue.record("lenient decode failed")
            return
        }
        #expect(ds[DICOMCore.Tag(0x0010_0020)]?.string() == "123")
        #expect(Array((try? DatasetEncoder().encode(ds))?.readableBytesView ?? ByteBuffer().readableBytesView) == bytes)
    }

    @Test func delimiterWithoutOpenItem() {
        let e = error(item(0, tag: .itemDelimitation))
        #expect(e?.code == .unexpectedDelimiter)
        #expect(e?.offset == 0)
        #expect(error(item(0, tag: .sequenceDelimitation))?.code == .unexpectedDelimiter)
        #expect(error(item(0))?.code == .unexpectedDelimiter)
        // A Sequence Delimitation Item inside a sequence of defined length.
        let sq = explicit(0x0040, 0xA730, "SQ", item(0, tag: .sequenceDelimitation))
        let e2 = error(sq)
        #expect(e2?.code == .unexpectedDelimiter)
        #expect(e2?.offset == 12)
    }

    @Test func nestingDeeperThanTheBound() {
        // 100 nested undefined-length sequences, each with one undefined-length item.
        var bytes: [UInt8] = []
        for _ in 0..<100 { bytes += explicit(0x0040, 0xA730, "SQ", [], length: 0xFFFF_FFFF) + item(0xFFFF_FFFF) }
        for _ in 0..<100 { bytes += item(0, tag: .itemDelimitation) + item(0, tag: .sequenceDelimitation) }
        let e = error(bytes, options: DecodingOptions(maxNestingDepth: 16))
        #expect(e?.code == .nestingTooDeep)
        #expect(e?.tag == DICOMCore.Tag(0x0040_A730))
        // Within a generous bound the same input decodes.
        if case .failure(let err) = decode(bytes, options: DecodingOptions(maxNestingDepth: 200)) {
            Issue.record("deep but bounded nesting failed: \(err)")
        }
    }

    @Test func undefinedLengthSequenceWithoutDelimiter() {
        let bytes = explicit(0x0040, 0xA730, "SQ", [], length: 0xFFFF_FFFF) + item(0xFFFF_FFFF)
            + explicit(0x0008, 0x0100, "SH", Array("T-1234".utf8))
        #expect(error(bytes)?.code == .truncated)
    }

    @Test func itemLengthOverrunsItsSequence() {
        let inner = item(40) + explicit(0x0008, 0x0100, "SH", Array("T-1234".utf8))
        let bytes = explicit(0x0040, 0xA730, "SQ", inner)
        let e = error(bytes)
        #expect(e?.code == .lengthOverrun)
        #expect(e?.offset == 12)
    }

    @Test func elementOverrunsItsItem() {
        let element = explicit(0x0008, 0x0100, "SH", Array("T-1234".utf8))
        let inner = item(UInt32(element.count - 2)) + element + [0x20, 0x20]
        let e = error(explicit(0x0040, 0xA730, "SQ", inner))
        #expect(e?.code == .lengthOverrun)
        #expect(e?.description.contains("enclosing item") == true)
    }

    @Test func invalidVR() {
        let bytes = explicit(0x0010, 0x0020, "LO", Array("1234".utf8)).enumerated().map { $0.offset == 4 ? 0x3F : $0.element }
        let e = error(bytes)
        #expect(e?.code == .invalidVR)
        #expect(e?.offset == 4)
    }

    @Test func notDICOM() {
        var b = ByteBuffer(repeating: 0, count: 200)
        #expect(throws: DICOMDecodingError.self) { try DICOMFile(decoding: b) }
        do {
            _ = try DICOMFile(decoding: b)
        } catch {
            #expect(error.code == .notDICOM)
            #expect(error.offset == 128)
        }
        b = ByteBuffer(string: "hello")
        #expect(throws: DICOMDecodingError.self) { try DICOMFile(decoding: b) }
    }

    @Test func corruptDeflateStream() {
        var b = ByteBuffer(repeating: 0, count: 128)
        b.writeString("DICM")
        let uid = Array("1.2.840.10008.1.2.1.99".utf8)
        b.writeBytes(explicit(0x0002, 0x0010, "UI", uid))
        b.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34])
        do {
            _ = try DICOMFile(decoding: b)
            Issue.record("corrupt deflate decoded")
        } catch {
            #expect(error.code == .inflateFailed)
        }
    }

    @Test func deflateBombIsBounded() throws {
        var zeros = ByteBuffer(repeating: 0, count: 4 << 20)
        let compressed = try zeros.compress(with: .deflate())
        #expect(compressed.readableBytes < 10_000)
        #expect(throws: DICOMDecodingError.self) {
            try Deflate.inflate(compressed, maxSize: 1 << 20, offset: 0)
        }
    }
}

import CompressNIO
