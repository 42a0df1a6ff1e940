import NIOCore

// MARK: - Values as dcmdump shows them

extension TextDumpRenderer {
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
}

func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.map { hex2($0, uppercase: false) }.joined(separator: "\\")
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(size, 1)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
