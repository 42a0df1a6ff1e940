// MARK: - The layout of a line: tag, VR, value, `# length, VM name`

extension TextDumpRenderer {
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
