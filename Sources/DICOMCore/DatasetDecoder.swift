import NIOCore

/// Bounds and policies for decoding untrusted input.
public struct DecodingOptions: Sendable, Hashable {
    /// Deepest sequence nesting accepted (each item level counts one).
    public var maxNestingDepth: Int = 64
    /// Accept odd value and item lengths (PS3.5 §7.1.1 forbids them) instead of failing.
    public var allowOddLengths: Bool = false
    /// Largest inflated size accepted for a deflated dataset.
    public var maxInflatedSize: Int = 1 << 30

    public init(maxNestingDepth: Int = 64, allowOddLengths: Bool = false, maxInflatedSize: Int = 1 << 30) {
        self.maxNestingDepth = maxNestingDepth
        self.allowOddLengths = allowOddLengths
        self.maxInflatedSize = maxInflatedSize
    }

    public static let strict = DecodingOptions()
    public static let lenient = DecodingOptions(allowOddLengths: true)
}

let undefinedLength: UInt32 = 0xFFFF_FFFF

/// Decodes a dataset from a byte buffer in a given encoding (PS3.5 §7): `DatasetParser`, the
/// one parser, with a visitor that builds the `Dataset`. Every length is checked against the
/// bytes actually present and against the enclosing item before anything is sliced; values are
/// kept as slices of the input (no copies).
public struct DatasetDecoder: Sendable {
    public var options: DecodingOptions
    /// Added to every offset in errors (e.g. the position of the dataset in a file).
    public var baseOffset: Int

    public init(options: DecodingOptions = .strict, baseOffset: Int = 0) {
        self.options = options
        self.baseOffset = baseOffset
    }

    /// Decodes all readable bytes of `buffer` as one dataset.
    public func decode(_ buffer: ByteBuffer, encoding: DatasetEncoding) throws(DICOMDecodingError) -> Dataset {
        var builder = DatasetBuilder(encoding: encoding, options: options, expectedBytes: buffer.readableBytes)
        try DatasetParser.parse(buffer, encoding: encoding, options: options, baseOffset: baseOffset, into: &builder)
        return builder.dataset
    }

    /// Checks that all readable bytes of `buffer` decode as one dataset, throwing exactly the
    /// error `decode` would throw, without building the elements: the same parser walks the
    /// bytes but keeps nothing. For callers that must know whether a data set is decodable but
    /// may never look at it (`analyze --summary`).
    public func validate(_ buffer: ByteBuffer, encoding: DatasetEncoding) throws(DICOMDecodingError) {
        var checker = DatasetChecker()
        try DatasetParser.parse(buffer, encoding: encoding, options: options, baseOffset: baseOffset, into: &checker)
    }
}

/// The header of one data element (PS3.5 §7.1.2, §7.1.3), as read by
/// `DatasetDecoder.elementHeader(in:encoding:)`.
public struct DataElementHeader: Sendable, Hashable {
    public var tag: Tag
    /// The VR on the wire (explicit VR), or the dictionary's (implicit VR).
    public var vr: VR
    /// Bytes of the header: 8, or 12 for an explicit VR long header.
    public var headerLength: Int
    /// The value length; nil for undefined length (0xFFFFFFFF).
    public var valueLength: Int?
}

extension DatasetDecoder {
    /// Reads the header of the element at the start of `buffer`'s readable bytes, with the
    /// same rules as `decode` (for a caller that streams a data set element by element, e.g.
    /// the rewriting proxy passing large values through as they arrive). Returns nil when
    /// fewer bytes than the header are readable; throws for a byte pair that is not a VR.
    public static func elementHeader(in buffer: ByteBuffer, encoding: DatasetEncoding) throws(DICOMDecodingError) -> DataElementHeader? {
        let start = buffer.readerIndex
        let endianness: Endianness = encoding.isBigEndian ? .big : .little
        guard buffer.readableBytes >= 8, let group = buffer.getInteger(at: start, endianness: endianness, as: UInt16.self),
              let elementNumber = buffer.getInteger(at: start + 2, endianness: endianness, as: UInt16.self) else { return nil }
        let tag = Tag(group: group, element: elementNumber)
        let vr: VR
        let headerLength: Int
        let length: UInt32
        if encoding.isExplicitVR && tag.group != 0xFFFE {
            let b0 = buffer.getInteger(at: start + 4, as: UInt8.self) ?? 0
            let b1 = buffer.getInteger(at: start + 5, as: UInt8.self) ?? 0
            guard let v = VR(byte0: b0, byte1: b1) else {
                throw DICOMDecodingError(.invalidVR, offset: 4, tag: tag, "bytes 0x\(hex2(b0)) 0x\(hex2(b1)) are not a VR")
            }
            vr = v
            if v.hasLongExplicitLength {
                guard buffer.readableBytes >= 12,
                      let l = buffer.getInteger(at: start + 8, endianness: endianness, as: UInt32.self) else { return nil }
                length = l
                headerLength = 12
            } else {
                length = UInt32(buffer.getInteger(at: start + 6, endianness: endianness, as: UInt16.self) ?? 0)
                headerLength = 8
            }
        } else {
            length = buffer.getInteger(at: start + 4, endianness: endianness, as: UInt32.self) ?? 0
            vr = tag.group == 0xFFFE ? .UN : implicitVR(for: tag)
            headerLength = 8
        }
        return DataElementHeader(tag: tag, vr: vr, headerLength: headerLength,
                                 valueLength: length == undefinedLength ? nil : Int(length))
    }
}

/// The VR of an element read in implicit VR: the dictionary's first VR; private creators are LO,
/// group lengths UL, anything else unknown is UN (PS3.5 §6.2.2).
func implicitVR(for tag: Tag) -> VR {
    if tag.isGroupLength { return .UL }
    if tag.isPrivate {
        return tag.isPrivateCreator ? .LO : .UN
    }
    guard let vr = DataDictionary.vr(for: tag) else { return .UN }
    switch vr {
    case .OB:
        // "OB or OW" (Pixel Data, Overlay Data, ...) is OW in implicit VR (PS3.5 §A.1).
        return DataDictionary.entry(for: tag)?.vrs.contains(.OW) == true ? .OW : .OB
    case .US where isAmbiguousUSorSS(tag.rawValue):
        // "US or SS" follows Pixel Representation; see `resolveAmbiguousVRs`.
        return .US
    default:
        return vr
    }
}

/// Exact dictionary tags whose VR is "US or SS" (or "US or SS or OW"), in ascending order.
let ambiguousUSorSS: [UInt32] =
    DataDictionary.entries.filter { $0.vrs.contains(.US) && $0.vrs.contains(.SS) && $0.repeatingGroupMask == nil }
        .map(\.tag.rawValue).sorted()

/// Whether `raw` is in `ambiguousUSorSS`: a binary search, not a hash (asked for every US
/// element read in implicit VR, e.g. most elements of every command set).
func isAmbiguousUSorSS(_ raw: UInt32) -> Bool {
    var lo = 0, hi = ambiguousUSorSS.count
    while lo < hi {
        let mid = (lo + hi) / 2
        let t = ambiguousUSorSS[mid]
        if t == raw { return true }
        if t < raw { lo = mid + 1 } else { hi = mid }
    }
    return false
}

/// In implicit VR, elements whose VR is "US or SS" are SS when the dataset's Pixel
/// Representation (0028,0103) is 1 (signed), as pydicom and DCMTK resolve them.
func resolveAmbiguousVRs(_ elements: inout [DataElement], bigEndian: Bool) {
    guard let pr = elements.first(where: { $0.tag == Tag.pixelRepresentation })?.integers?.first, pr == 1 else { return }
    for i in elements.indices where elements[i].vr == .US && isAmbiguousUSorSS(elements[i].tag.rawValue) {
        elements[i].vr = .SS
    }
}
