import NIOCore

/// The header of one data element as `DatasetParser` read it (PS3.5 §7.1.2, §7.1.3).
public struct ElementHead: Sendable, Hashable {
    public var tag: Tag
    /// The VR on the wire (explicit VR), or the dictionary's (implicit VR).
    public var vr: VR
    /// Bytes of the header: 8, or 12 for an explicit VR long header.
    public var headerLength: Int
    /// The value length; nil for undefined length (0xFFFFFFFF).
    public var length: Int?
    /// The two reserved bytes of an explicit VR long header.
    public var reservedBytes: UInt16
    /// Offset of the header in the data set (from its first byte).
    public var offset: Int
    /// The encoding the element was read in.
    public var encoding: DatasetEncoding

    public var valueOffset: Int { offset + headerLength }
}

/// The header of a sequence item or an encapsulated fragment (PS3.5 §7.5, §A.4).
public struct ItemHead: Sendable, Hashable {
    /// Offset of the item tag in the data set.
    public var offset: Int
    /// The item length; nil for undefined length.
    public var length: Int?
    /// The encoding of the item's data set (of the fragment's container for a fragment).
    public var encoding: DatasetEncoding
}

/// What a `DatasetParser` reports, in the order of the bytes. A visitor that builds nothing
/// (the default implementations) only lets the parser check the data set.
public protocol DatasetVisitor {
    /// Asked for a value at or over the parser's bulk threshold: true to receive it whole in
    /// `element`, false (the default) to receive it in pieces (`bulkStart`, `bulkBytes`, `bulkEnd`).
    func wantsWhole(_ head: ElementHead) -> Bool
    /// A complete element whose value is in hand: not a sequence, not encapsulated.
    mutating func element(_ head: ElementHead, value: ByteBuffer)
    /// A value at or over the bulk threshold begins; its bytes follow in `bulkBytes`, then `bulkEnd`.
    mutating func bulkStart(_ head: ElementHead)
    /// The next piece of the value (of an element or of a fragment) being streamed.
    mutating func bulkBytes(_ bytes: ByteBuffer)
    mutating func bulkEnd()
    /// A sequence begins (SQ, or UN of undefined length read as one). `recordedVR` is the VR an
    /// element keeps for it (SQ when read in implicit VR); its items are in `itemEncoding`.
    mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding)
    mutating func itemStart(_ item: ItemHead)
    /// The item ends: at its length, or at an Item Delimitation Item whose length field is given.
    mutating func itemEnd(delimiterLength: UInt32?)
    /// The sequence ends: at its length, or at a Sequence Delimitation Item whose length field is given.
    mutating func sequenceEnd(delimiterLength: UInt32?)
    /// Encapsulated pixel data begins (PS3.5 §A.4): fragments follow, then `fragmentsEnd`.
    mutating func fragmentsStart(_ head: ElementHead)
    /// A fragment under the bulk threshold, whole.
    mutating func fragment(_ item: ItemHead, value: ByteBuffer)
    /// A fragment at or over the bulk threshold begins; its bytes follow in `bulkBytes`, then `bulkEnd`.
    mutating func fragmentBulkStart(_ item: ItemHead)
    mutating func fragmentsEnd(delimiterLength: UInt32)
    /// A visitor that gives up sets this: the parser returns before the next token.
    var isStopped: Bool { get }
}

extension DatasetVisitor {
    public func wantsWhole(_ head: ElementHead) -> Bool { false }
    public mutating func element(_ head: ElementHead, value: ByteBuffer) {}
    public mutating func bulkStart(_ head: ElementHead) {}
    public mutating func bulkBytes(_ bytes: ByteBuffer) {}
    public mutating func bulkEnd() {}
    public mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding) {}
    public mutating func itemStart(_ item: ItemHead) {}
    public mutating func itemEnd(delimiterLength: UInt32?) {}
    public mutating func sequenceEnd(delimiterLength: UInt32?) {}
    public mutating func fragmentsStart(_ head: ElementHead) {}
    public mutating func fragment(_ item: ItemHead, value: ByteBuffer) {}
    public mutating func fragmentBulkStart(_ item: ItemHead) {}
    public mutating func fragmentsEnd(delimiterLength: UInt32) {}
    public var isStopped: Bool { false }
}

/// A visitor that keeps nothing: parsing with it only checks the data set.
public struct DatasetChecker: DatasetVisitor, Sendable {
    public init() {}
}

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

    private var frames: [Frame]
    /// Items open (the nesting depth of the data set being read).
    private var itemDepth: Int
    /// Bytes received and not yet consumed; its reader index is at `position`.
    private var input = ByteBuffer()
    private var position = 0
    /// The data set's length, once known.
    private var totalLength: Int?
    /// Bytes of the value being streamed still to come, and what it is (for an error at the end).
    private var bulkRemaining = 0
    private var bulkElement: (head: ElementHead?, item: ItemHead?, tag: Tag?)?
    private var done = false
    /// An error found before the end of the data set was known. Reported at the end, unless a
    /// container around it turns out to run past the end (which the whole buffer reports first):
    /// so the error does not depend on how the bytes were cut into pieces.
    private var deferredError: DICOMDecodingError?
    /// The lengths to check against the end when it is known, outermost first, taken when the error was deferred.
    private var deferredOverruns: [Overrun] = []
    /// The element, item or fragment being read whose length could not be checked against the end yet.
    private var pendingOverrun: Overrun?
    /// Bytes appended in all.
    private var appended = 0
    /// An overrun of an item's end found before the end of the data set was known: if the item
    /// ends where the data set ends, the whole buffer words it as running past the end of the input.
    private var overrunOfItemEnd: (bound: Int, asEndOfInput: DICOMDecodingError)?

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

    private mutating func run<V: DatasetVisitor>(_ c: inout Cursor, into v: inout V) throws(DICOMDecodingError) {
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
    private mutating func streamBulk<V: DatasetVisitor>(_ c: inout Cursor, into v: inout V) throws(DICOMDecodingError) -> Bool {
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

    private mutating func push(_ container: Container, encoding: DatasetEncoding, end: Int?, overrun: Overrun? = nil) {
        let parentBound = frames.last?.bound
        let bound = end ?? parentBound
        // Checked against the end of the data set later only when nothing known bounded it now.
        frames.append(Frame(container: container, encoding: encoding, bound: bound,
                            overrun: parentBound == nil ? overrun : nil))
    }

    /// One element (or the end) of a data set level. False when more bytes are needed or the data set is done.
    private mutating func dataSetStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, end: Int?, undefinedItem: Bool,
                                                         into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        let isTop = frames.count == 1
        if let end, pos == end, !isTop {
            frames.removeLast()
            itemDepth -= 1
            v.itemEnd(delimiterLength: nil)
            return true
        }
        let bound = frame.bound
        if let bound {
            let left = bound - pos
            if left == 0 {
                if isTop && !undefinedItem {
                    done = true
                    return false
                }
                throw error(.truncated, pos, nil, "item of undefined length has no Item Delimitation Item before the end of its container")
            }
            if left < 8 {
                throw error(.truncated, pos, nil, "\(left) bytes left, an element header needs at least 8")
            }
        }
        guard c.available - pos >= 8 else { return false }
        let e = frame.encoding
        let be = e.isBigEndian
        let tag = c.tag(pos, be)
        switch tag {
        case .itemDelimitation:
            guard undefinedItem else {
                throw error(.unexpectedDelimiter, pos, tag, "Item Delimitation Item outside an item of undefined length")
            }
            let delimiter = c.u32(pos + 4, be)
            c.pos = pos + 8
            frames.removeLast()
            itemDepth -= 1
            v.itemEnd(delimiterLength: delimiter)
            return true
        case .sequenceDelimitation:
            throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item without an open sequence of undefined length")
        case .item:
            throw error(.unexpectedDelimiter, pos, tag, "Item tag outside a sequence")
        default:
            break
        }
        let vr: VR
        let length: UInt32
        let headerLength: Int
        var reserved: UInt16 = 0
        if e.isExplicitVR {
            let b0 = c.byte(pos + 4), b1 = c.byte(pos + 5)
            guard let decoded = VR(byte0: b0, byte1: b1) else {
                throw error(.invalidVR, pos + 4, tag, "bytes 0x\(hex2(b0)) 0x\(hex2(b1)) are not a VR")
            }
            vr = decoded
            if decoded.hasLongExplicitLength {
                if let bound, bound - pos < 12 {
                    throw error(.truncated, pos, tag, "\(bound - pos) bytes left, a \(decoded) header needs 12")
                }
                guard c.available - pos >= 12 else { return false }
                reserved = c.u16(pos + 6, be)
                length = c.u32(pos + 8, be)
                headerLength = 12
            } else {
                length = UInt32(c.u16(pos + 6, be))
                headerLength = 8
            }
        } else {
            length = c.u32(pos + 4, be)
            headerLength = 8
            vr = implicitVR(for: tag)
        }
        let valueStart = pos + headerLength
        var head = ElementHead(tag: tag, vr: vr, headerLength: headerLength, length: nil, reservedBytes: reserved,
                               offset: pos, encoding: e)
        if length == undefinedLength {
            var inner = e
            let isSequence: Bool
            switch vr {
            case .SQ:
                isSequence = true
            case .UN where e.isExplicitVR:
                // PS3.5 §6.2.2: UN of undefined length holds an implicit VR little endian sequence.
                inner = .implicitLittleEndian
                isSequence = true
            case .OB, .OW, .UN:
                isSequence = e.isExplicitVR ? false : tag != .pixelData
            default:
                // Implicit VR: an undefined length can only be a sequence (or pixel data).
                guard !e.isExplicitVR else {
                    throw error(.undefinedLengthNotAllowed, pos, tag, "undefined length is not allowed for VR \(vr)")
                }
                isSequence = true
            }
            c.pos = valueStart
            if isSequence {
                try checkDepth(valueStart, tag)
                push(.sequence(tag: tag, end: nil), encoding: inner, end: nil)
                v.sequenceStart(head, recordedVR: e.isExplicitVR ? vr : .SQ, itemEncoding: inner)
            } else {
                push(.fragments(tag: tag), encoding: e, end: nil)
                v.fragmentsStart(head)
            }
            return true
        }
        let len = Int(length)
        head.length = len
        pendingOverrun = bound == nil ? Overrun(kind: .element, end: valueStart + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound, len > bound - valueStart {
            let detail = { (what: String) in "value length \(len) runs past \(what) (\(bound - valueStart) bytes left)" }
            if bound == totalLength { throw error(.lengthOverrun, pos, tag, detail("the end of the input")) }
            if totalLength == nil {
                overrunOfItemEnd = (bound, error(.lengthOverrun, pos, tag, detail("the end of the input")))
            }
            throw error(.lengthOverrun, pos, tag, detail("the end of the enclosing item"))
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "value length \(len) is odd (\(vr))")
        }
        if vr == .SQ {
            try checkDepth(valueStart, tag)
            c.pos = valueStart
            push(.sequence(tag: tag, end: valueStart + len), encoding: e, end: valueStart + len, overrun: pendingOverrun)
            v.sequenceStart(head, recordedVR: vr, itemEncoding: e)
            return true
        }
        if len >= bulkThreshold && !v.wantsWhole(head) {
            c.pos = valueStart
            bulkRemaining = len
            bulkElement = (head, nil, tag)
            v.bulkStart(head)
            if len == 0 { v.bulkEnd() }
            return true
        }
        guard c.available - valueStart >= len else { return false }
        c.pos = valueStart + len
        v.element(head, value: c.slice(valueStart, len))
        return true
    }

    private func checkDepth(_ at: Int, _ tag: Tag) throws(DICOMDecodingError) {
        guard itemDepth < options.maxNestingDepth else {
            throw error(.nestingTooDeep, at, tag, "sequences nested deeper than \(options.maxNestingDepth) levels")
        }
    }

    /// One item (or the end) of a sequence.
    private mutating func sequenceStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, tag: Tag, end: Int?,
                                                          into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        if let end, pos == end {
            frames.removeLast()
            v.sequenceEnd(delimiterLength: nil)
            if frames.isEmpty { done = true }
            return !frames.isEmpty
        }
        if let bound = frame.bound, bound - pos < 8 {
            let why = end == nil ? "sequence of undefined length has no Sequence Delimitation Item before the end"
                : "\(bound - pos) bytes left in the sequence, an item header needs 8"
            throw error(.truncated, pos, tag, why)
        }
        guard c.available - pos >= 8 else { return false }
        let be = frame.encoding.isBigEndian
        let itemTag = c.tag(pos, be)
        let itemLength = c.u32(pos + 4, be)
        if itemTag == .sequenceDelimitation {
            guard end == nil else {
                throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item in a sequence of defined length")
            }
            c.pos = pos + 8
            frames.removeLast()
            v.sequenceEnd(delimiterLength: itemLength)
            return true
        }
        guard itemTag == .item else {
            throw error(.unexpectedDelimiter, pos, tag, "expected an item (FFFE,E000) in the sequence, found \(itemTag)")
        }
        c.pos = pos + 8
        if itemLength == undefinedLength {
            push(.dataSet(end: nil, undefinedItem: true), encoding: frame.encoding, end: nil)
            itemDepth += 1
            v.itemStart(ItemHead(offset: pos, length: nil, encoding: frame.encoding))
            return true
        }
        let len = Int(itemLength)
        pendingOverrun = frame.bound == nil ? Overrun(kind: .item, end: pos + 8 + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound = frame.bound, len > bound - pos - 8 {
            throw error(.lengthOverrun, pos, tag, "item length \(len) runs past the end of the sequence (\(bound - pos - 8) bytes left)")
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "item length \(len) is odd")
        }
        push(.dataSet(end: pos + 8 + len, undefinedItem: false), encoding: frame.encoding, end: pos + 8 + len,
             overrun: pendingOverrun)
        itemDepth += 1
        v.itemStart(ItemHead(offset: pos, length: len, encoding: frame.encoding))
        return true
    }

    /// One fragment (or the end) of encapsulated pixel data.
    private mutating func fragmentsStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, tag: Tag,
                                                           into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        if let bound = frame.bound, bound - pos < 8 {
            throw error(.truncated, pos, tag, "encapsulated value has no Sequence Delimitation Item before the end")
        }
        guard c.available - pos >= 8 else { return false }
        let be = frame.encoding.isBigEndian
        let itemTag = c.tag(pos, be)
        let itemLength = c.u32(pos + 4, be)
        if itemTag == .sequenceDelimitation {
            c.pos = pos + 8
            frames.removeLast()
            v.fragmentsEnd(delimiterLength: itemLength)
            return true
        }
        guard itemTag == .item else {
            throw error(.unexpectedDelimiter, pos, tag, "expected a fragment item (FFFE,E000), found \(itemTag)")
        }
        guard itemLength != undefinedLength else {
            throw error(.undefinedLengthNotAllowed, pos, tag, "a fragment item must have a defined length")
        }
        let len = Int(itemLength)
        pendingOverrun = frame.bound == nil ? Overrun(kind: .fragment, end: pos + 8 + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound = frame.bound, len > bound - pos - 8 {
            throw error(.lengthOverrun, pos, tag, "fragment length \(len) runs past the end (\(bound - pos - 8) bytes left)")
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "fragment length \(len) is odd")
        }
        let item = ItemHead(offset: pos, length: len, encoding: frame.encoding)
        if len >= bulkThreshold {
            c.pos = pos + 8
            bulkRemaining = len
            bulkElement = (nil, item, tag)
            v.fragmentBulkStart(item)
            if len == 0 { v.bulkEnd() }
            return true
        }
        guard c.available - pos - 8 >= len else { return false }
        c.pos = pos + 8 + len
        v.fragment(item, value: c.slice(pos + 8, len))
        return true
    }
}
