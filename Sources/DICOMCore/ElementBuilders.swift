import NIOCore

/// Building elements and datasets from values (for our SCU/SCP, the store and the rewriter).
/// The inverse of the typed views in `ElementValues.swift`; every builder pads to even length with the VR's
/// padding byte (PS3.5 §6.2, §7.1.1) and writes little endian unless asked for big endian.
extension DataElement {
    /// A string element: `values` joined with `\`, encoded under `characterSet` (only for the VRs it applies to),
    /// padded to even length. Returns nil when a character cannot be represented in that character set.
    public init?(tag: Tag, vr: VR, strings values: [String], characterSet: SpecificCharacterSet = .default,
                 isBigEndian: Bool = false) {
        guard vr.isString else { return nil }
        let set: SpecificCharacterSet = vr.usesSpecificCharacterSet ? characterSet : .default
        guard var bytes = set.encode(values, vr: vr.code) else { return nil }
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        self.init(tag: tag, vr: vr, value: .bytes(ByteBuffer(bytes: bytes)), isBigEndian: isBigEndian)
    }

    /// A single-valued string element; see ``init(tag:vr:strings:characterSet:isBigEndian:)``.
    public init?(tag: Tag, vr: VR, string: String, characterSet: SpecificCharacterSet = .default,
                 isBigEndian: Bool = false) {
        self.init(tag: tag, vr: vr, strings: string.isEmpty ? [] : [string], characterSet: characterSet,
                  isBigEndian: isBigEndian)
    }

    /// An element with no value (zero length), e.g. a C-FIND return key.
    public static func empty(_ tag: Tag, vr: VR, isBigEndian: Bool = false) -> DataElement {
        DataElement(tag: tag, vr: vr, value: vr == .SQ ? .sequence([]) : .bytes(ByteBuffer()), isBigEndian: isBigEndian)
    }

    /// A sequence of defined-length items.
    public static func sequence(_ tag: Tag, items: [Dataset], isBigEndian: Bool = false) -> DataElement {
        DataElement(tag: tag, vr: .SQ, value: .sequence(items.map { SequenceItem(dataset: $0) }),
                    isBigEndian: isBigEndian)
    }

    /// A binary integer element (US, SS, UL, SL, AT-free integer VRs) from values, in the element's byte order.
    public static func integers<T: FixedWidthInteger>(_ tag: Tag, vr: VR, _ values: [T],
                                                      isBigEndian: Bool = false) -> DataElement {
        var buffer = ByteBuffer()
        for v in values { buffer.writeInteger(v, endianness: isBigEndian ? .big : .little) }
        return DataElement(tag: tag, vr: vr, value: .bytes(buffer), isBigEndian: isBigEndian)
    }
}

extension Dataset {
    /// Inserts `element` in ascending tag order, replacing an element with the same tag.
    public mutating func set(_ element: DataElement) {
        if let i = index(of: element.tag) {
            replaceElement(at: i, with: element)
            return
        }
        var elements = self.elements
        let position = elements.firstIndex { $0.tag > element.tag } ?? elements.endIndex
        elements.insert(element, at: position)
        self = Dataset(elements: elements, encoding: encoding)
    }

    /// Removes the element with `tag`, if present; returns it.
    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        guard let i = index(of: tag) else { return nil }
        var elements = self.elements
        let removed = elements.remove(at: i)
        self = Dataset(elements: elements, encoding: encoding)
        return removed
    }
}
