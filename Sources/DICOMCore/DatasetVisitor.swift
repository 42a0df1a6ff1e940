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
