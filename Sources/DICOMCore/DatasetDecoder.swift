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

/// Decodes a dataset from a byte buffer in a given encoding (PS3.5 §7). Every length is
/// checked against the bytes actually present and against the enclosing item before
/// anything is sliced; values are kept as slices of the input (no copies).
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
        try read(buffer, keepsElements: true) { reader throws(DICOMDecodingError) in
            try reader.dataset(from: buffer.readerIndex, end: buffer.writerIndex, encoding: encoding,
                               depth: 0, undefinedItem: false).0
        }
    }

    /// Checks that all readable bytes of `buffer` decode as one dataset, throwing exactly the
    /// error `decode` would throw, without building the elements: the same reader walks the
    /// bytes but keeps nothing (no element arrays, no value slices). For callers that must
    /// know whether a data set is decodable but may never look at it (`analyze --summary`).
    public func validate(_ buffer: ByteBuffer, encoding: DatasetEncoding) throws(DICOMDecodingError) {
        try read(buffer, keepsElements: false) { reader throws(DICOMDecodingError) in
            _ = try reader.dataset(from: buffer.readerIndex, end: buffer.writerIndex, encoding: encoding,
                                   depth: 0, undefinedItem: false)
        }
    }

    /// Runs `body` with a reader over `buffer` whose integer reads go through the buffer's
    /// bytes directly (valid for the duration of the call).
    private func read<T>(_ buffer: ByteBuffer, keepsElements: Bool,
                         _ body: (inout Reader) throws(DICOMDecodingError) -> T) throws(DICOMDecodingError) -> T {
        let result: Result<T, DICOMDecodingError> = buffer.withUnsafeReadableBytes { bytes in
            var reader = Reader(buffer: buffer, bytes: bytes, options: options, base: baseOffset - buffer.readerIndex,
                                keepsElements: keepsElements)
            do throws(DICOMDecodingError) {
                return .success(try body(&reader))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
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
                throw DICOMDecodingError(.invalidVR, offset: 4, tag: tag, "bytes \(hexByte(b0)) \(hexByte(b1)) are not a VR")
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

private struct Reader {
    let buffer: ByteBuffer
    /// The readable bytes of `buffer` (index `buffer.readerIndex` is `bytes[0]`), for integer reads.
    let bytes: UnsafeRawBufferPointer
    let options: DecodingOptions
    /// Added to buffer indices to give input offsets.
    let base: Int
    /// False for `validate`: elements, items and fragments are checked but not collected.
    let keepsElements: Bool

    init(buffer: ByteBuffer, bytes: UnsafeRawBufferPointer, options: DecodingOptions, base: Int, keepsElements: Bool) {
        self.buffer = buffer
        self.bytes = bytes
        self.options = options
        self.base = base
        self.keepsElements = keepsElements
    }

    func error(_ code: DICOMDecodingError.Code, _ index: Int, _ tag: Tag?, _ detail: String,
               file: String = #fileID, line: Int = #line) -> DICOMDecodingError {
        DICOMDecodingError(code, offset: index + base, tag: tag, detail, file: file, line: line)
    }

    /// The integer at buffer index `i`, 0 when it is not within the readable bytes (as
    /// `getInteger(at:) ?? 0`; every caller checks the length first).
    @inline(__always)
    func u16(_ i: Int, _ bigEndian: Bool) -> UInt16 {
        let offset = i - buffer.readerIndex
        guard offset >= 0, offset <= bytes.count - 2 else { return 0 }
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return bigEndian ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)
    }
    @inline(__always)
    func u32(_ i: Int, _ bigEndian: Bool) -> UInt32 {
        let offset = i - buffer.readerIndex
        guard offset >= 0, offset <= bytes.count - 4 else { return 0 }
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
    }
    @inline(__always)
    func tag(_ i: Int, _ bigEndian: Bool) -> Tag {
        Tag(group: u16(i, bigEndian), element: u16(i + 2, bigEndian))
    }

    /// Reads elements from `start` up to `end` (defined length or top level), or up to and
    /// including an Item Delimitation Item (`undefinedItem`). Returns the dataset, the index
    /// after it, and the item delimiter's length field.
    mutating func dataset(from start: Int, end: Int, encoding: DatasetEncoding, depth: Int,
                          undefinedItem: Bool) throws(DICOMDecodingError) -> (Dataset, Int) {
        let (ds, next, _) = try datasetWithDelimiter(from: start, end: end, encoding: encoding, depth: depth,
                                                     undefinedItem: undefinedItem)
        return (ds, next)
    }

    mutating func datasetWithDelimiter(from start: Int, end: Int, encoding: DatasetEncoding, depth: Int,
                                       undefinedItem: Bool) throws(DICOMDecodingError) -> (Dataset, Int, UInt32) {
        let be = encoding.isBigEndian
        var elements: [DataElement] = []
        // Room for the elements the bytes can hold, up to 16 (an element takes at least 8
        // bytes): a command set or a small item is built without regrowing the array. Bounded
        // by the bytes present, never by a length field.
        if keepsElements { elements.reserveCapacity(max(0, min((end - start) / 8, 16))) }
        var pos = start
        while pos < end {
            guard end - pos >= 8 else {
                throw error(.truncated, pos, nil, "\(end - pos) bytes left, an element header needs at least 8")
            }
            let tag = self.tag(pos, be)
            switch tag {
            case .itemDelimitation:
                guard undefinedItem else {
                    throw error(.unexpectedDelimiter, pos, tag, "Item Delimitation Item outside an item of undefined length")
                }
                if !encoding.isExplicitVR { resolveAmbiguousVRs(&elements, bigEndian: be) }
                return (Dataset(elements: elements, encoding: encoding), pos + 8, u32(pos + 4, be))
            case .sequenceDelimitation:
                throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item without an open sequence of undefined length")
            case .item:
                throw error(.unexpectedDelimiter, pos, tag, "Item tag outside a sequence")
            default:
                break
            }
            let element: DataElement?
            (element, pos) = try self.element(at: pos, tag: tag, end: end, encoding: encoding, depth: depth)
            if keepsElements, let element { elements.append(element) }
        }
        if !encoding.isExplicitVR { resolveAmbiguousVRs(&elements, bigEndian: be) }
        if undefinedItem {
            throw error(.truncated, pos, nil, "item of undefined length has no Item Delimitation Item before the end of its container")
        }
        return (Dataset(elements: elements, encoding: encoding), pos, 0)
    }

    /// Decodes the element whose header starts at `pos`; returns it (nil when `keepsElements`
    /// is off: the element is checked, nothing is built) and the index after it.
    mutating func element(at pos: Int, tag: Tag, end: Int, encoding: DatasetEncoding,
                          depth: Int) throws(DICOMDecodingError) -> (DataElement?, Int) {
        let be = encoding.isBigEndian
        let vr: VR
        let length: UInt32
        let headerLength: Int
        var reserved: UInt16 = 0
        if encoding.isExplicitVR {
            let vrCode = u16(pos + 4, true)  // the two VR letters, first in the high byte
            let b0 = UInt8(truncatingIfNeeded: vrCode >> 8)
            let b1 = UInt8(truncatingIfNeeded: vrCode)
            guard let v = VR(byte0: b0, byte1: b1) else {
                throw error(.invalidVR, pos + 4, tag, "bytes \(hexByte(b0)) \(hexByte(b1)) are not a VR")
            }
            vr = v
            if v.hasLongExplicitLength {
                guard end - pos >= 12 else {
                    throw error(.truncated, pos, tag, "\(end - pos) bytes left, a \(v) header needs 12")
                }
                reserved = u16(pos + 6, be)
                length = u32(pos + 8, be)
                headerLength = 12
            } else {
                length = UInt32(u16(pos + 6, be))
                headerLength = 8
            }
        } else {
            length = u32(pos + 4, be)
            headerLength = 8
            vr = implicitVR(for: tag)
        }
        let valueStart = pos + headerLength

        if length == undefinedLength {
            return try undefinedLengthElement(tag: tag, vr: vr, headerStart: pos, valueStart: valueStart, end: end,
                                              encoding: encoding, depth: depth, reserved: reserved)
        }
        let len = Int(length)
        guard len <= end - valueStart else {
            let what = end == buffer.writerIndex ? "the end of the input" : "the end of the enclosing item"
            throw error(.lengthOverrun, pos, tag, "value length \(len) runs past \(what) (\(end - valueStart) bytes left)")
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "value length \(len) is odd (\(vr))")
        }
        let valueEnd = valueStart + len
        if vr == .SQ {
            let items = try sequenceItems(from: valueStart, end: valueEnd, undefined: false, encoding: encoding,
                                          depth: depth, tag: tag).items
            guard keepsElements else { return (nil, valueEnd) }
            return (DataElement(tag: tag, vr: vr, value: .sequence(items), isBigEndian: be,
                                reservedBytes: reserved), valueEnd)
        }
        if vr == .UN, encoding.isExplicitVR, !tag.isPrivate, DataDictionary.vr(for: tag) == .SQ {
            // A sequence sent as UN of defined length (CP-246): its items are implicit VR little
            // endian (PS3.5 §6.2.2). Read it as a sequence when it parses as one, else keep the bytes.
            var probe = self
            if let items = try? probe.sequenceItems(from: valueStart, end: valueEnd, undefined: false,
                                                    encoding: .implicitLittleEndian, depth: depth, tag: tag).items {
                return (DataElement(tag: tag, vr: vr, value: .sequence(items), isBigEndian: be,
                                    reservedBytes: reserved), valueEnd)
            }
        }
        guard keepsElements else { return (nil, valueEnd) }
        let slice = buffer.getSlice(at: valueStart, length: len) ?? ByteBuffer()
        return (DataElement(tag: tag, vr: vr, value: .bytes(slice), isBigEndian: be, reservedBytes: reserved), valueEnd)
    }

    mutating func undefinedLengthElement(tag: Tag, vr: VR, headerStart: Int, valueStart: Int, end: Int,
                                         encoding: DatasetEncoding, depth: Int,
                                         reserved: UInt16) throws(DICOMDecodingError) -> (DataElement?, Int) {
        let be = encoding.isBigEndian
        var innerEncoding = encoding
        let isSequence: Bool
        switch vr {
        case .SQ:
            isSequence = true
        case .UN where encoding.isExplicitVR:
            // PS3.5 §6.2.2: UN of undefined length holds an implicit VR little endian sequence.
            innerEncoding = .implicitLittleEndian
            isSequence = true
        case .OB, .OW, .UN:
            isSequence = encoding.isExplicitVR ? false : tag != .pixelData
        default:
            // Implicit VR: an undefined length can only be a sequence (or pixel data).
            guard !encoding.isExplicitVR else {
                throw error(.undefinedLengthNotAllowed, headerStart, tag, "undefined length is not allowed for VR \(vr)")
            }
            isSequence = true
        }
        if isSequence {
            let (items, next, delimiter) = try sequenceItems(from: valueStart, end: end, undefined: true,
                                                             encoding: innerEncoding, depth: depth, tag: tag)
            let recordedVR: VR = encoding.isExplicitVR ? vr : .SQ
            return (DataElement(tag: tag, vr: recordedVR, value: .sequence(items), isBigEndian: be,
                                hasUndefinedLength: true, reservedBytes: reserved, delimiterLength: delimiter), next)
        }
        // Encapsulated pixel data: items of defined length, then a Sequence Delimitation Item.
        var fragments: [ByteBuffer] = []
        var pos = valueStart
        while true {
            guard end - pos >= 8 else {
                throw error(.truncated, pos, tag, "encapsulated value has no Sequence Delimitation Item before the end")
            }
            let itemTag = self.tag(pos, be)
            let itemLength = u32(pos + 4, be)
            if itemTag == .sequenceDelimitation {
                return (DataElement(tag: tag, vr: vr, value: .fragments(fragments), isBigEndian: be,
                                    hasUndefinedLength: true, reservedBytes: reserved, delimiterLength: itemLength),
                        pos + 8)
            }
            guard itemTag == .item else {
                throw error(.unexpectedDelimiter, pos, tag, "expected a fragment item (FFFE,E000), found \(itemTag)")
            }
            guard itemLength != undefinedLength else {
                throw error(.undefinedLengthNotAllowed, pos, tag, "a fragment item must have a defined length")
            }
            let len = Int(itemLength)
            guard len <= end - pos - 8 else {
                throw error(.lengthOverrun, pos, tag, "fragment length \(len) runs past the end (\(end - pos - 8) bytes left)")
            }
            if len & 1 == 1 && !options.allowOddLengths {
                throw error(.oddLength, pos, tag, "fragment length \(len) is odd")
            }
            if keepsElements { fragments.append(buffer.getSlice(at: pos + 8, length: len) ?? ByteBuffer()) }
            pos += 8 + len
        }
    }

    /// Reads the items of a sequence. Defined length: items fill [start, end) exactly.
    /// Undefined length: items until a Sequence Delimitation Item, within `end`.
    mutating func sequenceItems(from start: Int, end: Int, undefined: Bool, encoding: DatasetEncoding, depth: Int,
                                tag: Tag) throws(DICOMDecodingError) -> (items: [SequenceItem], next: Int, delimiter: UInt32) {
        guard depth < options.maxNestingDepth else {
            throw error(.nestingTooDeep, start, tag, "sequences nested deeper than \(options.maxNestingDepth) levels")
        }
        let be = encoding.isBigEndian
        var items: [SequenceItem] = []
        var pos = start
        while true {
            if !undefined && pos == end { return (items, pos, 0) }
            guard end - pos >= 8 else {
                let why = undefined ? "sequence of undefined length has no Sequence Delimitation Item before the end"
                    : "\(end - pos) bytes left in the sequence, an item header needs 8"
                throw error(.truncated, pos, tag, why)
            }
            let itemTag = self.tag(pos, be)
            let itemLength = u32(pos + 4, be)
            if itemTag == .sequenceDelimitation {
                guard undefined else {
                    throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item in a sequence of defined length")
                }
                return (items, pos + 8, itemLength)
            }
            guard itemTag == .item else {
                throw error(.unexpectedDelimiter, pos, tag, "expected an item (FFFE,E000) in the sequence, found \(itemTag)")
            }
            if itemLength == undefinedLength {
                let (ds, next, delimiter) = try datasetWithDelimiter(from: pos + 8, end: end, encoding: encoding,
                                                                     depth: depth + 1, undefinedItem: true)
                if keepsElements { items.append(SequenceItem(dataset: ds, hasUndefinedLength: true, delimiterLength: delimiter)) }
                pos = next
            } else {
                let len = Int(itemLength)
                guard len <= end - pos - 8 else {
                    throw error(.lengthOverrun, pos, tag, "item length \(len) runs past the end of the sequence (\(end - pos - 8) bytes left)")
                }
                if len & 1 == 1 && !options.allowOddLengths {
                    throw error(.oddLength, pos, tag, "item length \(len) is odd")
                }
                let (ds, next) = try dataset(from: pos + 8, end: pos + 8 + len, encoding: encoding, depth: depth + 1,
                                             undefinedItem: false)
                if keepsElements { items.append(SequenceItem(dataset: ds)) }
                pos = next
            }
        }
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
    guard let pr = elements.first(where: { $0.tag == Tag(0x0028_0103) })?.integers?.first, pr == 1 else { return }
    for i in elements.indices where elements[i].vr == .US && isAmbiguousUSorSS(elements[i].tag.rawValue) {
        elements[i].vr = .SS
    }
}

func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "0x" + String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
}
