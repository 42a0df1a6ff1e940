/// A data element tag: (group, element). PS3.5 §7.1.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `0xggggeeee`.
    public let rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(group: UInt16, element: UInt16) {
        self.rawValue = UInt32(group) << 16 | UInt32(element)
    }

    @inlinable public var group: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    @inlinable public var element: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    @inlinable public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `(0010,0020)`
    public var description: String { "(\(hex4(group)),\(hex4(element)))" }
    /// `00100020`, the key used by the DICOM JSON model (PS3.18 §F.2.1.1).
    public var jsonKey: String { hex4(group) + hex4(element) }

    /// Odd groups other than 0001, 0003, 0005, 0007 and FFFF hold private elements (PS3.5 §7.8).
    public var isPrivate: Bool { group & 1 == 1 && group > 0x0008 && group != 0xFFFF }
    /// (gggg,0010)–(gggg,00FF) in a private group reserve a block (PS3.5 §7.8.1).
    public var isPrivateCreator: Bool { isPrivate && element >= 0x0010 && element <= 0x00FF }
    /// The private creator element that reserves this private element's block.
    public var privateCreatorTag: Tag? {
        guard isPrivate, element > 0x00FF else { return nil }
        return Tag(group: group, element: element >> 8)
    }
    /// (gggg,0000): a group length element.
    public var isGroupLength: Bool { element == 0 }

    /// Parses `(0010,0020)`, `0010,0020`, `00100020` or a dictionary keyword such as `PatientID`.
    public init?(parsing text: String) {
        var s = text.trimmingCharacters(in: " ()")
        s.removeAll { $0 == "," }
        if s.count == 8, let v = UInt32(s, radix: 16) {
            self.init(rawValue: v)
        } else if let entry = DataDictionary.entry(keyword: text) {
            self = entry.tag
        } else {
            return nil
        }
    }
}

extension Tag {
    /// (FFFE,E000) Item.
    public static let item = Tag(0xFFFE_E000)
    /// (FFFE,E00D) Item Delimitation Item.
    public static let itemDelimitation = Tag(0xFFFE_E00D)
    /// (FFFE,E0DD) Sequence Delimitation Item.
    public static let sequenceDelimitation = Tag(0xFFFE_E0DD)
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        if let trimmed = asciiTrimmed(set, leading: true) { return trimmed }
        let chars = Set(set)
        var sub = Substring(self)
        while let f = sub.first, chars.contains(f) { sub.removeFirst() }
        while let l = sub.last, chars.contains(l) { sub.removeLast() }
        return String(sub)
    }

    /// Fast path of the trimming functions: when the string is ASCII and `set` is ASCII without
    /// CR or LF, every Character that can be trimmed is one byte (the only multi-byte ASCII
    /// Character, CR LF, is never in `set`), so trimming bytes gives the same result without
    /// grapheme breaking. Nil when the fast path does not apply (the caller's loop runs).
    func asciiTrimmed(_ set: String, leading: Bool) -> String? {
        var low: UInt64 = 0, high: UInt64 = 0  // bytes 0–63 and 64–127 of `set`
        for b in set.utf8 {
            guard b < 0x80, b != 0x0D, b != 0x0A else { return nil }
            if b < 64 { low |= 1 << UInt64(b) } else { high |= 1 << UInt64(b - 64) }
        }
        func trimmed(_ b: UInt8) -> Bool { b < 64 ? low & (1 << UInt64(b)) != 0 : high & (1 << UInt64(b & 63)) != 0 }
        let utf8 = self.utf8
        for b in utf8 where b >= 0x80 { return nil }
        var start = utf8.startIndex
        var end = utf8.endIndex
        if leading {
            while start < end, trimmed(utf8[start]) { start = utf8.index(after: start) }
        }
        while start < end {
            let last = utf8.index(before: end)
            guard trimmed(utf8[last]) else { break }
            end = last
        }
        if start == utf8.startIndex && end == utf8.endIndex { return self }
        return String(self[start..<end])
    }
}
