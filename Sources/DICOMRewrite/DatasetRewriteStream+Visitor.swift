import DICOMCore
import DIMSE
import NIOCore

extension DatasetRewriteStream {
    // MARK: Visitor

    func wantsWhole(_ head: ElementHead) -> Bool {
        guard dropDepth == 0 else { return false }
        if head.tag == .specificCharacterSet || (head.tag.isPrivateCreator && (head.length ?? .max) <= 64) { return true }
        let rule = rule(for: head.tag)
        if keepDepth == 0 && mayHoldSequence(head, rule: rule) && (head.length ?? 0) <= DatasetBuilder.unknownSequenceLimit { return true }
        guard let rule else { return false }
        switch rule.action {
        case .pseudonymize, .map, .replace, .shiftDate: return head.vr.isString
        case .empty, .remove, .keep: return false
        }
    }

    mutating func noteTopEncoding(_ head: ElementHead) {
        if levels.count == 1 && topEncoding == nil { topEncoding = head.encoding }
    }

    /// Before an element at the current level: the pending Patient ID (an Issuer of Patient ID
    /// read whole has taken it already) and the marks.
    mutating func before(_ head: ElementHead) {
        noteTopEncoding(head)
        flushPatientID()
        writeMarks(before: head.tag)
    }

    mutating func element(_ head: ElementHead, value: ByteBuffer) {
        guard dropDepth == 0 else { return }
        if head.tag == .issuerOfPatientID && pendingPatientID != nil {
            let issuer = DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: head.encoding.isBigEndian)
            if case .values(let values)? = issuer.strings(characterSet: levels[top].characterSet), let first = values.first,
               !first.isEmpty {
                flushPatientID(issuer: first)
            } else {
                flushPatientID()
            }
        }
        before(head)
        if isMark(head.tag) { return }
        enterGroup(head.tag.group)
        if head.tag.isPrivateCreator {
            let creator = DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: head.encoding.isBigEndian)
            if case .values(let values)? = creator.strings(characterSet: levels[top].characterSet), let first = values.first {
                levels[top].creators[head.tag] = RewriteRules.normalizedCreator(first)
            }
        }
        let rule = rule(for: head.tag)
        if keepDepth == 0 && mayHoldSequence(head, rule: rule) && unknownSequence(head, value: value, rule: rule) { return }
        var outcome = Rewriter.Outcome.unchanged
        if let rule {
            if head.tag == .patientID, direction == .towardsAcceptor, case .pseudonymize = rule.action {
                // Its pseudonym waits for the Issuer of Patient ID that may follow.
                pendingPatientID = (head, value, rule)
                return
            }
            let element = DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: head.encoding.isBigEndian,
                                      reservedBytes: head.reservedBytes)
            guard let applied = apply(rule, to: element) else { return }
            outcome = applied
        }
        write(outcome, head: head, value: value)
        if head.tag == .specificCharacterSet {
            var ds = Dataset(encoding: head.encoding)
            ds.append(DataElement(tag: head.tag, vr: head.vr, value: .bytes(value), isBigEndian: head.encoding.isBigEndian))
            levels[top].characterSet = ds.characterSet(inheriting: levels[top].characterSet)
        }
    }

    mutating func bulkStart(_ head: ElementHead) {
        guard dropDepth == 0 else {
            bulk = .drop
            return
        }
        before(head)
        if isMark(head.tag) {
            bulk = .drop
            return
        }
        enterGroup(head.tag.group)
        let path = levels[top].path + head.tag.description
        let length = UInt32(head.length ?? 0)
        if direction == .towardsAcceptor && keepDepth == 0 && isUnknownSequence(head)
            && (rule(for: head.tag).map { $0.action.substitutesValue } ?? true) {
            // Longer than a sequence sent as UN is read: emptied rather than passed unread.
            changed()
            log.notes.append(RewriteNote(kind: .emptied, tag: head.tag, path: path, before: "(\(length) bytes)", after: "",
                                     detail: "a sequence sent as UN longer than \(DatasetBuilder.unknownSequenceLimit) bytes is not read"))
            writeHeader(head, length: 0)
            bulk = .drop
            return
        }
        switch rule(for: head.tag)?.action {
        case .remove? where direction == .towardsAcceptor:
            changed()
            log.notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(\(length) bytes)", after: ""))
            bulk = .drop
        case .empty? where direction == .towardsAcceptor:
            changed()
            log.notes.append(RewriteNote(kind: .rewritten, tag: head.tag, path: path, before: "(\(length) bytes)", after: ""))
            writeHeader(head, length: 0)
            bulk = .drop
        case let action? where direction == .towardsAcceptor && action.substitutesValue:
            // Only a string value can hold a pseudonym or a replacement (a long one is taken whole):
            // any other is emptied so that it does not leak.
            changed()
            log.notes.append(RewriteNote(kind: .emptied, tag: head.tag, path: path, before: "(\(length) bytes)", after: "",
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

    /// The start of a sequence or an encapsulated value: nil when it is dropped (inside a dropped one, or a
    /// mark), else its path, its group entered.
    private mutating func enterNested(_ head: ElementHead) -> String? {
        if dropDepth > 0 {
            dropDepth += 1
            return nil
        }
        before(head)
        if isMark(head.tag) {
            dropDepth = 1
            return nil
        }
        enterGroup(head.tag.group)
        return levels[top].path + head.tag.description
    }

    mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding) {
        guard let path = enterNested(head) else { return }
        if direction == .towardsAcceptor, let rule = rule(for: head.tag) {
            switch rule.action {
            case .keep:
                keepDepth = 1
            case .remove:
                changed()
                log.notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(sequence)", after: ""))
                dropDepth = 1
                return
            case .empty, .pseudonymize, .map, .replace, .shiftDate:
                break
            }
        } else if keepDepth > 0 {
            keepDepth += 1
        }
        let lengthPosition = head.length == nil ? nil : position + head.headerLength - 4
        writeHeader(head, length: head.length.map(UInt32.init) ?? UInt32.max)
        var container = Container(isSequence: true, lengthPosition: lengthPosition, valueStart: position,
                                  bigEndian: head.encoding.isBigEndian, delimiterBigEndian: itemEncoding.isBigEndian, level: top)
        // `empty`: the sequence stays, its items go (an empty one is left as it is).
        if direction == .towardsAcceptor, case .empty? = rule(for: head.tag)?.action { container.dropsItems = true }
        containers.append(container)
        levels[top].sequenceTag = head.tag
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
                log.notes.append(RewriteNote(kind: .rewritten, tag: levels[top].sequenceTag, path: levels[top].sequencePath, before: "(sequence)",
                                         after: "", detail: "items removed"))
            }
            changed()
            dropDepth = 1
            return
        }
        let lengthPosition = item.length == nil ? nil : position + 4
        writeItemTag(.item, length: item.length.map(UInt32.init) ?? UInt32.max, bigEndian: item.encoding.isBigEndian)
        containers.append(Container(isSequence: false, lengthPosition: lengthPosition, valueStart: position,
                                    bigEndian: item.encoding.isBigEndian, delimiterBigEndian: item.encoding.isBigEndian, level: top))
        levels[top].itemCount += 1
        let path = levels[top].sequencePath + "[\(levels[top].itemCount)]>"
        levels.append(Level(characterSet: levels[top].characterSet, path: path))
    }

    mutating func itemEnd(delimiterLength: UInt32?) {
        if dropDepth > 0 {
            dropDepth -= 1
            return
        }
        flushPatientID()
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

    mutating func fragmentsStart(_ head: ElementHead) {
        guard let path = enterNested(head) else { return }
        let action = direction == .towardsAcceptor ? rule(for: head.tag)?.action : nil
        switch action {
        case .remove?:
            changed()
            log.notes.append(RewriteNote(kind: .removed, tag: head.tag, path: path, before: "(encapsulated)", after: ""))
            dropDepth = 1
        case .empty?, .pseudonymize?, .map?, .replace?, .shiftDate?:
            // Emptied: an empty Basic Offset Table item and the delimiter (PS3.5 §A.4).
            changed()
            log.notes.append(action!.substitutesValue
                ? RewriteNote(kind: .emptied, tag: head.tag, path: path, before: "(encapsulated)", after: "",
                              detail: "encapsulated pixel data cannot hold a pseudonym or a replacement")
                : RewriteNote(kind: .rewritten, tag: head.tag, path: path, before: "(encapsulated)", after: ""))
            writeHeader(head, length: UInt32.max)
            writeItemTag(.item, length: 0, bigEndian: head.encoding.isBigEndian)
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
