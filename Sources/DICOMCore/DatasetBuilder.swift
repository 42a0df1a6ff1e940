import NIOCore

/// A value that was not kept: its place in the data set and its size (an element parsed with a
/// bulk threshold: pixel data, or any value at or over the threshold). Dumps show it by length;
/// it cannot be encoded again (the bytes went on, or were only checked, as they arrived).
public struct BulkValue: Sendable, Hashable {
    /// Bytes of the value: its value length, or for encapsulated pixel data the sum of the fragments' lengths.
    public var length: Int
    /// Offset of the value in the data set (after the element's header).
    public var offset: Int
    /// For encapsulated pixel data: the number of fragment items (the Basic Offset Table counts as one).
    public var fragmentCount: Int?
    /// The first bytes of the value (a builder with a `prefixLength` keeps them, for dumps that shorten values).
    public var prefix: ByteBuffer?
    /// For encapsulated pixel data kept with prefixes: each fragment's length and first bytes.
    public var fragments: [(length: Int, prefix: ByteBuffer)]?

    public init(length: Int, offset: Int, fragmentCount: Int? = nil, prefix: ByteBuffer? = nil,
                fragments: [(length: Int, prefix: ByteBuffer)]? = nil) {
        self.length = length
        self.offset = offset
        self.fragmentCount = fragmentCount
        self.prefix = prefix
        self.fragments = fragments
    }

    public static func == (a: BulkValue, b: BulkValue) -> Bool {
        a.length == b.length && a.offset == b.offset && a.fragmentCount == b.fragmentCount
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        hasher.combine(offset)
        hasher.combine(fragmentCount)
    }
}

/// Builds a `Dataset` from what `DatasetParser` reports. Values the parser streams (at or over
/// its bulk threshold) become `.bulk` references, their bytes not kept; so does encapsulated
/// pixel data whose fragments reach `bulkThreshold` together. What it holds is the data set
/// without its bulk values.
public struct DatasetBuilder: DatasetVisitor, Sendable {
    let options: DecodingOptions
    /// Encapsulated pixel data whose fragments add up to this many bytes is kept as a reference.
    let bulkThreshold: Int
    let encoding: DatasetEncoding
    /// Bytes kept of each value not kept (`BulkValue.prefix`), for a dump that shows them shortened.
    let prefixLength: Int

    /// The elements of the data set level being read, and its encoding.
    private var current: [DataElement] = []
    private var currentEncoding: DatasetEncoding
    /// Data set levels suspended while the items of one of their sequences are read.
    private var parents: [(elements: [DataElement], encoding: DatasetEncoding)] = []
    private var sequences: [OpenSequence] = []
    private var fragments: OpenFragments?
    private var itemDepth: Int

    struct OpenSequence: Sendable {
        var head: ElementHead
        var recordedVR: VR
        var items: [SequenceItem] = []
    }

    struct OpenFragments: Sendable {
        var head: ElementHead
        var values: [ByteBuffer] = []
        var total = 0
        var count = 0
        var isBulk = false
        /// With a prefix length: each fragment's length and first bytes.
        var details: [(length: Int, prefix: ByteBuffer)] = []
    }

    /// The value being streamed whose first bytes are kept: its element's position, or its fragment's.
    private var prefixTarget: PrefixTarget?
    enum PrefixTarget: Sendable {
        case element(Int)
        case fragment
    }

    /// `expectedBytes`: the size of the data set when known (room for its elements is reserved from it).
    public init(encoding: DatasetEncoding, options: DecodingOptions = .strict, bulkThreshold: Int = .max,
                expectedBytes: Int? = nil, depth: Int = 0, prefixLength: Int = 0) {
        self.encoding = encoding
        self.prefixLength = prefixLength
        self.options = options
        self.bulkThreshold = bulkThreshold
        currentEncoding = encoding
        itemDepth = depth
        // Room for the elements the bytes can hold, up to 16 (an element takes at least 8 bytes):
        // bounded by the bytes present, never by a length field.
        current.reserveCapacity(max(0, min((expectedBytes ?? 128) / 8, 16)))
    }

    /// The data set built so far (the whole data set once the parser finished).
    public var dataset: Dataset {
        var elements = current
        if !encoding.isExplicitVR { resolveAmbiguousVRs(&elements, bigEndian: encoding.isBigEndian) }
        return Dataset(elements: elements, encoding: encoding)
    }

    /// The values the rest of the data set is read with are always kept: Specific Character Set
    /// and Pixel Representation (which resolves "US or SS" in implicit VR).
    /// So is a sequence sent as UN of defined length (CP-246), up to `unknownSequenceLimit`, to be read as one.
    public func wantsWhole(_ head: ElementHead) -> Bool {
        if head.tag == .specificCharacterSet || head.tag == Tag.pixelRepresentation { return true }
        return head.vr == .UN && head.encoding.isExplicitVR && !head.tag.isPrivate && (head.length ?? 0) <= Self.unknownSequenceLimit
            && DataDictionary.vr(for: head.tag) == .SQ
    }

    /// The largest UN value read as a sequence when it is one (a longer one stays a reference).
    public static let unknownSequenceLimit = 16 << 20

    public mutating func element(_ head: ElementHead, value: ByteBuffer) {
        let be = head.encoding.isBigEndian
        if head.vr == .UN, head.encoding.isExplicitVR, !head.tag.isPrivate, DataDictionary.vr(for: head.tag) == .SQ,
           itemDepth < options.maxNestingDepth, let sequence = unknownSequence(head, value: value) {
            // A sequence sent as UN of defined length (CP-246): its items are implicit VR little
            // endian (PS3.5 §6.2.2). Read as a sequence when it parses as one, else kept as bytes.
            current.append(sequence)
            return
        }
        current.append(DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: be,
                                   reservedBytes: head.reservedBytes))
    }

    private func unknownSequence(_ head: ElementHead, value: ByteBuffer) -> DataElement? {
        var parser = DatasetParser(itemsOf: head.tag, encoding: .implicitLittleEndian, options: options, depth: itemDepth)
        var builder = DatasetBuilder(encoding: .implicitLittleEndian, options: options, depth: itemDepth)
        builder.parents = [([], currentEncoding)]
        builder.sequences = [OpenSequence(head: head, recordedVR: head.vr)]
        parser.append(value)
        parser.finish()
        guard (try? parser.parse(into: &builder)) != nil, builder.sequences.isEmpty, builder.current.count == 1 else { return nil }
        return builder.current[0]
    }

    public mutating func bulkStart(_ head: ElementHead) {
        current.append(DataElement(tag: head.tag, vr: head.vr,
                                   value: .bulk(BulkValue(length: head.length ?? 0, offset: head.valueOffset,
                                                          prefix: prefixLength > 0 ? ByteBuffer() : nil)),
                                   isBigEndian: head.encoding.isBigEndian, reservedBytes: head.reservedBytes))
        if prefixLength > 0 { prefixTarget = .element(current.count - 1) }
    }

    public mutating func bulkBytes(_ bytes: ByteBuffer) {
        guard let target = prefixTarget else { return }
        switch target {
        case .element(let i):
            guard case .bulk(var bulk) = current[i].value, var prefix = bulk.prefix else { return }
            var more = bytes.getSlice(at: bytes.readerIndex, length: min(bytes.readableBytes, prefixLength - prefix.readableBytes))
                ?? ByteBuffer()
            prefix.writeBuffer(&more)
            bulk.prefix = prefix
            current[i].value = .bulk(bulk)
            if prefix.readableBytes >= prefixLength { prefixTarget = nil }
        case .fragment:
            guard var open = fragments, var last = open.details.popLast() else { return }
            fragments = nil
            var more = bytes.getSlice(at: bytes.readerIndex, length: min(bytes.readableBytes, prefixLength - last.prefix.readableBytes))
                ?? ByteBuffer()
            last.prefix.writeBuffer(&more)
            open.details.append(last)
            fragments = open
            if last.prefix.readableBytes >= prefixLength { prefixTarget = nil }
        }
    }

    public mutating func bulkEnd() {
        prefixTarget = nil
    }

    public mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding) {
        parents.append((current, currentEncoding))
        current = []
        sequences.append(OpenSequence(head: head, recordedVR: recordedVR))
    }

    public mutating func itemStart(_ item: ItemHead) {
        current = []
        current.reserveCapacity(max(0, min((item.length ?? 128) / 8, 16)))
        currentEncoding = item.encoding
        itemDepth += 1
    }

    public mutating func itemEnd(delimiterLength: UInt32?) {
        var elements = current
        current = []
        if !currentEncoding.isExplicitVR { resolveAmbiguousVRs(&elements, bigEndian: currentEncoding.isBigEndian) }
        let item = SequenceItem(dataset: Dataset(elements: elements, encoding: currentEncoding),
                                hasUndefinedLength: delimiterLength != nil, delimiterLength: delimiterLength ?? 0)
        itemDepth -= 1
        guard !sequences.isEmpty else { return }
        sequences[sequences.count - 1].items.append(item)
    }

    public mutating func sequenceEnd(delimiterLength: UInt32?) {
        guard let sequence = sequences.popLast(), let parent = parents.popLast() else { return }
        current = parent.elements
        currentEncoding = parent.encoding
        let head = sequence.head
        current.append(DataElement(tag: head.tag, vr: sequence.recordedVR, value: .sequence(sequence.items),
                                   isBigEndian: head.encoding.isBigEndian, hasUndefinedLength: delimiterLength != nil,
                                   reservedBytes: head.reservedBytes, delimiterLength: delimiterLength ?? 0))
    }

    public mutating func fragmentsStart(_ head: ElementHead) {
        fragments = OpenFragments(head: head)
    }

    public mutating func fragment(_ item: ItemHead, value: ByteBuffer) {
        guard var open = fragments else { return }
        fragments = nil
        open.count += 1
        open.total += value.readableBytes
        if prefixLength > 0 {
            open.details.append((value.readableBytes,
                                 value.getSlice(at: value.readerIndex, length: min(value.readableBytes, prefixLength)) ?? ByteBuffer()))
        }
        if open.total >= bulkThreshold {
            open.isBulk = true
            open.values = []
        } else if !open.isBulk {
            open.values.append(value)
        }
        fragments = open
    }

    public mutating func fragmentBulkStart(_ item: ItemHead) {
        guard var open = fragments else { return }
        fragments = nil
        open.count += 1
        open.total += item.length ?? 0
        open.isBulk = true
        open.values = []
        if prefixLength > 0 {
            open.details.append((item.length ?? 0, ByteBuffer()))
            prefixTarget = .fragment
        }
        fragments = open
    }

    public mutating func fragmentsEnd(delimiterLength: UInt32) {
        guard let open = fragments else { return }
        fragments = nil
        let head = open.head
        let value: DataElement.Value = open.isBulk
            ? .bulk(BulkValue(length: open.total, offset: head.valueOffset, fragmentCount: open.count,
                              fragments: prefixLength > 0 ? open.details : nil))
            : .fragments(open.values)
        current.append(DataElement(tag: head.tag, vr: head.vr, value: value, isBigEndian: head.encoding.isBigEndian,
                                   hasUndefinedLength: true, reservedBytes: head.reservedBytes, delimiterLength: delimiterLength))
    }
}
