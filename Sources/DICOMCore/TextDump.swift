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
        var out = TextBuffer()
        render(dataset, characterSet: characterSet, prefix: prefix, into: &out)
        return out.string
    }

    /// Renders `dataset`, handing the text to `sink` in pieces of about 1 MB, so a large dataset
    /// is dumped without holding all its text.
    public func render(_ dataset: Dataset, characterSet: SpecificCharacterSet = .default, prefix: String = "",
                       sink: (String) -> Void) {
        var out = TextBuffer()
        render(dataset, characterSet: characterSet, depth: 0, pads: Pads(prefix: prefix, indent: options.indent),
               encoding: dataset.encoding, into: &out, flushSize: Self.flushSize, sink: sink)
        if !out.isEmpty { sink(out.string) }
    }

    /// Appends the dump of `dataset` to `out` as UTF-8 (the text `render(_:characterSet:prefix:)`
    /// returns), for renderers that assemble a larger text in one buffer.
    package func render(_ dataset: Dataset, characterSet: SpecificCharacterSet = .default, prefix: String = "",
                        into out: inout TextBuffer) {
        render(dataset, characterSet: characterSet, depth: 0, pads: Pads(prefix: prefix, indent: options.indent),
               encoding: dataset.encoding, into: &out, flushSize: .max, sink: { _ in })
    }

    static let flushSize = 1 << 20

    /// The padding of each nesting depth (`prefix` + `indent` × depth) as UTF-8 and its width in
    /// Characters, made once per dump instead of once per line.
    struct Pads {
        let prefix: String
        let indent: String
        private(set) var levels: [(bytes: [UInt8], width: Int)] = []

        init(prefix: String, indent: String) {
            self.prefix = prefix
            self.indent = indent
        }

        mutating func pad(_ depth: Int) -> (bytes: [UInt8], width: Int) {
            while levels.count <= depth {
                let s = prefix + String(repeating: indent, count: levels.count)
                levels.append((Array(s.utf8), s.count))
            }
            return levels[depth]
        }
    }

    func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet, depth: Int, pads: Pads,
                encoding: DatasetEncoding, into out: inout TextBuffer, flushSize: Int, sink: (String) -> Void) {
        var pads = pads
        render(dataset, characterSet: inherited, depth: depth, pads: &pads, encoding: encoding, into: &out,
               flushSize: flushSize, sink: sink)
    }

    func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet, depth: Int, pads: inout Pads,
                encoding: DatasetEncoding, into out: inout TextBuffer, flushSize: Int, sink: (String) -> Void) {
        let charset = dataset.characterSet(inheriting: inherited)
        for element in dataset.elements {
            renderElement(element, in: dataset, characterSet: charset, depth: depth, pads: &pads, encoding: encoding,
                          into: &out, flushSize: flushSize, sink: sink)
            if out.count >= flushSize {
                sink(out.string)
                out.removeAll()
            }
        }
    }

    /// Appends the lines of one element and everything nested in it.
    func renderElement(_ element: DataElement, in dataset: Dataset, characterSet charset: SpecificCharacterSet, depth: Int,
                       pads: inout Pads, encoding: DatasetEncoding, into out: inout TextBuffer, flushSize: Int,
                       sink: (String) -> Void) {
        let pad = pads.pad(depth)
        switch element.value {
        case .sequence(let items):
            // Items of an explicit VR UN sequence are implicit VR little endian (PS3.5 §6.2.2).
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            let how = element.hasUndefinedLength ? "undefined length" : "explicit length"
            let len = element.hasUndefinedLength ? "u/l" : String(Self.valueLength(element, encoding))
            line(&out, pad, element.tag, element.vr, "(Sequence with \(how) #=\(items.count))", len, "1",
                 keyword: element.tag, in: dataset)
            let ipad = pads.pad(depth + 1)
            for item in items {
                let ihow = item.hasUndefinedLength ? "undefined length" : "explicit length"
                let ilen = item.hasUndefinedLength ? "u/l" : String(Self.length(item.dataset, inner))
                line(&out, ipad, .item, nil, "(Item with \(ihow) #=\(item.dataset.count))", ilen, "1", name: "Item")
                render(item.dataset, characterSet: charset, depth: depth + 2, pads: &pads, encoding: inner,
                       into: &out, flushSize: flushSize, sink: sink)
                if item.hasUndefinedLength {
                    line(&out, ipad, .itemDelimitation, nil, "(ItemDelimitationItem)", "0", "0", name: "ItemDelimitationItem")
                }
            }
            if element.hasUndefinedLength {
                line(&out, pad, .sequenceDelimitation, nil, "(SequenceDelimitationItem)", "0", "0",
                     name: "SequenceDelimitationItem")
            }
        case .fragments(let fragments):
            line(&out, pad, element.tag, element.vr, "(PixelSequence #=\(fragments.count))", "u/l", "1",
                 keyword: element.tag, in: dataset)
            let ipad = pads.pad(depth + 1)
            for (i, fragment) in fragments.enumerated() {
                let what = i == 0 ? "Basic Offset Table" : "Fragment \(i)"
                line(&out, ipad, .item, element.vr,
                     shorten(hexBytes(Array(fragment.readableBytesView.prefix(options.maxValueLength)))) + "  (\(what))",
                     String(fragment.readableBytes), "1", name: "Item")
            }
            line(&out, pad, .sequenceDelimitation, nil, "(SequenceDelimitationItem)", "0", "0",
                 name: "SequenceDelimitationItem")
        case .bulk(let bulk):
            if let count = bulk.fragmentCount {
                guard let details = bulk.fragments else {
                    line(&out, pad, element.tag, element.vr, "(PixelSequence #=\(count), \(bulk.length) bytes, not kept)", "u/l", "1",
                         keyword: element.tag, in: dataset)
                    return
                }
                // As for kept fragments, from each fragment's first bytes.
                line(&out, pad, element.tag, element.vr, "(PixelSequence #=\(count))", "u/l", "1", keyword: element.tag, in: dataset)
                let ipad = pads.pad(depth + 1)
                for (i, fragment) in details.enumerated() {
                    let what = i == 0 ? "Basic Offset Table" : "Fragment \(i)"
                    line(&out, ipad, .item, element.vr,
                         shorten(hexBytes(Array(fragment.prefix.readableBytesView.prefix(options.maxValueLength)))) + "  (\(what))",
                         String(fragment.length), "1", name: "Item")
                }
                line(&out, pad, .sequenceDelimitation, nil, "(SequenceDelimitationItem)", "0", "0",
                     name: "SequenceDelimitationItem")
            } else if let prefix = bulk.prefix, !options.showAll {
                // Shortened from its first bytes, as a kept value is; its length and VM are the whole value's.
                var shown = element
                shown.value = .bytes(prefix)
                let vm: Int?
                if prefix.readableBytes == bulk.length {
                    vm = nil  // all of it is in hand
                } else if element.vr.isString || element.vr.binaryItemSize == nil {
                    vm = 1
                } else {
                    switch element.vr {
                    case .OB, .OD, .OF, .OL, .OV, .OW, .UN: vm = 1
                    default: vm = bulk.length / Swift.max(element.vr.binaryItemSize ?? 1, 1)
                    }
                }
                appendBytes(shown, prefix, length: bulk.length, vm: vm, in: dataset, charset: charset, pad: pad, into: &out)
            } else {
                line(&out, pad, element.tag, element.vr, "(\(bulk.length) bytes, not kept)", String(bulk.length), "1",
                     keyword: element.tag, in: dataset)
            }
        case .bytes(let b):
            appendBytes(element, b, length: b.readableBytes, vm: nil, in: dataset, charset: charset, pad: pad, into: &out)
        }
    }

    /// The line of an element with byte values (`length` and, when given, `vm` as the line shows them).
    private func appendBytes(_ element: DataElement, _ b: ByteBuffer, length: Int, vm shownVM: Int?, in dataset: Dataset,
                             charset: SpecificCharacterSet, pad: (bytes: [UInt8], width: Int), into out: inout TextBuffer) {
        let valueStart = beginLine(&out, pad, element.tag, element.vr)
        var vm: Int
        if b.readableBytes == 0 {
            out.append("(no value available)")
            vm = 0
        } else if element.vr.isString {
            if let count = appendASCIIStrings(element, b, characterSet: charset, into: &out) {
                vm = element.vr.isSingleValuedText ? 1 : count
            } else {
                // Decoded once for the value and the VM.
                let decoded = element.strings(characterSet: charset)
                if element.vr.isSingleValuedText {
                    vm = 1
                } else if case .values(let v)? = decoded {
                    vm = v.count
                } else {
                    vm = 1
                }
                out.append(valueText(element, decoded: decoded))
            }
        } else {
            appendBinaryValue(element, into: &out)
            vm = element.valueMultiplicity(characterSet: charset)
        }
        if let shownVM { vm = shownVM }
        endLine(&out, pad, vrWidth: 2, valueStart: valueStart, length: length, vm: vm)
        appendName(of: element.tag, in: dataset, into: &out)
        out.append(UInt8(ascii: "\n"))
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
        case .bulk(let b):
            // Encapsulated: each fragment's item header, and the Sequence Delimitation Item.
            return b.length + (b.fragmentCount.map { 8 * $0 + 8 } ?? 0)
        case .fragments(let fragments):
            return fragments.reduce(8) { $0 + 8 + $1.readableBytes }
        case .sequence(let items):
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            return items.reduce(element.hasUndefinedLength ? 8 : 0) {
                $0 + 8 + length($1.dataset, inner) + ($1.hasUndefinedLength ? 8 : 0)
            }
        }
    }
}
