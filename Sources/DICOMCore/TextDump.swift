import NIOCore

/// Renders datasets as text in the layout DCMTK's `dcmdump` users know: one line per
/// element with nesting shown by indentation, tag, VR, value, then `# length, VM keyword`.
/// Library API: `dump`, the analyzer and the proxy render identifiers through it.
public struct TextDumpRenderer: Sendable {
    public struct Options: Sendable {
        /// Longest value shown before it is shortened with "..." (dcmdump shortens too; `+L` shows all).
        public var maxValueLength: Int = 64
        /// Show every value in full.
        public var showAll: Bool = false
        /// Indentation added per nesting level.
        public var indent: String = "  "
        public init(maxValueLength: Int = 64, showAll: Bool = false) {
            self.maxValueLength = maxValueLength
            self.showAll = showAll
        }
    }

    public var options: Options
    public init(options: Options = Options()) { self.options = options }

    /// The dataset as dump lines, each prefixed with `prefix` (used by the annotated protocol dumps).
    public func render(_ dataset: Dataset, characterSet: SpecificCharacterSet = .default, prefix: String = "") -> String {
        var out = ""
        render(dataset, characterSet: characterSet, prefix: prefix) { out += $0 }
        return out
    }

    /// Renders `dataset`, handing the text to `sink` in pieces of about 1 MB, so a large dataset
    /// is dumped without holding all its text.
    public func render(_ dataset: Dataset, characterSet: SpecificCharacterSet = .default, prefix: String = "",
                       sink: (String) -> Void) {
        var out = ""
        render(dataset, characterSet: characterSet, depth: 0, prefix: prefix, encoding: dataset.encoding, into: &out, sink: sink)
        if !out.isEmpty { sink(out) }
    }

    static let flushSize = 1 << 20

    func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet, depth: Int, prefix: String,
                encoding: DatasetEncoding, into out: inout String, sink: (String) -> Void) {
        let charset = dataset.characterSet(inheriting: inherited)
        for element in dataset.elements {
            renderElement(element, in: dataset, characterSet: charset, depth: depth, prefix: prefix, encoding: encoding,
                          into: &out, sink: sink)
            if out.utf8.count >= Self.flushSize {
                sink(out)
                out = ""
            }
        }
    }

    /// Appends the lines of one element and everything nested in it.
    func renderElement(_ element: DataElement, in dataset: Dataset, characterSet charset: SpecificCharacterSet, depth: Int,
                       prefix: String, encoding: DatasetEncoding, into out: inout String, sink: (String) -> Void) {
        let pad = prefix + String(repeating: options.indent, count: depth)
        let keyword = name(of: element.tag, in: dataset)
        switch element.value {
        case .sequence(let items):
            // Items of an explicit VR UN sequence are implicit VR little endian (PS3.5 §6.2.2).
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            let how = element.hasUndefinedLength ? "undefined length" : "explicit length"
            let len = element.hasUndefinedLength ? "u/l" : String(Self.valueLength(element, encoding))
            append(&out, pad, element.tag, element.vr.code, "(Sequence with \(how) #=\(items.count))", len, "1", keyword)
            let ipad = pad + options.indent
            for item in items {
                let ihow = item.hasUndefinedLength ? "undefined length" : "explicit length"
                let ilen = item.hasUndefinedLength ? "u/l" : String(Self.length(item.dataset, inner))
                append(&out, ipad, .item, "na", "(Item with \(ihow) #=\(item.dataset.count))", ilen, "1", "Item")
                render(item.dataset, characterSet: charset, depth: depth + 2, prefix: prefix, encoding: inner,
                       into: &out, sink: sink)
                if item.hasUndefinedLength {
                    append(&out, ipad, .itemDelimitation, "na", "(ItemDelimitationItem)", "0", "0", "ItemDelimitationItem")
                }
            }
            if element.hasUndefinedLength {
                append(&out, pad, .sequenceDelimitation, "na", "(SequenceDelimitationItem)", "0", "0", "SequenceDelimitationItem")
            }
        case .fragments(let fragments):
            append(&out, pad, element.tag, element.vr.code, "(PixelSequence #=\(fragments.count))", "u/l", "1", keyword)
            for (i, fragment) in fragments.enumerated() {
                let what = i == 0 ? "Basic Offset Table" : "Fragment \(i)"
                append(&out, pad + options.indent, .item, element.vr.code,
                       shorten(hexBytes(Array(fragment.readableBytesView.prefix(options.maxValueLength)))) + "  (\(what))",
                       String(fragment.readableBytes), "1", "Item")
            }
            append(&out, pad, .sequenceDelimitation, "na", "(SequenceDelimitationItem)", "0", "0", "SequenceDelimitationItem")
        case .bytes(let b):
            // The string values are decoded once for the value and the VM.
            let decoded = element.strings(characterSet: charset)
            let vm: Int
            if b.readableBytes == 0 {
                vm = 0
            } else if element.vr.isString {
                if element.vr.isSingleValuedText {
                    vm = 1
                } else if case .values(let v)? = decoded {
                    vm = v.count
                } else {
                    vm = 1
                }
            } else {
                vm = element.valueMultiplicity(characterSet: charset)
            }
            append(&out, pad, element.tag, element.vr.code, valueText(element, decoded: decoded),
                   String(b.readableBytes), String(vm), keyword)
        }
    }

    /// Encoded length of a dataset in `encoding` (arithmetic only, nothing is encoded).
    static func length(_ dataset: Dataset, _ encoding: DatasetEncoding) -> Int {
        dataset.elements.reduce(0) { total, e in
            total + (encoding.isExplicitVR && e.vr.hasLongExplicitLength ? 12 : 8) + valueLength(e, encoding)
        }
    }

    /// Encoded length of an element's value (for sequences: items and delimiters).
    static func valueLength(_ element: DataElement, _ encoding: DatasetEncoding) -> Int {
        switch element.value {
        case .bytes(let b):
            return b.readableBytes
        case .fragments(let fragments):
            return fragments.reduce(8) { $0 + 8 + $1.readableBytes }
        case .sequence(let items):
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            return items.reduce(element.hasUndefinedLength ? 8 : 0) {
                $0 + 8 + length($1.dataset, inner) + ($1.hasUndefinedLength ? 8 : 0)
            }
        }
    }

    /// A single element's value as dcmdump shows it: `[text]` for strings, numbers bare,
    /// bytes in hex, `(no value available)` when empty.
    public func valueText(_ element: DataElement, charset: SpecificCharacterSet) -> String {
        guard let b = element.bytes else { return "" }
        if b.readableBytes == 0 { return "(no value available)" }
        return valueText(element, decoded: element.strings(characterSet: charset))
    }

    /// `valueText` with the string values already decoded (`element.strings(characterSet:)`).
    func valueText(_ element: DataElement, decoded: DecodedText?) -> String {
        guard let b = element.bytes else { return "" }
        if b.readableBytes == 0 { return "(no value available)" }
        if let decoded {
            switch decoded {
            case .values(let v):
                var text = "[" + shorten(v.joined(separator: "\\")) + "]"
                // Like dcmdump, name well-known UIDs (keeping the UID itself visible).
                if element.vr == .UI, v.count == 1, let entry = UIDRegistry.entry(for: v[0]), !entry.keyword.isEmpty {
                    text += " =" + entry.keyword
                }
                return text
            case .undecodable(let reason, let raw): return "(undecodable: \(reason)) " + shorten(hexBytes(raw))
            }
        }
        switch element.vr {
        case .AT:
            return shorten((element.tags ?? []).map { $0.description.lowercased() }.joined(separator: "\\"))
        case .FL:
            return shorten((element.floats ?? []).map { String($0) }.joined(separator: "\\"))
        case .FD:
            return shorten((element.doubles ?? []).map { String($0) }.joined(separator: "\\"))
        case .UV:
            return shorten((element.unsignedIntegers ?? []).map { String($0) }.joined(separator: "\\"))
        case .US, .SS, .UL, .SL, .SV:
            return shorten((element.integers ?? []).map { String($0) }.joined(separator: "\\"))
        case .OW, .OL, .OV, .OF, .OD:
            let size = element.vr.binaryItemSize ?? 1
            let words = shownBytes(element).chunked(size).map { chunk in
                chunk.reversed().map { hex2($0) }.joined()
            }
            return shorten(words.joined(separator: "\\"))
        default:
            return shorten(hexBytes(shownBytes(element)))
        }
    }

    /// The bytes worth converting to hex: all of them with `showAll`, else enough to fill the
    /// shortened value (a 4 KB icon is not turned into 12 KB of text to show 64 characters).
    func shownBytes(_ element: DataElement) -> [UInt8] {
        let bytes = element.littleEndianBytes ?? []
        guard !options.showAll else { return bytes }
        let needed = (options.maxValueLength / 2 + 8) & ~7
        return bytes.count > needed ? Array(bytes.prefix(needed)) : bytes
    }

    func shorten(_ s: String) -> String {
        guard !options.showAll, s.count > options.maxValueLength else { return s }
        return String(s.prefix(options.maxValueLength)) + "..."
    }

    /// `spaces[n]` is n spaces: padding is appended from here (no `String(repeating:)` per line).
    static let spaces: [String] = (0...64).map { String(repeating: " ", count: $0) }

    /// Appends one line: `(gggg,eeee) VR value` padded to column 55, then `# length, VM keyword`.
    func append(_ out: inout String, _ pad: String, _ tag: Tag, _ vr: String, _ value: String, _ length: String, _ vm: String,
                _ keyword: String) {
        out += pad
        out += tag.description.lowercased()
        out += " "
        out += vr
        out += " "
        out += value
        // The column counts characters, not bytes.
        let width = 55
        let chars = pad.count + 13 + vr.count + value.count
        if chars < width { out += Self.spaces[width - chars] }
        out += " # "
        if length.count < 3 { out += Self.spaces[3 - length.count] }
        out += length
        out += vm.count < 2 ? ", " : ","
        out += vm
        out += " "
        out += keyword
        out += "\n"
    }

    /// The keyword, or for private elements the creator that owns the block.
    func name(of tag: Tag, in dataset: Dataset) -> String {
        if let keyword = DataDictionary.keyword(for: tag) { return keyword }
        if tag.isPrivateCreator { return "PrivateCreator" }
        if let creatorTag = tag.privateCreatorTag, let creator = dataset[creatorTag]?.string() {
            return "PrivateTag (\(creator))"
        }
        return tag.isPrivate ? "PrivateTag (no creator)" : "UnknownTag"
    }
}

func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
}

func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.map(hex2).joined(separator: "\\")
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(size, 1)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
