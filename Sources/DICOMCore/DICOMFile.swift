import NIOCore

/// A DICOM Part 10 file (PS3.10 §7.1): 128-byte preamble, "DICM", the File Meta Information
/// group (always explicit VR little endian), then the dataset in the transfer syntax that
/// (0002,0010) names.
public struct DICOMFile: Sendable {
    /// The 128-byte preamble, kept as read.
    public var preamble: ByteBuffer
    /// Group 0002, explicit VR little endian.
    public var fileMetaInformation: Dataset
    public var transferSyntax: TransferSyntax
    public var dataset: Dataset
    /// For a deflated file: the compressed bytes and what they inflated to, so that an
    /// unmodified dataset is written back with the original compressed stream.
    var originalDeflate: (compressed: ByteBuffer, inflated: ByteBuffer)?

    public init(fileMetaInformation: Dataset, transferSyntax: TransferSyntax, dataset: Dataset,
                preamble: ByteBuffer = ByteBuffer(repeating: 0, count: 128)) {
        self.preamble = preamble
        self.fileMetaInformation = fileMetaInformation
        self.transferSyntax = transferSyntax
        self.dataset = dataset
    }

    static let preambleLength = 128
    static let magic: [UInt8] = Array("DICM".utf8)

    /// Reads a Part 10 file from `buffer`.
    public init(decoding buffer: ByteBuffer, options: DecodingOptions = .strict) throws(DICOMDecodingError) {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= DICOMFile.preambleLength + 4 else {
            throw DICOMDecodingError(.notDICOM, offset: 0, tag: nil,
                                     "\(buffer.readableBytes) bytes is too short for a preamble and the DICM prefix")
        }
        guard buffer.getBytes(at: start + DICOMFile.preambleLength, length: 4) == DICOMFile.magic else {
            throw DICOMDecodingError(.notDICOM, offset: DICOMFile.preambleLength, tag: nil,
                                     "no DICM prefix after the 128-byte preamble: not a DICOM Part 10 file")
        }
        preamble = buffer.getSlice(at: start, length: DICOMFile.preambleLength) ?? ByteBuffer()
        let metaStart = start + DICOMFile.preambleLength + 4
        let metaEnd = try DICOMFile.endOfFileMeta(buffer, from: metaStart)
        guard let metaBytes = buffer.getSlice(at: metaStart, length: metaEnd - metaStart) else {
            throw DICOMDecodingError(.truncated, offset: metaStart - start, tag: nil, "file meta information truncated")
        }
        let metaDecoder = DatasetDecoder(options: options, baseOffset: metaStart - start)
        fileMetaInformation = try metaDecoder.decode(metaBytes, encoding: .explicitLittleEndian)
        guard let tsElement = fileMetaInformation[.transferSyntaxUID], let tsBytes = tsElement.bytes else {
            throw DICOMDecodingError(.invalidTransferSyntax, offset: metaStart - start, tag: .transferSyntaxUID,
                                     "the file meta information has no Transfer Syntax UID")
        }
        let uid = String(decoding: tsBytes.readableBytesView, as: UTF8.self)
        guard let ts = TransferSyntax(uid: uid, lenient: true) else {
            throw DICOMDecodingError(.invalidTransferSyntax, offset: metaStart - start, tag: .transferSyntaxUID,
                                     "unusable transfer syntax UID '\(uid)'")
        }
        transferSyntax = ts
        let body = buffer.getSlice(at: metaEnd, length: buffer.writerIndex - metaEnd) ?? ByteBuffer()
        let bodyOffset = metaEnd - start
        if ts.isDeflated {
            let inflated = try Deflate.inflate(body, maxSize: options.maxInflatedSize, offset: bodyOffset)
            originalDeflate = (body, inflated)
            // Offsets in errors are offsets in the inflated stream.
            dataset = try DatasetDecoder(options: options, baseOffset: 0).decode(inflated, encoding: ts.encoding)
        } else {
            dataset = try DatasetDecoder(options: options, baseOffset: bodyOffset).decode(body, encoding: ts.encoding)
        }
    }

    /// The file meta group ends where group 0002 ends; (0002,0000) gives its length, but
    /// writers are known to get it wrong, so the elements are walked (explicit VR LE).
    static func endOfFileMeta(_ buffer: ByteBuffer, from start: Int) throws(DICOMDecodingError) -> Int {
        var pos = start
        let base = buffer.readerIndex
        while buffer.writerIndex - pos >= 8 {
            guard let group = buffer.getInteger(at: pos, endianness: .little, as: UInt16.self), group == 0x0002 else { break }
            let b0 = buffer.getInteger(at: pos + 4, as: UInt8.self) ?? 0
            let b1 = buffer.getInteger(at: pos + 5, as: UInt8.self) ?? 0
            let element = buffer.getInteger(at: pos + 2, endianness: .little, as: UInt16.self) ?? 0
            let tag = Tag(group: group, element: element)
            guard let vr = VR(byte0: b0, byte1: b1) else {
                throw DICOMDecodingError(.invalidVR, offset: pos + 4 - base, tag: tag,
                                         "file meta information must be explicit VR: bytes \(hexByte(b0)) \(hexByte(b1)) are not a VR")
            }
            let length: Int
            let header: Int
            if vr.hasLongExplicitLength {
                guard let l = buffer.getInteger(at: pos + 8, endianness: .little, as: UInt32.self) else {
                    throw DICOMDecodingError(.truncated, offset: pos - base, tag: tag, "file meta element header truncated")
                }
                length = Int(l)
                header = 12
            } else {
                length = Int(buffer.getInteger(at: pos + 6, endianness: .little, as: UInt16.self) ?? 0)
                header = 8
            }
            guard length <= buffer.writerIndex - pos - header else {
                throw DICOMDecodingError(.lengthOverrun, offset: pos - base, tag: tag,
                                         "value length \(length) runs past the end of the input")
            }
            pos += header + length
        }
        return pos
    }

    /// Encodes the file. A deflated dataset whose inflated encoding is unchanged is written
    /// with its original compressed bytes, so an unmodified file round-trips exactly.
    public func encode() throws(DICOMDecodingError) -> ByteBuffer {
        var out = ByteBuffer()
        var pre = preamble
        out.writeBuffer(&pre)
        out.writeBytes(DICOMFile.magic)
        let encoder = DatasetEncoder()
        try encoder.encode(fileMetaInformation, encoding: .explicitLittleEndian, into: &out)
        var body = try encoder.encode(dataset, encoding: transferSyntax.encoding)
        if transferSyntax.isDeflated {
            if let original = originalDeflate, original.inflated == body {
                body = original.compressed
            } else {
                body = try Deflate.deflate(body)
            }
        }
        out.writeBuffer(&body)
        return out
    }
}
