import DICOMCore
import NIOCore

/// One data set arriving in fragments, decoded as it comes: inflated as it arrives when
/// deflated, parsed by `DatasetParser`, and built into a `Dataset` (values at or over the bulk
/// threshold kept as references) or only checked. What it holds is bounded by the parser's
/// state, the bulk threshold and `keptLength`, never by the size of the data set.
struct DataSetStream: Sendable {
    struct Settings: Sendable {
        var options: DecodingOptions
        /// Build the data set (else only check it).
        var builds: Bool
        var bulkThreshold: Int
        /// The raw (and inflated) bytes are kept while the data set is at most this long.
        var keptLength: Int
        /// Where a longer data set's raw bytes go instead, when they are wanted later.
        var spool: DataSetSpool?
    }

    /// What the stream made of its data set.
    struct Result: Sendable {
        var transferSyntax: TransferSyntax?
        /// The transfer syntax was worked out from the data (the context's was not known).
        var inferred: TransferSyntax?
        var length: Int
        /// The raw bytes, when at most `keptLength`.
        var raw: ByteBuffer?
        /// The raw bytes of a longer one, with a spool.
        var spooled: SpooledBytes?
        /// The spool could not take it: neither kept nor spooled.
        var spoolError: SpoolError?
        var dataSet: Dataset?
        /// The plain (inflated) bytes to decode on access, when checked only and kept.
        var deferred: ByteBuffer?
        var error: DICOMDecodingError?
        var isDecodable: Bool { transferSyntax != nil && error == nil }
    }

    let settings: Settings
    private(set) var transferSyntax: TransferSyntax?
    private var inferred: TransferSyntax?
    /// The transfer syntax is not known: the first bytes are gathered to work it out.
    private var inferring: Bool
    private var inferenceBytes = ByteBuffer()
    private var inflater: StreamingInflater?
    private var parser: DatasetParser?
    private var builder: DatasetBuilder?
    private var checker = DatasetChecker()
    private var raw: ByteBuffer? = ByteBuffer()
    private var spooled: SpooledBytes?
    private var spoolError: SpoolError?
    private var plain: ByteBuffer? = ByteBuffer()
    private(set) var length = 0
    private(set) var error: DICOMDecodingError?

    /// Bytes gathered to infer a transfer syntax before decoding starts.
    static let inferenceWindow = 1 << 16

    init(transferSyntax: TransferSyntax?, settings: Settings) {
        self.settings = settings
        inferring = transferSyntax == nil
        if let transferSyntax { start(transferSyntax) }
    }

    private mutating func start(_ syntax: TransferSyntax) {
        transferSyntax = syntax
        if syntax.isDeflated { inflater = StreamingInflater(maxSize: settings.options.maxInflatedSize) }
        // Checked only or built, large values stream through the parser (never gathered).
        parser = DatasetParser(encoding: syntax.encoding, options: settings.options, bulkThreshold: settings.bulkThreshold)
        if settings.builds {
            builder = DatasetBuilder(encoding: syntax.encoding, options: settings.options, bulkThreshold: settings.bulkThreshold)
        }
    }

    /// The next fragment of the data set.
    mutating func append(_ fragment: ByteBuffer) {
        length += fragment.readableBytes
        spool(fragment)
        keep(fragment, in: &raw)
        if inferring {
            var piece = fragment
            inferenceBytes.writeBuffer(&piece)
            if inferenceBytes.readableBytes >= Self.inferenceWindow { endInference(complete: false) }
            return
        }
        feed(fragment)
    }

    /// The data set is complete.
    mutating func finish() -> Result {
        if inferring { endInference(complete: true) }
        if error == nil, var parser {
            parser.finish()
            parse(&parser)
            self.parser = parser
        }
        var result = Result(transferSyntax: transferSyntax, inferred: inferred, length: length, raw: raw, spooled: spooled,
                            spoolError: spoolError, error: error)
        guard error == nil, transferSyntax != nil else { return result }
        if let builder {
            result.dataSet = builder.dataset
        } else {
            // Decoded on access from what was kept: the inflated bytes of a deflated data set, else the raw ones.
            result.deferred = inflater != nil ? plain : raw
        }
        return result
    }

    private mutating func endInference(complete: Bool) {
        inferring = false
        let bytes = inferenceBytes
        inferenceBytes = ByteBuffer()
        guard let syntax = TransferSyntaxInference.infer(bytes, isComplete: complete, options: settings.options) else { return }
        inferred = syntax
        start(syntax)
        feed(bytes)
    }

    private mutating func feed(_ bytes: ByteBuffer) {
        guard error == nil, var parser else { return }
        self.parser = nil
        defer { self.parser = parser }
        if let inflater {
            do throws(DICOMDecodingError) {
                try inflater.inflate(bytes) { (piece: ByteBuffer) throws(DICOMDecodingError) in
                    keep(piece, in: &plain)
                    parser.append(piece)
                    parse(&parser)
                    if let error { throw error }
                }
            } catch {
                if self.error == nil { self.error = error }
            }
        } else {
            parser.append(bytes)
            parse(&parser)
        }
    }

    private mutating func parse(_ parser: inout DatasetParser) {
        do throws(DICOMDecodingError) {
            if builder != nil {
                try parser.parse(into: &builder!)
            } else {
                try parser.parse(into: &checker)
            }
        } catch {
            if self.error == nil { self.error = error }
        }
    }

    /// With a spool, once the data set is longer than `keptLength`: what was kept and everything after goes to the spool.
    private mutating func spool(_ fragment: ByteBuffer) {
        guard let spool = settings.spool, spoolError == nil else { return }
        do {
            if spooled == nil {
                guard length > settings.keptLength, let kept = raw else { return }
                var chunks: [(offset: Int, length: Int)] = []
                if kept.readableBytes > 0 { chunks.append(try spool.write(kept)) }
                spooled = SpooledBytes(spool: spool, chunks: chunks)
            }
            if fragment.readableBytes > 0 { spooled?.chunks.append(try spool.write(fragment)) }
        } catch {
            spoolError = error
            spooled = nil
        }
    }

    /// Appends to a kept copy while the data set is small enough; past `keptLength` it is dropped.
    private func keep(_ bytes: ByteBuffer, in kept: inout ByteBuffer?) {
        guard var buffer = kept else { return }
        kept = nil
        if buffer.readableBytes + bytes.readableBytes > settings.keptLength { return }
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var more = bytes
            buffer.writeBuffer(&more)
        }
        kept = buffer
    }
}

/// Guesses the dataset encoding of a data set seen without its negotiation (a capture that
/// starts mid-association): deflated if it inflates, else explicit VR when the first
/// element carries a valid VR code, else implicit; little endian unless the group number
/// reads sensibly only as big endian. From the first bytes of a long data set, a candidate
/// passes when the parser finds no error in them.
public enum TransferSyntaxInference {
    public static func infer(_ bytes: ByteBuffer) -> TransferSyntax? {
        infer(bytes, isComplete: true, options: .lenient)
    }

    static func infer(_ bytes: ByteBuffer, isComplete: Bool, options: DecodingOptions) -> TransferSyntax? {
        guard bytes.readableBytes >= 8 else { return bytes.readableBytes == 0 ? .implicitVRLittleEndian : nil }
        let candidates: [TransferSyntax] = [.explicitVRLittleEndian, .implicitVRLittleEndian, .explicitVRBigEndian]
        // Explicit VR bytes decode as implicit only by accident; the order above prefers explicit.
        for ts in candidates where parses(bytes, encoding: ts.encoding, isComplete: isComplete) {
            return ts
        }
        let inflater = StreamingInflater(maxSize: 64 << 20)
        var inflated = ByteBuffer()
        do throws(DICOMDecodingError) {
            try inflater.inflate(bytes) { (piece: ByteBuffer) throws(DICOMDecodingError) in
                var more = piece
                inflated.writeBuffer(&more)
            }
        } catch {
            return nil
        }
        guard inflated.readableBytes > 0,
              parses(inflated, encoding: .explicitLittleEndian, isComplete: isComplete && inflater.isEnded) else { return nil }
        return .deflatedExplicitVRLittleEndian
    }

    private static func parses(_ bytes: ByteBuffer, encoding: DatasetEncoding, isComplete: Bool) -> Bool {
        var parser = DatasetParser(encoding: encoding, options: .lenient)
        var checker = DatasetChecker()
        parser.append(bytes)
        if isComplete { parser.finish() }
        do throws(DICOMDecodingError) {
            try parser.parse(into: &checker)
            return !parser.hasFoundError
        } catch {
            return false
        }
    }
}
