import NIOCore

/// The one data set parser (PS3.5 §7): fed the bytes of a data set in pieces, in order, it
/// reports elements, sequences, items and fragments to a `DatasetVisitor` as soon as they are
/// complete. A value at or over `bulkThreshold` (pixel data, any large value) is reported in
/// the pieces it arrives in, never gathered, so what the parser holds is bounded by the
/// threshold and the nesting depth, whatever the size of the data set. Every length is checked
/// against the enclosing item or sequence and, once the end of the data set is known
/// (`finish()`), against it; nothing is allocated from a length field. `DatasetDecoder` is this
/// parser given the whole buffer with a visitor that builds a `Dataset`.
public struct DatasetParser: Sendable {
    public let encoding: DatasetEncoding
    public var options: DecodingOptions
    /// Values at least this long are streamed (`bulkStart`/`bulkBytes`/`bulkEnd`) unless the visitor wants them whole.
    public var bulkThreshold: Int
    /// Added to every offset in errors (e.g. the position of the data set in a file).
    public var baseOffset: Int

    enum Container: Sendable {
        /// The data set of an item (or the top level, the first entry); `end` when its length is defined.
        case dataSet(end: Int?, undefinedItem: Bool)
        /// Items of a sequence, until `end` (defined length) or a Sequence Delimitation Item.
        case sequence(tag: Tag, end: Int?)
        /// Fragment items of encapsulated pixel data, until a Sequence Delimitation Item.
        case fragments(tag: Tag)
    }

    struct Frame: Sendable {
        var container: Container
        var encoding: DatasetEncoding
        /// The nearest known end that bounds this container: its own, or its parent's.
        var bound: Int?
        /// For a container of defined length opened before the end of the data set was known:
        /// the error its header gives if the data set ends before the container does.
        var overrun: Overrun?
    }

    /// A defined length checked against the end of the data set only once that end is known.
    struct Overrun: Sendable {
        enum Kind: Sendable { case element, item, fragment }
        var kind: Kind
        /// Where the element, item or fragment ends.
        var end: Int
        var headerOffset: Int
        var tag: Tag
        var length: Int

        /// The error the whole buffer gives for it when the data set is `total` bytes long.
        func error(total: Int, parser: DatasetParser) -> DICOMDecodingError {
            switch kind {
            case .element:
                return parser.error(.lengthOverrun, headerOffset, tag,
                                    "value length \(length) runs past the end of the input (\(total - (end - length)) bytes left)")
            case .item:
                return parser.error(.lengthOverrun, headerOffset, tag,
                                    "item length \(length) runs past the end of the sequence (\(total - headerOffset - 8) bytes left)")
            case .fragment:
                return parser.error(.lengthOverrun, headerOffset, tag,
                                    "fragment length \(length) runs past the end (\(total - headerOffset - 8) bytes left)")
            }
        }
    }

    var frames: [Frame]
    /// Items open (the nesting depth of the data set being read).
    var itemDepth: Int
    /// Bytes received and not yet consumed; its reader index is at `position`.
    var input = ByteBuffer()
    var position = 0
    /// The data set's length, once known.
    var totalLength: Int?
    /// Bytes of the value being streamed still to come, and what it is (for an error at the end).
    var bulkRemaining = 0
    var bulkElement: (head: ElementHead?, item: ItemHead?, tag: Tag?)?
    var done = false
    /// An error found before the end of the data set was known. Reported at the end, unless a
    /// container around it turns out to run past the end (which the whole buffer reports first):
    /// so the error does not depend on how the bytes were cut into pieces.
    var deferredError: DICOMDecodingError?
    /// The lengths to check against the end when it is known, outermost first, taken when the error was deferred.
    var deferredOverruns: [Overrun] = []
    /// The element, item or fragment being read whose length could not be checked against the end yet.
    var pendingOverrun: Overrun?
    /// Bytes appended in all.
    var appended = 0
    /// An overrun of an item's end found before the end of the data set was known: if the item
    /// ends where the data set ends, the whole buffer words it as running past the end of the input.
    var overrunOfItemEnd: (bound: Int, asEndOfInput: DICOMDecodingError)?

    /// A parser for a data set in `encoding`; `depth` items already enclose it.
    public init(encoding: DatasetEncoding, options: DecodingOptions = .strict, bulkThreshold: Int = .max,
                baseOffset: Int = 0, depth: Int = 0) {
        self.encoding = encoding
        self.options = options
        self.bulkThreshold = bulkThreshold
        self.baseOffset = baseOffset
        itemDepth = depth
        frames = [Frame(container: .dataSet(end: nil, undefinedItem: false), encoding: encoding, bound: nil)]
    }

    /// A parser for the items of a sequence value of defined length (e.g. a UN value that may be
    /// a sequence, PS3.5 §6.2.2): `sequenceStart` is not reported, `sequenceEnd` is.
    public init(itemsOf tag: Tag, encoding: DatasetEncoding, options: DecodingOptions, depth: Int) {
        self.init(encoding: encoding, options: options, depth: depth)
        frames = [Frame(container: .sequence(tag: tag, end: nil), encoding: encoding, bound: nil)]
    }

    /// Bytes consumed so far (the offset, in the data set, of the next byte to parse).
    public var offset: Int { position }
    /// Bytes appended and not yet consumed (a partial element header or value under the threshold).
    public var bufferedBytes: Int { input.readableBytes }
    /// Whether the whole data set was parsed (after `finish()`).
    public var isComplete: Bool { done }
    /// Whether an error was found in the bytes so far (reported by `parse` once `finish()` is called).
    public var hasFoundError: Bool { deferredError != nil }

    /// The next bytes of the data set.
    public mutating func append(_ bytes: ByteBuffer) {
        appended += bytes.readableBytes
        guard deferredError == nil else { return }
        if input.readableBytes == 0 {
            input = bytes
        } else {
            var more = bytes
            input.writeBuffer(&more)
        }
    }

    /// Everything appended so far is the whole data set: its end is known from now on.
    public mutating func finish() {
        guard totalLength == nil else { return }
        let end = appended
        totalLength = end
        // The top level had no known end; neither had what inherited its bound.
        for i in frames.indices where frames[i].bound == nil {
            frames[i].bound = end
            if i == 0, case .sequence(let tag, nil) = frames[0].container {
                frames[0].container = .sequence(tag: tag, end: end)
            }
        }
    }

    /// Parses a whole data set in one call.
    public static func parse<V: DatasetVisitor>(_ buffer: ByteBuffer, encoding: DatasetEncoding, options: DecodingOptions,
                                                bulkThreshold: Int = .max, baseOffset: Int = 0,
                                                into visitor: inout V) throws(DICOMDecodingError) {
        var parser = DatasetParser(encoding: encoding, options: options, bulkThreshold: bulkThreshold, baseOffset: baseOffset)
        parser.append(buffer)
        parser.finish()
        try parser.parse(into: &visitor)
    }

    /// Reports everything complete in the bytes appended so far. After `finish()`, parses to the
    /// end and checks that every sequence and item was closed.
    public mutating func parse<V: DatasetVisitor>(into visitor: inout V) throws(DICOMDecodingError) {
        guard !done else { return }
        if let total = totalLength {
            // Lengths read before the end was known, outermost first, then the deferred error.
            let overruns = deferredError != nil ? deferredOverruns : frames.compactMap(\.overrun)
            for overrun in overruns where overrun.end > total { throw overrun.error(total: total, parser: self) }
            if let deferredError {
                if let alternative = overrunOfItemEnd, alternative.bound == total { throw alternative.asEndOfInput }
                throw deferredError
            }
        } else if deferredError != nil {
            // Nothing more is parsed after an error; the bytes are dropped until the end.
            input = ByteBuffer()
            return
        }
        // A second reference to the bytes (no copy): the parser mutates itself while reading them.
        let buffer = input
        let start = position
        let result: Result<Int, DICOMDecodingError> = buffer.withUnsafeReadableBytes { bytes in
            var cursor = Cursor(buffer: buffer, bytes: bytes, base: start)
            do throws(DICOMDecodingError) {
                try run(&cursor, into: &visitor)
                return .success(cursor.pos - start)
            } catch {
                return .failure(error)
            }
        }
        let n: Int
        switch result {
        case .success(let consumed):
            n = consumed
        case .failure(let error):
            guard totalLength == nil else { throw error }
            deferredError = error
            deferredOverruns = frames.compactMap(\.overrun) + (pendingOverrun.map { [$0] } ?? [])
            input = ByteBuffer()
            return
        }
        input.moveReaderIndex(forwardBy: n)
        position += n
        if input.readableBytes == 0 {
            input = ByteBuffer()
        } else if input.readerIndex > 1 << 16 {
            input.discardReadBytes()
        }
    }

    /// The bytes in hand: integer reads by offset in the data set.
    struct Cursor {
        /// The bytes in hand, for slices of values.
        let buffer: ByteBuffer
        /// The same bytes, for integer reads.
        let bytes: UnsafeRawBufferPointer
        /// Data set offset of `bytes[0]`.
        let base: Int
        /// Data set offset of the next byte to parse.
        var pos: Int

        init(buffer: ByteBuffer, bytes: UnsafeRawBufferPointer, base: Int) {
            self.buffer = buffer
            self.bytes = bytes
            self.base = base
            pos = base
        }

        /// A slice of the bytes in hand, from data set offset `at`.
        func slice(_ at: Int, _ length: Int) -> ByteBuffer {
            buffer.getSlice(at: buffer.readerIndex + (at - base), length: length) ?? ByteBuffer()
        }

        /// Data set offset just past the bytes in hand.
        var available: Int { base + bytes.count }

        @inline(__always) func u16(_ at: Int, _ bigEndian: Bool) -> UInt16 {
            let raw = bytes.loadUnaligned(fromByteOffset: at - base, as: UInt16.self)
            return bigEndian ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)
        }
        @inline(__always) func u32(_ at: Int, _ bigEndian: Bool) -> UInt32 {
            let raw = bytes.loadUnaligned(fromByteOffset: at - base, as: UInt32.self)
            return bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
        }
        @inline(__always) func byte(_ at: Int) -> UInt8 { bytes[at - base] }
        @inline(__always) func tag(_ at: Int, _ bigEndian: Bool) -> Tag {
            Tag(group: u16(at, bigEndian), element: u16(at + 2, bigEndian))
        }
    }

    func error(_ code: DICOMDecodingError.Code, _ at: Int, _ tag: Tag?, _ detail: String,
               file: String = #fileID, line: Int = #line) -> DICOMDecodingError {
        DICOMDecodingError(code, offset: at + baseOffset, tag: tag, detail, file: file, line: line)
    }

    mutating func run<V: DatasetVisitor>(_ c: inout Cursor, into v: inout V) throws(DICOMDecodingError) {
        while !v.isStopped {
            if bulkRemaining > 0 {
                guard try streamBulk(&c, into: &v) else { return }
                continue
            }
            guard let frame = frames.last else { return }
            pendingOverrun = nil
            let proceed: Bool
            switch frame.container {
            case .dataSet(let end, let undefinedItem):
                proceed = try dataSetStep(&c, frame: frame, end: end, undefinedItem: undefinedItem, into: &v)
            case .sequence(let tag, let end):
                proceed = try sequenceStep(&c, frame: frame, tag: tag, end: end, into: &v)
            case .fragments(let tag):
                proceed = try fragmentsStep(&c, frame: frame, tag: tag, into: &v)
            }
            if !proceed { return }
        }
    }

    /// Passes on what is in hand of the value being streamed. False when more bytes are needed.
    mutating func streamBulk<V: DatasetVisitor>(_ c: inout Cursor, into v: inout V) throws(DICOMDecodingError) -> Bool {
        if let total = totalLength, c.pos + bulkRemaining > total, let what = bulkElement {
            // The end of the data set became known after the value began: it runs past it.
            if let head = what.head {
                throw error(.lengthOverrun, head.offset, head.tag,
                            "value length \(head.length ?? 0) runs past the end of the input (\(total - head.valueOffset) bytes left)")
            }
            if let item = what.item {
                throw error(.lengthOverrun, item.offset, what.tag,
                            "fragment length \(item.length ?? 0) runs past the end (\(total - item.offset - 8) bytes left)")
            }
        }
        let n = min(bulkRemaining, c.available - c.pos)
        guard n > 0 else { return false }
        v.bulkBytes(c.slice(c.pos, n))
        c.pos += n
        bulkRemaining -= n
        if bulkRemaining == 0 {
            bulkElement = nil
            v.bulkEnd()
        }
        return true
    }

    mutating func push(_ container: Container, encoding: DatasetEncoding, end: Int?, overrun: Overrun? = nil) {
        let parentBound = frames.last?.bound
        let bound = end ?? parentBound
        // Checked against the end of the data set later only when nothing known bounded it now.
        frames.append(Frame(container: container, encoding: encoding, bound: bound,
                            overrun: parentBound == nil ? overrun : nil))
    }
}
