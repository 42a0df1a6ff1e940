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
        let header = try DICOMFile.header(buffer, options: options)
        preamble = header.preamble
        fileMetaInformation = header.meta
        transferSyntax = header.transferSyntax
        let ts = header.transferSyntax
        let metaEnd = header.bodyStart
        let start = buffer.readerIndex
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

    /// The preamble, the file meta information and its transfer syntax, and where the data set
    /// starts (a buffer index); `buffer` must hold at least the whole file meta group.
    static func header(_ buffer: ByteBuffer, options: DecodingOptions) throws(DICOMDecodingError)
        -> (preamble: ByteBuffer, meta: Dataset, transferSyntax: TransferSyntax, bodyStart: Int) {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= DICOMFile.preambleLength + 4 else {
            throw DICOMDecodingError(.notDICOM, offset: 0, tag: nil,
                                     "\(buffer.readableBytes) bytes is too short for a preamble and the DICM prefix")
        }
        guard buffer.getBytes(at: start + DICOMFile.preambleLength, length: 4) == DICOMFile.magic else {
            throw DICOMDecodingError(.notDICOM, offset: DICOMFile.preambleLength, tag: nil,
                                     "no DICM prefix after the 128-byte preamble: not a DICOM Part 10 file")
        }
        let preamble = buffer.getSlice(at: start, length: DICOMFile.preambleLength) ?? ByteBuffer()
        let metaStart = start + DICOMFile.preambleLength + 4
        let metaEnd = try DICOMFile.endOfFileMeta(buffer, from: metaStart)
        guard let metaBytes = buffer.getSlice(at: metaStart, length: metaEnd - metaStart) else {
            throw DICOMDecodingError(.truncated, offset: metaStart - start, tag: nil, "file meta information truncated")
        }
        let metaDecoder = DatasetDecoder(options: options, baseOffset: metaStart - start)
        let meta = try metaDecoder.decode(metaBytes, encoding: .explicitLittleEndian)
        guard let tsElement = meta[.transferSyntaxUID], let tsBytes = tsElement.bytes else {
            throw DICOMDecodingError(.invalidTransferSyntax, offset: metaStart - start, tag: .transferSyntaxUID,
                                     "the file meta information has no Transfer Syntax UID")
        }
        let uid = String(decoding: tsBytes.readableBytesView, as: UTF8.self)
        guard let ts = TransferSyntax(uid: uid, lenient: true) else {
            throw DICOMDecodingError(.invalidTransferSyntax, offset: metaStart - start, tag: .transferSyntaxUID,
                                     "unusable transfer syntax UID '\(uid)'")
        }
        return (preamble, meta, ts, metaEnd)
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
                                         "file meta information must be explicit VR: bytes 0x\(hex2(b0)) 0x\(hex2(b1)) are not a VR")
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

/// A Part 10 file (or a bare data set) read in pieces from a source of bytes: the data set goes
/// through `DatasetParser` as it is read (inflated as it is read when deflated), values at or
/// over `bulkThreshold` kept as references with their first `prefixLength` bytes, so what is
/// held is bounded by the data set without its bulk values, whatever the file's size.
public struct DICOMFileReader {
    public var options: DecodingOptions
    public var bulkThreshold: Int
    public var prefixLength: Int
    /// Bytes read at a time; the file meta information must end within the first piece.
    public var chunkSize = 1 << 20

    public init(options: DecodingOptions = .strict, bulkThreshold: Int = 1 << 16, prefixLength: Int = 0) {
        self.options = options
        self.bulkThreshold = bulkThreshold
        self.prefixLength = prefixLength
    }

    /// What was read: the file meta information (nil for a bare data set) and the data set.
    public struct Contents: Sendable {
        public var fileMetaInformation: Dataset?
        public var transferSyntax: TransferSyntax
        public var dataset: Dataset

        public init(fileMetaInformation: Dataset?, transferSyntax: TransferSyntax, dataset: Dataset) {
            self.fileMetaInformation = fileMetaInformation
            self.transferSyntax = transferSyntax
            self.dataset = dataset
        }
    }

    /// Reads a Part 10 file; `next` gives the file's bytes in order, nil at the end.
    public func read(next: () throws -> ByteBuffer?) throws -> Contents {
        var head = ByteBuffer()
        while head.readableBytes < chunkSize, let more = try next() {
            var piece = more
            head.writeBuffer(&piece)
        }
        let isWhole = head.readableBytes < chunkSize
        let header = try DICOMFile.header(head, options: options)
        if header.bodyStart == head.writerIndex && !isWhole {
            throw DICOMDecodingError(.truncated, offset: header.bodyStart, tag: nil,
                                     "the file meta information does not end within the first \(chunkSize) bytes")
        }
        let body = head.getSlice(at: header.bodyStart, length: head.writerIndex - header.bodyStart) ?? ByteBuffer()
        let bodyOffset = header.bodyStart - head.readerIndex
        let dataset = try readDataSet(first: body, transferSyntax: header.transferSyntax,
                                      baseOffset: header.transferSyntax.isDeflated ? 0 : bodyOffset, next: next)
        return Contents(fileMetaInformation: header.meta, transferSyntax: header.transferSyntax, dataset: dataset)
    }

    /// Reads a bare data set in `transferSyntax` (`first`, then what `next` gives).
    public func readDataSet(first: ByteBuffer = ByteBuffer(), transferSyntax ts: TransferSyntax, baseOffset: Int = 0,
                            next: () throws -> ByteBuffer?) throws -> Dataset {
        var parser = DatasetParser(encoding: ts.encoding, options: options, bulkThreshold: bulkThreshold, baseOffset: baseOffset)
        var builder = DatasetBuilder(encoding: ts.encoding, options: options, bulkThreshold: bulkThreshold, prefixLength: prefixLength)
        let inflater = ts.isDeflated ? StreamingInflater(maxSize: options.maxInflatedSize) : nil
        func feed(_ bytes: ByteBuffer) throws(DICOMDecodingError) {
            if let inflater {
                try inflater.inflate(bytes) { (plain: ByteBuffer) throws(DICOMDecodingError) in
                    parser.append(plain)
                    try parser.parse(into: &builder)
                }
            } else {
                parser.append(bytes)
                try parser.parse(into: &builder)
            }
        }
        try feed(first)
        while let more = try next() { try feed(more) }
        parser.finish()
        try parser.parse(into: &builder)
        return builder.dataset
    }
}
