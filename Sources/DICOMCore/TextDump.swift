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
        var lines: [String] = []
        render(dataset, characterSet: characterSet, depth: 0, prefix: prefix, into: &lines)
        return lines.map { $0 + "\n" }.joined()
    }

    /// Appends the dump lines of `dataset`; returns its encoded length in `encoding`, so that
    /// sequence and item lines show their lengths without re-encoding anything.
    @discardableResult
    public func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet, depth: Int, prefix: String,
                       encoding: DatasetEncoding? = nil, into lines: inout [String]) -> Int {
        let encoding = encoding ?? dataset.encoding
        let charset = dataset.characterSet(inheriting: inherited)
        var total = 0
        for element in dataset.elements {
            total += renderElement(element, in: dataset, characterSet: charset, depth: depth, prefix: prefix,
                                   encoding: encoding, into: &lines)
        }
        return total
    }

    /// Renders `dataset` top-level element by top-level element, handing each piece of text to
    /// `sink` as soon as it is ready, so a large dataset is dumped without holding all its text.
    public func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet = .default, prefix: String = "",
                       sink: (String) -> Void) {
        let charset = dataset.characterSet(inheriting: inherited)
        var lines: [String] = []
        for element in dataset.elements {
            renderElement(element, in: dataset, characterSet: charset, depth: 0, prefix: prefix, encoding: dataset.encoding,
                          into: &lines)
            if lines.count >= 4096 {
                sink(lines.map { $0 + "\n" }.joined())
                lines.removeAll(keepingCapacity: true)
            }
        }
        if !lines.isEmpty { sink(lines.map { $0 + "\n" }.joined()) }
    }

    /// Appends the lines of one element (and everything nested in it); returns its encoded length.
    @discardableResult
    func renderElement(_ element: DataElement, in dataset: Dataset, characterSet charset: SpecificCharacterSet, depth: Int,
                       prefix: String, encoding: DatasetEncoding, into lines: inout [String]) -> Int {
        let pad = prefix + String(repeating: options.indent, count: depth)
        var total = 0
        let keyword = name(of: element.tag, in: dataset)
        let header = encoding.isExplicitVR && element.vr.hasLongExplicitLength ? 12 : 8
        switch element.value {
        case .sequence(let items):
            // Items of an explicit VR UN sequence are implicit VR little endian (PS3.5 §6.2.2).
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            let how = element.hasUndefinedLength ? "undefined length" : "explicit length"
            let sequenceLine = lines.count
            lines.append("")
            var valueLength = 0
            for item in items {
                let ihow = item.hasUndefinedLength ? "undefined length" : "explicit length"
                let ipad = pad + options.indent
                let itemLine = lines.count
                lines.append("")
                let itemLength = render(item.dataset, characterSet: charset, depth: depth + 2, prefix: prefix,
                                        encoding: inner, into: &lines)
                let ilen = item.hasUndefinedLength ? "u/l" : String(itemLength)
                lines[itemLine] = line(ipad, .item, "na", "(Item with \(ihow) #=\(item.dataset.count))", ilen, "1", "Item")
                if item.hasUndefinedLength {
                    lines.append(line(ipad, .itemDelimitation, "na", "(ItemDelimitationItem)", "0", "0",
                                      "ItemDelimitationItem"))
                }
                valueLength += 8 + itemLength + (item.hasUndefinedLength ? 8 : 0)
            }
            if element.hasUndefinedLength {
                lines.append(line(pad, .sequenceDelimitation, "na", "(SequenceDelimitationItem)", "0", "0",
                                  "SequenceDelimitationItem"))
                valueLength += 8
            }
            let len = element.hasUndefinedLength ? "u/l" : String(valueLength)
            lines[sequenceLine] = line(pad, element.tag, element.vr.code, "(Sequence with \(how) #=\(items.count))",
                                       len, "1", keyword)
            total += header + valueLength
        case .fragments(let fragments):
            lines.append(line(pad, element.tag, element.vr.code, "(PixelSequence #=\(fragments.count))", "u/l", "1", keyword))
            var valueLength = 8
            for (i, fragment) in fragments.enumerated() {
                let what = i == 0 ? "Basic Offset Table" : "Fragment \(i)"
                lines.append(line(pad + options.indent, .item, element.vr.code,
                                  shorten(hexBytes(Array(fragment.readableBytesView.prefix(options.maxValueLength)))) + "  (\(what))",
                                  String(fragment.readableBytes), "1", "Item"))
                valueLength += 8 + fragment.readableBytes
            }
            lines.append(line(pad, .sequenceDelimitation, "na", "(SequenceDelimitationItem)", "0", "0",
                              "SequenceDelimitationItem"))
            total += header + valueLength
        case .bytes(let b):
            lines.append(line(pad, element.tag, element.vr.code, valueText(element, charset: charset),
                              String(b.readableBytes), String(element.valueMultiplicity(characterSet: charset)), keyword))
            total += header + b.readableBytes
        }
        return total
    }

    /// A single element's value as dcmdump shows it: `[text]` for strings, numbers bare,
    /// bytes in hex, `(no value available)` when empty.
    public func valueText(_ element: DataElement, charset: SpecificCharacterSet) -> String {
        guard let b = element.bytes else { return "" }
        if b.readableBytes == 0 { return "(no value available)" }
        if let decoded = element.strings(characterSet: charset) {
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

    func line(_ pad: String, _ tag: Tag, _ vr: String, _ value: String, _ length: String, _ vm: String,
              _ keyword: String) -> String {
        var head = pad + tag.description.lowercased() + " " + vr + " " + value
        let width = 55
        if head.count < width { head += String(repeating: " ", count: width - head.count) }
        let len = String(repeating: " ", count: max(0, 3 - length.count)) + length
        return head + " # " + len + "," + (vm.count < 2 ? " " : "") + vm + " " + keyword
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
