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

    /// A single element's value as dcmdump shows it: `[text]` for strings, numbers bare,
    /// bytes in hex, `(no value available)` when empty.
    public func valueText(_ element: DataElement, charset: SpecificCharacterSet) -> String {
        guard let b = element.bytes else { return "" }
        if b.readableBytes == 0 { return "(no value available)" }
        return valueText(element, decoded: element.strings(characterSet: charset))
    }

    /// `valueText(_:charset:)`, appended to `out`.
    package func appendValueText(_ element: DataElement, charset: SpecificCharacterSet, into out: inout TextBuffer) {
        guard let b = element.bytes else { return }
        if b.readableBytes == 0 {
            out.append("(no value available)")
        } else if element.vr.isString {
            if appendASCIIStrings(element, b, characterSet: charset, into: &out) == nil {
                out.append(valueText(element, decoded: element.strings(characterSet: charset)))
            }
        } else {
            appendBinaryValue(element, into: &out)
        }
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
                chunk.reversed().map { hex2($0, uppercase: false) }.joined()
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

    /// `shorten` applied to the text appended since `start`, which must be ASCII without CR (one
    /// Character per byte).
    func shortenASCII(_ out: inout TextBuffer, from start: Int) {
        guard !options.showAll, out.count - start > options.maxValueLength else { return }
        out.removeLast(out.count - start - options.maxValueLength)
        out.append("...")
    }

    // MARK: Lines

    /// Appends `(gggg,eeee) VR ` after the padding; the value follows at the returned offset.
    func beginLine(_ out: inout TextBuffer, _ pad: (bytes: [UInt8], width: Int), _ tag: Tag, _ vr: VR?) -> Int {
        out.append(pad.bytes)
        out.appendTag(tag, uppercase: false)
        out.append(UInt8(ascii: " "))
        if let vr {
            out.append(vr.byte0)
            out.append(vr.byte1)
        } else {
            out.append(UInt8(ascii: "n"))
            out.append(UInt8(ascii: "a"))
        }
        out.append(UInt8(ascii: " "))
        return out.count
    }

    /// After the value: padding to column 55 (counted in Characters), then `# length, VM ` (the
    /// name is the caller's, then the newline).
    func endLine(_ out: inout TextBuffer, _ pad: (bytes: [UInt8], width: Int), vrWidth: Int, valueStart: Int,
                 length: Int, vm: Int) {
        let width = 55
        let chars = pad.width + 13 + vrWidth + out.width(from: valueStart)
        if chars < width { out.appendSpaces(width - chars) }
        out.append(" # ")
        let digits = TextBuffer.decimalDigits(length)
        if digits < 3 { out.appendSpaces(3 - digits) }
        out.appendDecimal(length)
        out.append(TextBuffer.decimalDigits(vm) < 2 ? ", " : ",")
        out.appendDecimal(vm)
        out.append(UInt8(ascii: " "))
    }

    /// One line with a value, length and VM already made as text (sequences, items, delimiters,
    /// fragments), named after the element's tag.
    func line(_ out: inout TextBuffer, _ pad: (bytes: [UInt8], width: Int), _ tag: Tag, _ vr: VR?, _ value: String,
              _ length: String, _ vm: String, keyword: Tag, in dataset: Dataset) {
        lineStart(&out, pad, tag, vr, value, length, vm)
        appendName(of: keyword, in: dataset, into: &out)
        out.append(UInt8(ascii: "\n"))
    }

    /// One line with a fixed name (`Item`, `ItemDelimitationItem`, ...).
    func line(_ out: inout TextBuffer, _ pad: (bytes: [UInt8], width: Int), _ tag: Tag, _ vr: VR?, _ value: String,
              _ length: String, _ vm: String, name: String) {
        lineStart(&out, pad, tag, vr, value, length, vm)
        out.append(name)
        out.append(UInt8(ascii: "\n"))
    }

    private func lineStart(_ out: inout TextBuffer, _ pad: (bytes: [UInt8], width: Int), _ tag: Tag, _ vr: VR?,
                           _ value: String, _ length: String, _ vm: String) {
        _ = beginLine(&out, pad, tag, vr)
        out.append(value)
        // The column counts characters, not bytes.
        let width = 55
        let chars = pad.width + 13 + 2 + value.count
        if chars < width { out.appendSpaces(width - chars) }
        out.append(" # ")
        if length.count < 3 { out.appendSpaces(3 - length.count) }
        out.append(length)
        out.append(vm.count < 2 ? ", " : ",")
        out.append(vm)
        out.append(UInt8(ascii: " "))
    }

    // MARK: Values written in place

    /// The `[value\value]` text of a string element (and ` =Keyword` for a registered UID)
    /// straight from its bytes when decoding cannot change them: every byte is ASCII other than
    /// ESC and CR, and the character set keeps ASCII in G0 (what `strings(characterSet:)` gives
    /// for such bytes, padding trimmed the same way). Returns the number of values, or nil with
    /// nothing appended when the bytes need the decoder.
    func appendASCIIStrings(_ element: DataElement, _ b: ByteBuffer, characterSet charset: SpecificCharacterSet,
                            into out: inout TextBuffer) -> Int? {
        let vr = element.vr
        if vr.usesSpecificCharacterSet && !charset.keepsASCII { return nil }
        let view = b.readableBytesView
        for byte in view where byte >= 0x80 || byte == 0x1B || byte == 0x0D { return nil }
        let multiValued = !(vr == .LT || vr == .ST || vr == .UT)
        out.append(UInt8(ascii: "["))
        let start = out.count
        var count = 0
        var valueStart = view.startIndex
        let end = view.endIndex
        while true {
            var valueEnd = end
            if multiValued, let slash = view[valueStart..<end].firstIndex(of: 0x5C) { valueEnd = slash }
            if count > 0 { out.append(UInt8(ascii: "\\")) }
            appendTrimmed(view[valueStart..<valueEnd], vr: vr, into: &out)
            count += 1
            if valueEnd == end { break }
            valueStart = valueEnd + 1
        }
        var keyword: UnsafeBufferPointer<UInt8>? = nil
        if vr == .UI, count == 1 { keyword = UIDRegistry.keywordBytes(uid: out.bytes[start...]) }
        shortenASCII(&out, from: start)
        out.append(UInt8(ascii: "]"))
        if let keyword, !keyword.isEmpty {
            out.append(" =")
            out.append(keyword)
        }
        return count
    }

    /// One value with its padding removed as `DataElement.trimPadding` does for ASCII text.
    func appendTrimmed(_ value: ByteBufferView, vr: VR, into out: inout TextBuffer) {
        let trimmed = DataElement.trimmed(value, vr: vr)
        if !trimmed.isEmpty { out.append(trimmed) }
    }

    /// `valueText` of a non-empty value of a binary VR, written in place (all ASCII).
    func appendBinaryValue(_ element: DataElement, into out: inout TextBuffer) {
        let start = out.count
        switch element.vr {
        case .AT:
            for (i, tag) in (element.tags ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.appendTag(tag, uppercase: false)
            }
        case .FL:
            for (i, v) in (element.floats ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.append(String(v))
            }
        case .FD:
            for (i, v) in (element.doubles ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.append(String(v))
            }
        case .UV:
            for (i, v) in (element.unsignedIntegers ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.appendDecimal(v)
            }
        case .US, .SS, .UL, .SL, .SV:
            for (i, v) in (element.integers ?? []).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.appendDecimal(v)
            }
        case .OW, .OL, .OV, .OF, .OD:
            let size = Swift.max(element.vr.binaryItemSize ?? 1, 1)
            let bytes = shownBytes(element)
            var i = 0
            while i < bytes.count {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                var k = Swift.min(i + size, bytes.count)
                while k > i {
                    k -= 1
                    out.appendHex2(bytes[k], uppercase: false)
                }
                i += size
            }
        default:
            for (i, byte) in shownBytes(element).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "\\")) }
                out.appendHex2(byte, uppercase: false)
            }
        }
        shortenASCII(&out, from: start)
    }

    /// The keyword, or for private elements the creator that owns the block (`name(of:in:)`).
    func appendName(of tag: Tag, in dataset: Dataset, into out: inout TextBuffer) {
        if let keyword = DataDictionary.keywordBytes(for: tag) {
            out.append(keyword)
        } else {
            out.append(name(of: tag, in: dataset))
        }
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

/// A growing UTF-8 text: the dump renderers append their pieces here (bytes, decimal and hex
/// numbers, tags) and make one `String` at the end, instead of concatenating many small Strings.
package struct TextBuffer: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package var count: Int { bytes.count }
    package var isEmpty: Bool { bytes.isEmpty }
    package var string: String { String(decoding: bytes, as: UTF8.self) }

    package mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
    package mutating func removeLast(_ n: Int) { bytes.removeLast(n) }

    @inline(__always) package mutating func append(_ byte: UInt8) { bytes.append(byte) }
    package mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }
    package mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    package mutating func append(_ b: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: b) }
    package mutating func append(_ b: ByteBufferView) { bytes.append(contentsOf: b) }
    package mutating func append(_ other: TextBuffer) { bytes.append(contentsOf: other.bytes) }

    package mutating func appendSpaces(_ n: Int) {
        if n > 0 { bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: n)) }
    }

    /// Number of decimal digits of `v` (with the sign), as `String(v).count`.
    package static func decimalDigits(_ v: Int) -> Int {
        var n = v < 0 ? 2 : 1
        var q = v / 10
        while q != 0 { n += 1; q /= 10 }
        return n
    }

    /// `String(v)`, appended.
    package mutating func appendDecimal(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(v.magnitude)
    }

    package mutating func appendDecimal(_ v: Int) { appendDecimal(Int64(v)) }
    package mutating func appendDecimal(_ v: UInt64) { appendDigits(v) }
    package mutating func appendDecimal(_ v: UInt32) { appendDigits(UInt64(v)) }
    package mutating func appendDecimal(_ v: UInt16) { appendDigits(UInt64(v)) }
    package mutating func appendDecimal(_ v: UInt8) { appendDigits(UInt64(v)) }

    private mutating func appendDigits(_ v: UInt64) {
        if v < 10 { bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)); return }
        let start = bytes.count
        var q = v
        while q != 0 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: q % 10))
            q /= 10
        }
        bytes[start...].reverse()
    }

    /// `v` in decimal, left-padded with zeros to `width` digits (non-negative `v`).
    package mutating func appendDecimal(_ v: Int64, width: Int) {
        let digits = Self.decimalDigits(Int(v))
        if digits < width { bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        appendDecimal(v)
    }

    @inline(__always) package mutating func appendHex2(_ b: UInt8, uppercase: Bool) {
        bytes.append(Self.hexDigit(b >> 4, uppercase))
        bytes.append(Self.hexDigit(b & 0xF, uppercase))
    }

    /// `v` in hex without leading zeros (`String(v, radix: 16, uppercase:)`).
    package mutating func appendHex(_ v: UInt64, uppercase: Bool) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        let start = bytes.count
        var q = v
        while q > 0 {
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: q & 0xF), uppercase))
            q >>= 4
        }
        bytes[start...].reverse()
    }

    /// `(gggg,eeee)`, as `Tag.description` (upper case) or lowercased.
    package mutating func appendTag(_ tag: Tag, uppercase: Bool) {
        bytes.append(UInt8(ascii: "("))
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 24), uppercase: uppercase)
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 16), uppercase: uppercase)
        bytes.append(UInt8(ascii: ","))
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 8), uppercase: uppercase)
        appendHex2(UInt8(truncatingIfNeeded: tag.rawValue), uppercase: uppercase)
        bytes.append(UInt8(ascii: ")"))
    }

    @inline(__always) static func hexDigit(_ n: UInt8, _ uppercase: Bool) -> UInt8 {
        n < 10 ? 0x30 + n : (uppercase ? 0x37 : 0x57) + n
    }

    /// Width in Characters of the text appended since `start` (`String.count` of it): one per
    /// byte for ASCII except CR LF, which is one Character.
    package func width(from start: Int) -> Int {
        var crlf = 0
        var previous: UInt8 = 0
        for i in start..<bytes.count {
            let b = bytes[i]
            if b >= 0x80 { return String(decoding: bytes[start...], as: UTF8.self).count }
            if b == 0x0A && previous == 0x0D { crlf += 1 }
            previous = b
        }
        return bytes.count - start - crlf
    }
}

func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.map { hex2($0, uppercase: false) }.joined(separator: "\\")
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(size, 1)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
