import NIOCore

/// One data element (PS3.5 §7.1): tag, VR and value, plus what is needed to re-encode
/// it byte for byte (undefined length, reserved bytes, delimiter lengths).
public struct DataElement: Sendable, Hashable {
    public var tag: Tag
    /// For explicit VR input, the VR on the wire; for implicit VR input, the dictionary's.
    public var vr: VR
    public var value: Value
    /// Byte order of the value bytes (they are kept as they were on the wire).
    public var isBigEndian: Bool
    /// Length (0xFFFFFFFF) on the wire: sequences, encapsulated pixel data, UN-as-SQ.
    public var hasUndefinedLength: Bool
    /// The two reserved bytes of an explicit VR long header (normally 0), kept for byte-exactness.
    public var reservedBytes: UInt16
    /// The length field of the Sequence Delimitation Item (normally 0), kept for byte-exactness.
    public var delimiterLength: UInt32

    /// The value of an element.
    public enum Value: Sendable, Hashable {
        /// The value bytes exactly as on the wire, padding included.
        case bytes(ByteBuffer)
        /// A sequence's items (SQ, and UN of undefined length read as an implicit VR LE sequence, PS3.5 §6.2.2).
        case sequence([SequenceItem])
        /// Encapsulated pixel data (PS3.5 §A.4): the Basic Offset Table item, then one item per fragment.
        case fragments([ByteBuffer])
        /// A value not kept (at or over a parser's bulk threshold): its length and place only.
        case bulk(BulkValue)
    }

    public init(tag: Tag, vr: VR, value: Value, isBigEndian: Bool = false, hasUndefinedLength: Bool = false,
                reservedBytes: UInt16 = 0, delimiterLength: UInt32 = 0) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.isBigEndian = isBigEndian
        self.hasUndefinedLength = hasUndefinedLength
        self.reservedBytes = reservedBytes
        self.delimiterLength = delimiterLength
    }

    /// The raw value bytes, for a non-sequence, non-encapsulated element.
    public var bytes: ByteBuffer? {
        if case .bytes(let b) = value { return b }
        return nil
    }
    public var items: [SequenceItem]? {
        if case .sequence(let items) = value { return items }
        return nil
    }
    /// Length of the value on the wire for byte values (kept or not); nil for sequences and fragments.
    public var valueLength: Int? {
        switch value {
        case .bytes(let b): return b.readableBytes
        case .bulk(let b): return b.fragmentCount == nil ? b.length : nil
        case .sequence, .fragments: return nil
        }
    }

    /// The value's reference when it was not kept.
    public var bulk: BulkValue? {
        if case .bulk(let b) = value { return b }
        return nil
    }

    /// The dictionary keyword, or nil for private and unknown tags.
    public var keyword: String? { DataDictionary.keyword(for: tag) }
}

/// One item of a sequence (PS3.5 §7.5).
public struct SequenceItem: Sendable, Hashable {
    public var dataset: Dataset
    public var hasUndefinedLength: Bool
    /// The length field of the Item Delimitation Item (normally 0), kept for byte-exactness.
    public var delimiterLength: UInt32

    public init(dataset: Dataset, hasUndefinedLength: Bool = false, delimiterLength: UInt32 = 0) {
        self.dataset = dataset
        self.hasUndefinedLength = hasUndefinedLength
        self.delimiterLength = delimiterLength
    }
}
