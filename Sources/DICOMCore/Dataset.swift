import NIOCore

/// An ordered collection of data elements (PS3.5 §7). Elements keep the order they had on
/// the wire, so that an unmodified dataset re-encodes byte for byte; new elements are
/// inserted in ascending tag order.
public struct Dataset: Sendable, Hashable, RandomAccessCollection {
    public private(set) var elements: [DataElement]
    /// The encoding the dataset was read in (or is meant to be written in).
    public var encoding: DatasetEncoding

    public init(elements: [DataElement] = [], encoding: DatasetEncoding = .explicitLittleEndian) {
        self.elements = elements
        self.encoding = encoding
    }

    public var startIndex: Int { elements.startIndex }
    public var endIndex: Int { elements.endIndex }
    public subscript(position: Int) -> DataElement { elements[position] }

    /// Index of the element with `tag`. Datasets are normally in ascending order; a binary
    /// search is tried first, then a linear scan for out-of-order input.
    public func index(of tag: Tag) -> Int? {
        var lo = 0, hi = elements.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let t = elements[mid].tag
            if t == tag { return mid }
            if t < tag { lo = mid + 1 } else { hi = mid }
        }
        return elements.firstIndex { $0.tag == tag }
    }

    public subscript(tag: Tag) -> DataElement? {
        get { index(of: tag).map { elements[$0] } }
        set {
            if let i = index(of: tag) {
                if let newValue { elements[i] = newValue } else { elements.remove(at: i) }
            } else if let newValue {
                let at = elements.firstIndex { $0.tag > tag } ?? elements.endIndex
                elements.insert(newValue, at: at)
            }
        }
    }

    public mutating func append(_ element: DataElement) { elements.append(element) }

    /// Replaces the element at `index` (its tag may not change the ordering guarantees).
    public mutating func replaceElement(at index: Int, with element: DataElement) { elements[index] = element }

    /// The value of (0008,0005) Specific Character Set in this dataset, if present.
    public var specificCharacterSetTerms: [String]? {
        guard let e = self[.specificCharacterSet], let b = e.bytes else { return nil }
        return splitASCIIValues(b, trimming: true)
    }

    /// The character set that applies in this dataset: its own (0008,0005), else `inherited`.
    public func characterSet(inheriting inherited: SpecificCharacterSet) -> SpecificCharacterSet {
        guard let terms = specificCharacterSetTerms else { return inherited }
        return SpecificCharacterSet(terms: terms)
    }
}

/// Splits a default-repertoire value on backslashes, trimming leading and trailing spaces and NULs.
func splitASCIIValues(_ buffer: ByteBuffer, trimming: Bool) -> [String] {
    buffer.readableBytesView.split(separator: 0x5C, omittingEmptySubsequences: false).map { part in
        var s = String(decoding: part, as: UTF8.self)
        if trimming { s = s.trimmingCharacters(in: " \0") }
        return s
    }
}
