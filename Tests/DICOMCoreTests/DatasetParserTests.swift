import NIOCore
import Testing
@testable import DICOMCore

/// `DatasetParser` fed in pieces gives what it gives on the whole buffer: the same data set,
/// or the same error (code, offset, tag, detail), whatever the pieces; with a bulk threshold,
/// large values become references of the right length and offset, and nothing else changes.
@Suite struct DatasetParserTests {
    /// The data set of each fixture (inflated when deflated) and its encoding.
    static func bodies() throws -> [(name: String, body: ByteBuffer, encoding: DatasetEncoding)] {
        var out: [(String, ByteBuffer, DatasetEncoding)] = []
        for entry in Fixtures.manifest() {
            let file = Fixtures.bytes(entry.name + ".dcm")
            let decoded = try DICOMFile(decoding: file, options: .lenient)
            let metaEnd = try DICOMFile.endOfFileMeta(file, from: file.readerIndex + 132)
            var body = file.getSlice(at: metaEnd, length: file.writerIndex - metaEnd) ?? ByteBuffer()
            if decoded.transferSyntax.isDeflated {
                body = try Deflate.inflate(body, maxSize: 1 << 26, offset: 0)
            }
            out.append((entry.name, body, decoded.transferSyntax.encoding))
        }
        return out
    }

    /// Parses `body` fed in pieces of the sizes `rng` picks.
    static func streamed(_ body: ByteBuffer, encoding: DatasetEncoding, options: DecodingOptions, threshold: Int = .max,
                         rng: inout XorShift) -> Result<Dataset, DICOMDecodingError> {
        var parser = DatasetParser(encoding: encoding, options: options, bulkThreshold: threshold)
        var builder = DatasetBuilder(encoding: encoding, options: options, bulkThreshold: threshold)
        var rest = body
        do throws(DICOMDecodingError) {
            while rest.readableBytes > 0 {
                let n = min(rest.readableBytes, Int.random(in: 1...97, using: &rng))
                parser.append(rest.readSlice(length: n)!)
                try parser.parse(into: &builder)
            }
            parser.finish()
            try parser.parse(into: &builder)
            return .success(builder.dataset)
        } catch {
            return .failure(error)
        }
    }

    static func whole(_ body: ByteBuffer, encoding: DatasetEncoding, options: DecodingOptions) -> Result<Dataset, DICOMDecodingError> {
        do throws(DICOMDecodingError) {
            return .success(try DatasetDecoder(options: options).decode(body, encoding: encoding))
        } catch {
            return .failure(error)
        }
    }

    static func same(_ a: DICOMDecodingError, _ b: DICOMDecodingError) -> Bool {
        a.code == b.code && a.offset == b.offset && a.tag == b.tag && a.detail == b.detail
    }

    @Test func piecesGiveTheWholeResult() throws {
        var rng = XorShift(seed: 0x5EED_0001)
        let bodies = try Self.bodies()
        #expect(bodies.count >= 10)
        var compared = 0, errors = 0
        for (name, body, encoding) in bodies {
            let original = Array(body.readableBytesView)
            for round in 0..<40 {
                var bytes = original
                if round > 0 {
                    // Damaged copies too: a cut, or a few bytes changed.
                    if round % 2 == 0 {
                        bytes = Array(bytes.prefix(Int.random(in: 0..<max(1, bytes.count), using: &rng)))
                    } else if !bytes.isEmpty {
                        for _ in 0..<(1 + round % 3) {
                            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = [0x00, 0xFF, 0xFE, 0xE0, 0xDD, 0x0D, 0x01]
                                .randomElement(using: &rng)!
                        }
                    }
                }
                let input = ByteBuffer(bytes: bytes)
                for options in [DecodingOptions.strict, .lenient] {
                    let expected = Self.whole(input, encoding: encoding, options: options)
                    let got = Self.streamed(input, encoding: encoding, options: options, rng: &rng)
                    switch (expected, got) {
                    case (.success(let a), .success(let b)):
                        #expect(a == b, "\(name) round \(round): data sets differ")
                    case (.failure(let a), .failure(let b)):
                        #expect(Self.same(a, b), "\(name) round \(round): \(a) vs \(b)")
                        errors += 1
                    default:
                        Issue.record("\(name) round \(round): whole \(String(describing: expected)), pieces \(String(describing: got))")
                    }
                    compared += 1
                }
            }
        }
        #expect(compared >= 800)
        #expect(errors > 0)
    }

    /// With a threshold, every value at least that long is a reference with its length and the
    /// offset of its value; everything else is as decoded whole.
    @Test func bulkValuesAreReferences() throws {
        var rng = XorShift(seed: 0x5EED_0002)
        var references = 0
        for (name, body, encoding) in try Self.bodies() {
            let whole = try DatasetDecoder(options: .lenient).decode(body, encoding: encoding)
            let streamed = try Self.streamed(body, encoding: encoding, options: .lenient, threshold: 64, rng: &rng).get()
            references += Self.compare(whole, streamed, threshold: 64, body: body, name: name)
        }
        #expect(references > 0)
    }

    /// Checks `streamed` against `whole`; returns the number of references seen.
    static func compare(_ whole: Dataset, _ streamed: Dataset, threshold: Int, body: ByteBuffer, name: String) -> Int {
        guard whole.count == streamed.count else {
            Issue.record("\(name): \(whole.count) elements vs \(streamed.count)")
            return 0
        }
        var references = 0
        for (a, b) in zip(whole.elements, streamed.elements) {
            #expect(a.tag == b.tag && a.vr == b.vr, "\(name): \(a.tag) vs \(b.tag)")
            switch (a.value, b.value) {
            case (.bytes(let x), .bulk(let ref)):
                #expect(x.readableBytes >= threshold && ref.length == x.readableBytes, "\(name) \(a.tag)")
                #expect(body.getSlice(at: body.readerIndex + ref.offset, length: ref.length) == x, "\(name) \(a.tag): offset")
                references += 1
            case (.fragments(let f), .bulk(let ref)):
                #expect(ref.fragmentCount == f.count && ref.length == f.reduce(0) { $0 + $1.readableBytes }, "\(name) \(a.tag)")
                references += 1
            case (.sequence(let x), .sequence(let y)):
                #expect(x.count == y.count, "\(name) \(a.tag)")
                for (i, j) in zip(x, y) {
                    references += compare(i.dataset, j.dataset, threshold: threshold, body: body, name: name)
                }
            case (.bytes(let x), .bytes(let y)):
                #expect(x == y && x.readableBytes < threshold, "\(name) \(a.tag)")
            case (.fragments(let x), .fragments(let y)):
                #expect(x == y, "\(name) \(a.tag)")
            default:
                Issue.record("\(name) \(a.tag): \(a.value) vs \(b.value)")
            }
        }
        return references
    }

    /// What the parser holds stays under the threshold (plus a header), however large the values.
    @Test func heldBytesAreBoundedByTheThreshold() throws {
        // A data set with a 4 MiB value between small ones, fed in 16 KiB pieces.
        var ds = Dataset(encoding: .explicitLittleEndian)
        ds.set(DataElement(tag: Tag(0x0010_0020), vr: .LO, string: "ID-1")!)
        ds.set(DataElement(tag: .pixelData, vr: .OW, value: .bytes(ByteBuffer(repeating: 7, count: 4 << 20))))
        ds.set(DataElement(tag: Tag(0xFFFA_FFFA), vr: .SQ, value: .sequence([])))
        let body = try DatasetEncoder().encode(ds)
        var parser = DatasetParser(encoding: .explicitLittleEndian, options: .strict, bulkThreshold: 1 << 16)
        var builder = DatasetBuilder(encoding: .explicitLittleEndian, bulkThreshold: 1 << 16)
        var rest = body
        var most = 0
        while rest.readableBytes > 0 {
            parser.append(rest.readSlice(length: min(16_384, rest.readableBytes))!)
            try parser.parse(into: &builder)
            most = max(most, parser.bufferedBytes)
        }
        parser.finish()
        try parser.parse(into: &builder)
        #expect(parser.isComplete)
        #expect(most < 1 << 16)
        let result = builder.dataset
        #expect(result[.pixelData]?.bulk == BulkValue(length: 4 << 20, offset: 12 + 12))
        #expect(result[Tag(0x0010_0020)]?.string() == "ID-1")
        #expect(result.count == 3)
    }

    /// A value that claims more bytes than the data set has is an error at the end, with the
    /// message the whole-buffer decoder gives; nothing of the claimed size is allocated.
    @Test func claimedLengthPastTheEndIsAnErrorAtTheEnd() throws {
        var bytes = ByteBuffer()
        bytes.writeBytes([0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x57, 0x00, 0x00])  // (7FE0,0010) OW
        bytes.writeInteger(UInt32(0xFFFF_FFF0), endianness: .little)
        bytes.writeBytes([UInt8](repeating: 0, count: 100))
        var parser = DatasetParser(encoding: .explicitLittleEndian, options: .strict, bulkThreshold: 1 << 16)
        var checker = DatasetChecker()
        parser.append(bytes)
        try parser.parse(into: &checker)
        parser.finish()
        #expect(throws: DICOMDecodingError.self) { try parser.parse(into: &checker) }
        let whole = Self.whole(bytes, encoding: .explicitLittleEndian, options: .strict)
        var again = DatasetParser(encoding: .explicitLittleEndian, options: .strict, bulkThreshold: 1 << 16)
        again.append(bytes)
        try again.parse(into: &checker)
        again.finish()
        do throws(DICOMDecodingError) {
            try again.parse(into: &checker)
        } catch {
            guard case .failure(let expected) = whole else { Issue.record("decoded whole"); return }
            #expect(Self.same(error, expected), "\(error) vs \(expected)")
        }
    }
}

/// `DICOMFileReader` (what `dicomtap dump` uses) reads a file in pieces and keeps values over the
/// threshold as references with their first bytes: the text dump is the same as from the file
/// decoded whole, for every fixture, with a threshold that makes most values references.
@Suite struct DICOMFileReaderTests {
    @Test func dumpOfAFileReadInPiecesIsTheSame() throws {
        var compared = 0
        for entry in Fixtures.manifest() {
            let bytes = Fixtures.bytes(entry.name + ".dcm")
            let whole = try DICOMFile(decoding: bytes, options: .lenient)
            for chunk in [7, 512, 1 << 20] {
                var reader = DICOMFileReader(options: .lenient, bulkThreshold: 16, prefixLength: 4 * 64 + 16)
                reader.chunkSize = max(chunk, 512)
                var rest = bytes
                let contents = try reader.read {
                    guard rest.readableBytes > 0 else { return nil }
                    return rest.readSlice(length: min(chunk, rest.readableBytes))
                }
                #expect(contents.transferSyntax == whole.transferSyntax)
                let dump = TextDumpRenderer()
                let got = dump.render(contents.dataset).split(separator: "\n"), expected = dump.render(whole.dataset).split(separator: "\n")
                let first = zip(got, expected).first { $0.0 != $0.1 }
                #expect(got.count == expected.count && first == nil,
                        "\(entry.name), pieces of \(chunk): \(first.map { "\($0.0)\n vs \($0.1)" } ?? "\(got.count) lines vs \(expected.count)")")
                #expect(contents.fileMetaInformation == whole.fileMetaInformation)
                compared += 1
            }
        }
        #expect(compared >= 30)
    }
}

/// The streaming inflater and deflater give what the one-shot ones give, whatever the sizes of
/// the pieces in and out: zlib's pending output is drained even when the input is used up.
@Suite struct StreamingDeflateTests {
    static func sample() -> ByteBuffer {
        var bytes: [UInt8] = []
        for i in 0..<40_000 { bytes.append(i % 3000 < 2000 ? 0 : UInt8(truncatingIfNeeded: i &* 31)) }
        return ByteBuffer(bytes: bytes)
    }

    @Test(arguments: [1, 7, 4096])
    func inflateInPieces(outputChunk: Int) throws {
        let plain = Self.sample()
        let compressed = try Deflate.deflate(plain)
        var rng = XorShift(seed: UInt64(outputChunk))
        for _ in 0..<5 {
            let inflater = StreamingInflater(maxSize: 1 << 20, chunkSize: outputChunk)
            var out = ByteBuffer()
            var rest = compressed
            while rest.readableBytes > 0 {
                let piece = rest.readSlice(length: min(rest.readableBytes, Int.random(in: 1...13, using: &rng)))!
                try inflater.inflate(piece) { (p: ByteBuffer) throws(DICOMDecodingError) in
                    var q = p
                    out.writeBuffer(&q)
                }
            }
            #expect(out == plain)
        }
    }

    @Test func deflateInPiecesInflatesBack() throws {
        let plain = Self.sample()
        let deflater = StreamingDeflater(chunkSize: 64)
        var compressed = ByteBuffer()
        var rest = plain
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(rest.readableBytes, 777))!
            try deflater.deflate(piece, finish: rest.readableBytes == 0) { p in
                var q = p
                compressed.writeBuffer(&q)
            }
        }
        #expect(try Deflate.inflate(compressed, maxSize: 1 << 20, offset: 0) == plain)
    }

    @Test func pastTheLimitIsAnError() throws {
        let compressed = try Deflate.deflate(ByteBuffer(repeating: 0, count: 1 << 20))
        let inflater = StreamingInflater(maxSize: 1000, chunkSize: 64)
        #expect(throws: DICOMDecodingError.self) {
            try inflater.inflate(compressed) { (_: ByteBuffer) throws(DICOMDecodingError) in }
        }
        // The largest limit does not overflow.
        let unbounded = StreamingInflater(maxSize: .max)
        var n = 0
        try unbounded.inflate(compressed) { (p: ByteBuffer) throws(DICOMDecodingError) in n += p.readableBytes }
        #expect(n == 1 << 20)
    }
}
