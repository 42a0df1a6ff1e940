import DICOMCore
import NIOCore

/// Rewrites a data set as its bytes arrive: fed by `DatasetParser` (the one parser), it applies
/// the rules to each element at any depth through `Rewriter` (the one place that knows what
/// each action does) and writes the result. Elements without a rule keep their exact bytes;
/// values at or over the parser's bulk threshold go on as they arrive (or are dropped, for
/// `remove` and `empty`).
///
/// What it holds: the output of any sequence or item of defined length still open (its length
/// is written when it ends) and of a group whose Group Length must be recomputed. Past
/// `holdLimit` held bytes, the open sequences and items are written with undefined length
/// instead (PS3.5 §7.5 allows either), so memory stays bounded by the limit whatever the data
/// set; a group length past the limit is a failure.
struct DatasetRewriteStream: DatasetVisitor {
    let rewriter: Rewriter
    let direction: RewriteDirection
    let holdLimit: Int
    private(set) var notes: [RewriteNote] = []
    private(set) var failure: RewriteError?

    /// Rewritten bytes not handed on yet; `handedOn` bytes were handed on before them.
    private var output = ByteBuffer()
    private var handedOn = 0
    private var levels: [Level]
    private var containers: [Container] = []
    /// Inside a subtree that is dropped (a removed sequence, an item of an emptied one): the
    /// containers open in it, its root included. Kept unchanged (`keep`): the same count.
    private var dropDepth = 0
    private var keepDepth = 0
    private var bulk: BulkMode = .none
    /// The byte order of the encapsulated pixel data being written.
    private var fragmentsBigEndian = false

    enum BulkMode { case none, pass, drop }

    /// A data set level: the top, or an item.
    struct Level {
        var characterSet: SpecificCharacterSet
        var path: String
        /// The group whose Group Length (gggg,0000) was seen, where its value is, where the group's
        /// elements start (absolute output positions), and whether one of them changed.
        var group: (group: UInt16, valuePosition: Int, start: Int, bigEndian: Bool, changed: Bool)?
        /// Items written so far in the sequence being read at this level, for paths.
        var sequencePath = ""
        var itemCount = 0
    }

    /// A sequence or item being written.
    struct Container {
        var isSequence: Bool
        /// Absolute output position of its 4-byte length field (nil: undefined length on the wire).
        var lengthPosition: Int?
        /// Where its value starts (absolute).
        var valueStart: Int
        var bigEndian: Bool
        /// Its delimiters' byte order (a sequence's: its items').
        var delimiterBigEndian: Bool
        /// Switched to undefined length (past `holdLimit`): ends with a delimitation item.
        var converted = false
        /// A sequence whose items are dropped (`empty`).
        var dropsItems = false
        /// Something inside changed (for the enclosing group's length).
        var changed = false
    }

    init(rewriter: Rewriter, direction: RewriteDirection, holdLimit: Int) {
        self.rewriter = rewriter
        self.direction = direction
        self.holdLimit = holdLimit
        levels = [Level(characterSet: .default, path: "")]
    }

    var isStopped: Bool { failure != nil }

    /// Output position just past what is written.
    private var position: Int { handedOn + output.readableBytes }

    /// The bytes that can be handed on now: everything before the first open container whose
    /// length is still to be written, or the first group whose length may change.
    mutating func take() -> ByteBuffer {
        if output.readableBytes > holdLimit { convertOpenContainers() }
        var limit = position
        if let first = containers.first(where: { $0.lengthPosition != nil && !$0.converted }), let at = first.lengthPosition {
            limit = min(limit, at)
        }
        for level in levels { if let g = level.group { limit = min(limit, g.valuePosition) } }
        let n = max(0, limit - handedOn)
        guard n > 0, let piece = output.readSlice(length: n) else { return ByteBuffer() }
        handedOn += n
        if output.readableBytes == 0 { output = ByteBuffer() } else if output.readerIndex > 1 << 20 { output.discardReadBytes() }
        return piece
    }

    /// The notes made since the last call.
    mutating func takeNotes() -> [RewriteNote] {
        defer { notes = [] }
        return notes
    }

    /// Everything, at the end of the data set.
    mutating func finish() -> ByteBuffer {
        closeGroup(at: levels.count - 1)
        let rest = output
        output = ByteBuffer()
        handedOn += rest.readableBytes
        return rest
    }

    /// Past the hold limit: open sequences and items of defined length get undefined length (their
    /// ends then write delimitation items), so what is written so far can be handed on.
    private mutating func convertOpenContainers() {
        for i in containers.indices where containers[i].lengthPosition != nil && !containers[i].converted {
            guard let at = containers[i].lengthPosition, at >= handedOn else { continue }
            output.setInteger(UInt32.max, at: output.readerIndex + at - handedOn,
                              endianness: containers[i].bigEndian ? .big : .little)
            containers[i].converted = true
        }
        if levels.contains(where: { $0.group != nil }) && output.readableBytes > 4 * holdLimit {
            failure = RewriteError(.dataSet, "a group with a Group Length is larger than \(4 * holdLimit) bytes: it cannot be rewritten")
        }
    }

    // MARK: Writing

    private mutating func writeHeader(_ head: ElementHead, vr: VR? = nil, length: UInt32) {
        let e: Endianness = head.encoding.isBigEndian ? .big : .little
        output.writeInteger(head.tag.group, endianness: e)
        output.writeInteger(head.tag.element, endianness: e)
        let vr = vr ?? head.vr
        if head.encoding.isExplicitVR {
            output.writeInteger(vr.byte0)
            output.writeInteger(vr.byte1)
            if vr.hasLongExplicitLength {
                output.writeInteger(head.reservedBytes, endianness: e)
                output.writeInteger(length, endianness: e)
            } else {
                output.writeInteger(UInt16(truncatingIfNeeded: length), endianness: e)
            }
        } else {
            output.writeInteger(length, endianness: e)
        }
    }

    private mutating func writeItemTag(_ tag: Tag, length: UInt32, bigEndian: Bool) {
        let e: Endianness = bigEndian ? .big : .little
        output.writeInteger(tag.group, endianness: e)
        output.writeInteger(tag.element, endianness: e)
        output.writeInteger(length, endianness: e)
    }

    private mutating func write(_ element: DataElement, encoding: DatasetEncoding) {
        do throws(DICOMDecodingError) {
            try DatasetEncoder().encode(element, encoding: encoding, into: &output)
        } catch {
            failure = RewriteError(.unencodable, "\(element.tag) cannot be encoded: \(error)")
        }
    }

    private var top: Int { levels.count - 1 }

    /// A change at the current level (for its group length, and its enclosing sequence's).
    private mutating func changed() {
        if levels[top].group != nil { levels[top].group!.changed = true }
        if let last = containers.indices.last { containers[last].changed = true }
    }

    /// Before an element of `group` at the current level: ends a Group Length's group when another begins.
    private mutating func enterGroup(_ group: UInt16) {
        if let g = levels[top].group, g.group != group { closeGroup(at: top) }
    }

    private mutating func closeGroup(at index: Int) {
        guard let g = levels[index].group else { return }
        levels[index].group = nil
        guard g.changed, g.valuePosition >= handedOn else { return }
        output.setInteger(UInt32(position - g.start), at: output.readerIndex + g.valuePosition - handedOn,
                          endianness: g.bigEndian ? .big : .little)
    }

    private func rule(for tag: Tag) -> AttributeRule? {
        keepDepth > 0 ? nil : rewriter.rules.attributes[tag]
    }

    // MARK: Visitor

    func wantsWhole(_ head: ElementHead) -> Bool {
        guard dropDepth == 0, let rule = rule(for: head.tag) else { return false }
        switch rule.action {
        case .pseudonymize, .map, .replace: return head.vr.isString
        case .empty, .remove, .keep: return false
        }
    }

    mutating func element(_ head: ElementHead, value: ByteBuffer) {
        guard dropDepth == 0 else { return }
        enterGroup(head.tag.group)
        let element = DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: head.encoding.isBigEndian,
                                  reservedBytes: head.reservedBytes)
        var outcome = Rewriter.Outcome.unchanged
        if let rule = rule(for: head.tag) {
            let path = levels[top].path + head.tag.description
            do throws(RewriteError) {
                outcome = try rewriter.apply(rule, to: element, direction: direction,
                                             characterSet: levels[top].characterSet, path: path, notes: &notes)
            } catch {
                failure = error
                return
            }
        }
        switch outcome {
        case .unchanged, .doNotDescend:
            if head.tag.isGroupLength && value.readableBytes == 4 && keepDepth == 0 {
                levels[top].group = (head.tag.group, position + head.headerLength, position + head.headerLength + 4,
                                     head.encoding.isBigEndian, false)
            }
            writeHeader(head, length: UInt32(value.readableBytes))
            var v = value
            output.writeBuffer(&v)
        case .replaced(let new):
            changed()
            write(new, encoding: head.encoding)
        case .removed:
            changed()
        }
        if head.tag == .specificCharacterSet {
            var ds = Dataset(encoding: head.encoding)
            ds.append(element)
            levels[top].characterSet = ds.characterSet(inheriting: levels[top].characterSet)
        }
    }

    mutating func bulkStart(_ head: ElementHead) {
        guard dropDepth == 0 else {
            bulk = .drop
            return
        }
        enterGroup(head.tag.group)
        let path = levels[top].path + head.tag.description
        let length = UInt32(head.length ?? 0)
        switch rule(for: head.tag)?.action {
        case .remove?:
            changed()
            notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(\(length) bytes)", after: ""))
            bulk = .drop
        case .empty? where direction == .towardsAcceptor:
            changed()
            notes.append(RewriteNote(kind: .rewritten, tag: head.tag, path: path, before: "(\(length) bytes)", after: ""))
            writeHeader(head, length: 0)
            bulk = .drop
        case let action? where direction == .towardsAcceptor && action.substitutesValue:
            // Only a string value can hold a pseudonym or a replacement (a long one is taken whole):
            // any other is emptied so that it does not leak.
            changed()
            notes.append(RewriteNote(kind: .emptied, tag: head.tag, path: path, before: "(\(length) bytes)", after: "",
                                     detail: "VR \(head.vr) cannot hold a pseudonym or a replacement"))
            writeHeader(head, length: 0)
            bulk = .drop
        default:
            // No rule, `keep`, or a rule that cannot apply to a value this long (not a string).
            writeHeader(head, length: length)
            bulk = .pass
        }
    }

    mutating func bulkBytes(_ bytes: ByteBuffer) {
        guard bulk == .pass else { return }
        var b = bytes
        if output.readableBytes == 0 { output = b } else { output.writeBuffer(&b) }
    }

    mutating func bulkEnd() {
        bulk = .none
    }

    mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding) {
        if dropDepth > 0 {
            dropDepth += 1
            return
        }
        enterGroup(head.tag.group)
        let path = levels[top].path + head.tag.description
        if direction == .towardsAcceptor, let rule = rule(for: head.tag) {
            switch rule.action {
            case .keep:
                keepDepth = 1
            case .remove:
                changed()
                notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(sequence)", after: ""))
                dropDepth = 1
                return
            case .empty, .pseudonymize, .map, .replace:
                break
            }
        } else if keepDepth > 0 {
            keepDepth += 1
        }
        let lengthPosition = head.length == nil ? nil : position + head.headerLength - 4
        writeHeader(head, length: head.length.map(UInt32.init) ?? UInt32.max)
        var container = Container(isSequence: true, lengthPosition: lengthPosition, valueStart: position,
                                  bigEndian: head.encoding.isBigEndian, delimiterBigEndian: itemEncoding.isBigEndian)
        // `empty`: the sequence stays, its items go (an empty one is left as it is).
        if direction == .towardsAcceptor, case .empty? = rule(for: head.tag)?.action { container.dropsItems = true }
        containers.append(container)
        levels[top].sequencePath = path
        levels[top].itemCount = 0
    }

    mutating func itemStart(_ item: ItemHead) {
        if dropDepth > 0 {
            dropDepth += 1
            return
        }
        if let last = containers.indices.last, containers[last].dropsItems {
            if !containers[last].changed {
                notes.append(RewriteNote(kind: .rewritten, tag: Tag.item, path: levels[top].sequencePath, before: "(sequence)",
                                         after: "", detail: "items removed"))
            }
            changed()
            dropDepth = 1
            return
        }
        let lengthPosition = item.length == nil ? nil : position + 4
        writeItemTag(.item, length: item.length.map(UInt32.init) ?? UInt32.max, bigEndian: item.encoding.isBigEndian)
        containers.append(Container(isSequence: false, lengthPosition: lengthPosition, valueStart: position,
                                    bigEndian: item.encoding.isBigEndian, delimiterBigEndian: item.encoding.isBigEndian))
        levels[top].itemCount += 1
        let path = levels[top].sequencePath + "[\(levels[top].itemCount)]>"
        levels.append(Level(characterSet: levels[top].characterSet, path: path))
    }

    mutating func itemEnd(delimiterLength: UInt32?) {
        if dropDepth > 0 {
            dropDepth -= 1
            return
        }
        closeGroup(at: top)
        levels.removeLast()
        close(delimiter: .itemDelimitation, length: delimiterLength)
    }

    mutating func sequenceEnd(delimiterLength: UInt32?) {
        if dropDepth > 0 {
            dropDepth -= 1
            return
        }
        if keepDepth > 0 { keepDepth -= 1 }
        close(delimiter: .sequenceDelimitation, length: delimiterLength)
    }

    /// Ends the innermost container: its delimiter as received, or its length now known.
    private mutating func close(delimiter: Tag, length: UInt32?) {
        guard let c = containers.popLast() else { return }
        if c.changed { changed() }
        if let length {
            writeItemTag(delimiter, length: length, bigEndian: c.delimiterBigEndian)
        } else if c.converted {
            writeItemTag(delimiter, length: 0, bigEndian: c.delimiterBigEndian)
        } else if let at = c.lengthPosition, at >= handedOn {
            output.setInteger(UInt32(position - c.valueStart), at: output.readerIndex + at - handedOn,
                              endianness: c.bigEndian ? .big : .little)
        }
    }

    mutating func fragmentsStart(_ head: ElementHead) {
        if dropDepth > 0 {
            dropDepth += 1
            return
        }
        enterGroup(head.tag.group)
        let path = levels[top].path + head.tag.description
        switch rule(for: head.tag)?.action {
        case .remove?:
            changed()
            notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(encapsulated)", after: ""))
            dropDepth = 1
        case .empty? where direction == .towardsAcceptor:
            changed()
            notes.append(RewriteNote(kind: .rewritten, tag: head.tag, path: path, before: "(encapsulated)", after: ""))
            writeHeader(head, length: UInt32.max)
            writeItemTag(.sequenceDelimitation, length: 0, bigEndian: head.encoding.isBigEndian)
            dropDepth = 1
        default:
            writeHeader(head, length: UInt32.max)
            fragmentsBigEndian = head.encoding.isBigEndian
        }
    }

    mutating func fragment(_ item: ItemHead, value: ByteBuffer) {
        guard dropDepth == 0 else { return }
        writeItemTag(.item, length: UInt32(value.readableBytes), bigEndian: item.encoding.isBigEndian)
        var v = value
        output.writeBuffer(&v)
    }

    mutating func fragmentBulkStart(_ item: ItemHead) {
        guard dropDepth == 0 else {
            bulk = .drop
            return
        }
        writeItemTag(.item, length: UInt32(item.length ?? 0), bigEndian: item.encoding.isBigEndian)
        bulk = .pass
    }

    mutating func fragmentsEnd(delimiterLength: UInt32) {
        if dropDepth > 0 {
            dropDepth -= 1
            return
        }
        writeItemTag(.sequenceDelimitation, length: delimiterLength, bigEndian: fragmentsBigEndian)
    }
}

extension RewriteAction {
    /// Whether the action puts a new text in place of the value (only a string can take one).
    var substitutesValue: Bool {
        switch self {
        case .pseudonymize, .map, .replace: return true
        case .empty, .remove, .keep: return false
        }
    }
}
