import DICOMCore
import NIOCore

/// The data set decoder in the four transfer syntaxes of a data set in P-DATA (and Part 10).
///
/// Input: one selector byte, one chunking byte, then the data set (for deflated, the deflated bytes).
/// Selector bits 0-1 pick implicit VR LE, explicit VR LE, explicit VR BE or deflated explicit VR LE;
/// bit 2 strict or lenient options.
///
/// Oracles, whenever `DatasetDecoder` decodes the (inflated) bytes:
/// - `DatasetEncoder` re-encodes the data set to exactly those bytes (the project's byte-exact rule).
///   For deflated input the rule holds for the inflated bytes, not the deflated ones: one inflated
///   stream has many deflate encodings, and bytes after the end of the deflate stream (the padding
///   to an even length) are not part of the data set. (`DICOMFile` keeps the compressed bytes to
///   write an unmodified file back; a P-DATA data set is relayed as it came.) Deflating the
///   re-encoded bytes and inflating them again gives them back.
/// - The same bytes fed to `DatasetParser` in pieces (sizes from the chunking byte) decode to an
///   equal data set, and fail exactly when the whole decode fails.
/// - The streaming inflater (in pieces) and the whole-buffer inflater agree when both succeed.
/// - The DICOM JSON and text dump renderers run on a decoded data set of at most 4 KiB (no crash).
enum DataSetHarness {
    static let encodings: [DatasetEncoding] = [.implicitLittleEndian, .explicitLittleEndian, .explicitBigEndian, .explicitLittleEndian]
    static let maxInflated = 1 << 20

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var input = FuzzInput(data)
        let selector = input.byte()
        let chunking = input.byte()
        let deflated = selector & 3 == 3
        let encoding = encodings[Int(selector & 3)]
        let options = selector & 4 == 0 ? DecodingOptions(maxInflatedSize: maxInflated)
                                         : DecodingOptions(allowOddLengths: true, maxInflatedSize: maxInflated)
        let body = ByteBuffer(bytes: input.rest())

        var plain = body
        if deflated {
            let whole = try? Deflate.inflate(body, maxSize: maxInflated, offset: 0)
            let streamed = inflateInPieces(body, chunking: chunking)
            if let whole, let streamed, whole != streamed {
                oracleFailure("the streaming inflater gave \(streamed.readableBytes) bytes, the whole-buffer one \(whole.readableBytes)")
            }
            guard let inflated = whole ?? streamed else { return }
            plain = inflated
        }

        let decoded: Dataset?
        do {
            decoded = try DatasetDecoder(options: options).decode(plain, encoding: encoding)
        } catch {
            decoded = nil
        }
        let streamed = decodeInPieces(plain, encoding: encoding, options: options, chunking: chunking)
        switch (decoded, streamed) {
        case (nil, nil):
            return
        case (let d?, nil):
            _ = d
            oracleFailure("decoded whole but not in pieces (chunking \(chunking)), \(plain.readableBytes) bytes, \(encoding)")
        case (nil, _?):
            oracleFailure("decoded in pieces (chunking \(chunking)) but not whole, \(plain.readableBytes) bytes, \(encoding)")
        case (let d?, let s?):
            if d != s { oracleFailure("decoded in pieces (chunking \(chunking)) to a different data set than whole, \(encoding)") }
        }
        guard let dataset = decoded else { return }
        let encoded: ByteBuffer
        do {
            encoded = try DatasetEncoder().encode(dataset)
        } catch {
            oracleFailure("decoded (\(encoding)) but cannot be encoded again: \(error)")
        }
        if encoded != plain {
            oracleFailure("decoded (\(encoding), \(plain.readableBytes) bytes) but re-encoded to \(encoded.readableBytes) different bytes"
                          + " (first difference at \(firstDifference(encoded, plain)))")
        }
        if deflated {
            guard let again = try? Deflate.deflate(encoded), let back = try? Deflate.inflate(again, maxSize: maxInflated, offset: 0) else {
                oracleFailure("the re-encoded data set could not be deflated and inflated again")
            }
            if back != encoded { oracleFailure("deflate then inflate changed the re-encoded data set") }
        }
        // The renderers walk every value byte by byte (slow in this unoptimised build): small data sets only.
        if plain.readableBytes <= 4096 {
            _ = DICOMJSONRenderer().render(dataset).serialized()
            _ = TextDumpRenderer().render(dataset)
        }
    }

    /// Piece sizes from `chunking`: 0 means one piece; otherwise sizes cycle through 1...(chunking),
    /// so small values cut every header in two; after 256 pieces the rest goes in pieces of 1 KiB
    /// (the cost of an input stays proportional to its length).
    static func pieces(of buffer: ByteBuffer, chunking: UInt8) -> [ByteBuffer] {
        guard chunking > 0 else { return [buffer] }
        var out: [ByteBuffer] = []
        var rest = buffer
        var size = 1
        while rest.readableBytes > 0 {
            let n = min(size, rest.readableBytes)
            if let piece = rest.readSlice(length: n) { out.append(piece) }
            size = out.count < 256 ? size % Int(chunking) + 1 : 1024
        }
        return out
    }

    static func decodeInPieces(_ buffer: ByteBuffer, encoding: DatasetEncoding, options: DecodingOptions, chunking: UInt8) -> Dataset? {
        var parser = DatasetParser(encoding: encoding, options: options)
        var builder = DatasetBuilder(encoding: encoding, options: options)
        do {
            for piece in pieces(of: buffer, chunking: chunking) {
                parser.append(piece)
                try parser.parse(into: &builder)
            }
            parser.finish()
            try parser.parse(into: &builder)
        } catch {
            return nil
        }
        return builder.dataset
    }

    static func inflateInPieces(_ buffer: ByteBuffer, chunking: UInt8) -> ByteBuffer? {
        let inflater = StreamingInflater(maxSize: maxInflated, chunkSize: 1 << 12)
        var out = ByteBuffer()
        do {
            for piece in pieces(of: buffer, chunking: chunking) {
                try inflater.inflate(piece) { (plain: ByteBuffer) throws(DICOMDecodingError) in
                    var plain = plain
                    out.writeBuffer(&plain)
                }
            }
        } catch {
            return nil
        }
        return inflater.isEnded ? out : nil
    }

    static func firstDifference(_ a: ByteBuffer, _ b: ByteBuffer) -> Int {
        let x = Array(a.readableBytesView), y = Array(b.readableBytesView)
        return (0..<min(x.count, y.count)).first { x[$0] != y[$0] } ?? min(x.count, y.count)
    }

    static func selector(for syntax: TransferSyntax) -> UInt8 {
        if syntax.isDeflated { return 3 }
        if !syntax.encoding.isExplicitVR { return 0 }
        return syntax.encoding.isBigEndian ? 2 : 1
    }

    /// Every Part 10 fixture's data set (as it is in the file: deflated for the deflated ones) and
    /// every command set and data set of the captures' messages.
    static func seeds(root: String) throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for (syntax, bytes) in try SeedSources.dataSets(root: root) {
            seeds.append([selector(for: syntax), 0] + bytes)
            seeds.append([selector(for: syntax) | 4, 7] + bytes)
        }
        return seeds
    }
}
