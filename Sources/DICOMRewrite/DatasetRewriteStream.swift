import DICOMCore
import DIMSE
import NIOCore

/// Rewrites a data set as its bytes arrive: fed by `DatasetParser` (the one parser), it applies
/// the rules to each element at any depth through `Rewriter` (the one place that knows what
/// each action does) and writes the result. Elements without a rule keep their exact bytes;
/// values at or over the parser's bulk threshold go on as they arrive (or are dropped, for
/// `remove` and `empty`).
///
/// What it holds: the output of any sequence or item of defined length still open (its length
/// is written when it ends) and of a group with a Group Length (gggg,0000). Past `holdLimit`
/// held bytes, the open sequences and items are written with undefined length instead (PS3.5
/// §7.5 allows either) and a group with nothing changed in it so far goes on with its Group
/// Length as received (grown by the delimiters the conversion adds), so memory stays bounded
/// by the limit whatever the data set. A change in a group whose length went on already, or a
/// changed group past four times the limit, is a failure.
///
/// A sequence sent as UN (CP-246: explicit VR, a standard tag the dictionary knows as SQ) is
/// read as one and rewritten inside (its items are Implicit VR Little Endian, PS3.5 §6.2.2);
/// towards the SCP, one that cannot be read as a sequence is emptied, so that nothing in it leaks.
/// What a data set is, for the rules: a stored instance gets the de-identification marks; a
/// query's identifier keeps its matching keys' meaning; a command set has only the UIDs that
/// repeat its data set's rewritten.
public enum DataSetPurpose: Sendable {
    case store, query, other, command
}

struct DatasetRewriteStream: DatasetVisitor {
    let rewriter: Rewriter
    let direction: RewriteDirection
    let holdLimit: Int
    /// What the data set is: a stored instance gets the de-identification marks, a query's
    /// identifier keeps its matching keys' meaning.
    let purpose: Purpose
    /// The Issuer of Patient ID assumed where a data set has none (the calling AE's default issuer).
    let defaultIssuer: String?
    /// Notes and new pseudonyms so far.
    private(set) var log = RewriteLog()
    private(set) var failure: RewriteError?
    private let safeCreators: Set<SafePrivateAttribute>
    /// The marks still to be written (a stored instance, at the top level, before the first tag past them).
    private var marksPending: Bool
    /// A Patient ID read, not written yet: its pseudonym depends on the Issuer of Patient ID that may follow.
    private var pendingPatientID: (head: ElementHead, value: ByteBuffer, rule: AttributeRule)?
    /// The top level's encoding (from its first element), for the marks.
    private var topEncoding: DatasetEncoding?

    typealias Purpose = DataSetPurpose

    /// Rewritten bytes not handed on yet; `handedOn` bytes were handed on before them.
    private var output = ByteBuffer()
    private var handedOn = 0
    private var levels: [Level]
    private var containers: [Container] = []
    /// Whether anything was rewritten, removed or emptied.
    private(set) var changedAnything = false
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
        /// The group at this level whose Group Length (gggg,0000) was seen.
        var group: GroupLength?
        /// The sequence being read at this level and the items written so far in it, for paths and notes.
        var sequenceTag = Tag.item
        var sequencePath = ""
        var itemCount = 0
        /// The Private Creators read at this level, by their creator element's tag.
        var creators: [Tag: String] = [:]
    }

    /// A group whose length is written at `valuePosition` (absolute output position) and whose
    /// elements start at `start`.
    struct GroupLength {
        var group: UInt16
        var valuePosition: Int
        var start: Int
        var bigEndian: Bool
        /// One of its elements changed: the length is recomputed when the group ends.
        var changed = false
        /// It went on as received (past the hold limit, nothing changed so far): nothing in it may change.
        var released = false
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
        /// Something inside changed.
        var changed = false
        /// The level it is written at (the levels up to it enclose it).
        var level: Int
    }

    init(rewriter: Rewriter, direction: RewriteDirection, holdLimit: Int, characterSet: SpecificCharacterSet = .default,
         purpose: Purpose = .other, defaultIssuer: String? = nil) {
        self.rewriter = rewriter
        self.direction = direction
        self.holdLimit = holdLimit
        self.purpose = purpose
        self.defaultIssuer = defaultIssuer
        safeCreators = rewriter.rules.privateAttributes == .keepSafe ? rewriter.rules.safeCreators : []
        marksPending = purpose == .store && direction == .towardsAcceptor && rewriter.rules.profile?.marksStoredInstances == true
        levels = [Level(characterSet: characterSet, path: "")]
    }

    var isStopped: Bool { failure != nil }

    /// Output position just past what is written.
    private var position: Int { handedOn + output.readableBytes }

    /// The bytes that can be handed on now: everything before the first open container whose
    /// length is still to be written, or the first group whose length may change.
    mutating func take() -> ByteBuffer {
        if output.readableBytes > holdLimit {
            convertOpenContainers()
            releaseUnchangedGroups()
        }
        var limit = position
        if let first = containers.first(where: { $0.lengthPosition != nil && !$0.converted }), let at = first.lengthPosition {
            limit = min(limit, at)
        }
        for level in levels { if let g = level.group, !g.released { limit = min(limit, g.valuePosition) } }
        let n = max(0, limit - handedOn)
        guard n > 0, let piece = output.readSlice(length: n) else { return ByteBuffer() }
        handedOn += n
        if output.readableBytes == 0 { output = ByteBuffer() } else if output.readerIndex > 1 << 20 { output.discardReadBytes() }
        return piece
    }

    /// The notes made since the last call.
    mutating func takeNotes() -> [RewriteNote] {
        defer { log.notes = [] }
        return log.notes
    }

    /// The pseudonyms issued since the last call that the mapping store did not know.
    mutating func takeRecords() -> [PseudonymRecord] {
        defer { log.newRecords = [] }
        return log.newRecords
    }

    /// Everything, at the end of the data set.
    mutating func finish() -> ByteBuffer {
        flushPatientID()
        writeMarks(before: nil)
        closeGroup(at: levels.count - 1)
        let rest = output
        output = ByteBuffer()
        handedOn += rest.readableBytes
        return rest
    }

    /// Past the hold limit: open sequences and items of defined length get undefined length (their
    /// ends then write delimitation items), so what is written so far can be handed on. The
    /// delimiter each adds (8 bytes) is added to the Group Length of every group enclosing it
    /// that is recomputed from nothing else.
    private mutating func convertOpenContainers() {
        for i in containers.indices where containers[i].lengthPosition != nil && !containers[i].converted {
            guard let at = containers[i].lengthPosition, at >= handedOn else { continue }
            output.setInteger(UInt32.max, at: output.readerIndex + at - handedOn,
                              endianness: containers[i].bigEndian ? .big : .little)
            containers[i].converted = true
            for l in 0...containers[i].level { grow(groupAt: l, by: 8) }
        }
        if levels.contains(where: { $0.group?.changed == true }) && output.readableBytes > 4 * holdLimit {
            fail("a group with a Group Length in which a value changed is larger than \(4 * holdLimit) bytes: it cannot be rewritten")
        }
    }

    /// Adds `delta` to the Group Length of the group open at level `l` (when it is not recomputed at its end anyway).
    private mutating func grow(groupAt l: Int, by delta: UInt32) {
        guard let g = levels[l].group, !g.changed else { return }
        guard !g.released, g.valuePosition >= handedOn else {
            fail("the Group Length of group \(hex4(g.group)) went on before the group grew: it cannot be rewritten")
            return
        }
        let at = output.readerIndex + g.valuePosition - handedOn
        let e: Endianness = g.bigEndian ? .big : .little
        let old: UInt32 = output.getInteger(at: at, endianness: e) ?? 0
        output.setInteger(old &+ delta, at: at, endianness: e)
    }

    /// Past the hold limit: groups with nothing changed so far go on with their Group Length as it is.
    private mutating func releaseUnchangedGroups() {
        for l in levels.indices where levels[l].group?.changed == false { levels[l].group!.released = true }
    }

    private mutating func fail(_ text: String) {
        if failure == nil { failure = RewriteError(.dataSet, text) }
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

    /// A change at the current position: every open container and every open group encloses it.
    private mutating func changed() {
        changedAnything = true
        for l in levels.indices where levels[l].group != nil {
            if levels[l].group!.released {
                fail("a value in group \(hex4(levels[l].group!.group)) changed after its Group Length went on (the group is over \(holdLimit) bytes): it cannot be rewritten")
            }
            levels[l].group!.changed = true
        }
        for i in containers.indices { containers[i].changed = true }
    }

    /// Before an element of `group` at the current level: ends a Group Length's group when another begins.
    private mutating func enterGroup(_ group: UInt16) {
        if let g = levels[top].group, g.group != group { closeGroup(at: top) }
    }

    private mutating func closeGroup(at index: Int) {
        guard let g = levels[index].group else { return }
        levels[index].group = nil
        guard g.changed, !g.released, g.valuePosition >= handedOn else { return }
        output.setInteger(UInt32(position - g.start), at: output.readerIndex + g.valuePosition - handedOn,
                          endianness: g.bigEndian ? .big : .little)
    }

    /// The rule for an element at the current level: its own or its repeating group's, else the
    /// private-attribute policy's (towards the SCP).
    private func rule(for tag: Tag) -> AttributeRule? {
        guard keepDepth == 0 else { return nil }
        let rules = rewriter.rules
        if purpose == .command {
            guard tag == CommandTag.affectedSOPInstanceUID || tag == CommandTag.requestedSOPInstanceUID,
                  let rule = rules.rule(for: .sopInstanceUID), rule.action.isReversible else { return nil }
            return AttributeRule(tag: tag, action: rule.action, source: rule.source)
        }
        if let rule = rules.rule(for: tag) { return rule }
        // Odd groups 0001-0007 are not private blocks (PS3.5 §7.8) but no standard attribute either: as private.
        guard tag.group & 1 == 1, tag.group != 0xFFFF, !tag.isGroupLength, direction == .towardsAcceptor else { return nil }
        let creator = tag.isPrivateCreator ? levels[top].creators[tag] : tag.privateCreatorTag.flatMap { levels[top].creators[$0] }
        return rules.privateAction(for: tag, creator: creator, safeCreators: safeCreators).map {
            AttributeRule(tag: tag, action: $0, source: "private attributes: \(rules.privateAttributes.rawValue)")
        }
    }

    private func context(path: String, issuer: String? = nil) -> RuleContext {
        RuleContext(direction: direction, characterSet: levels[top].characterSet, path: path, isQuery: purpose == .query,
                    issuer: issuer)
    }

    /// Applies a rule to a whole element; a failure stops the stream.
    private mutating func apply(_ rule: AttributeRule, to element: DataElement, issuer: String? = nil) -> Rewriter.Outcome? {
        let path = levels[top].path + element.tag.description
        do throws(RewriteError) {
            return try rewriter.apply(rule, to: element, context: context(path: path, issuer: issuer), log: &log)
        } catch {
            failure = error
            return nil
        }
    }

    /// Before anything else at the current level: a Patient ID read and not written goes on,
    /// pseudonymized in its issuer's namespace (`issuer`: the Issuer of Patient ID that
    /// followed it; else the default issuer).
    private mutating func flushPatientID(issuer: String? = nil) {
        guard let pending = pendingPatientID else { return }
        pendingPatientID = nil
        let element = DataElement(tag: pending.head.tag, vr: pending.head.vr, value: .bytes(pending.value),
                                  isBigEndian: pending.head.encoding.isBigEndian, reservedBytes: pending.head.reservedBytes)
        guard let outcome = apply(pending.rule, to: element, issuer: issuer ?? defaultIssuer) else { return }
        write(outcome, head: pending.head, value: pending.value)
    }

    /// The de-identification marks of a stored instance, at the top level before `tag` (nil: at the end).
    private mutating func writeMarks(before tag: Tag?) {
        guard marksPending, levels.count == 1, tag.map({ $0 > .deidentificationMethodCodeSequence }) ?? true else { return }
        marksPending = false
        let encoding = topEncoding ?? .explicitLittleEndian
        let marks = rewriter.rules.deidentificationMarks(bigEndian: encoding.isBigEndian)
        guard !marks.isEmpty else { return }
        enterGroup(0x0012)
        changed()
        for mark in marks {
            write(mark, encoding: encoding)
        }
        log.notes.append(RewriteNote(kind: .added, tag: .deidentificationMethodCodeSequence, path: "", before: "",
                                     after: rewriter.rules.deidentificationCodes.map(\.value).joined(separator: "\\"),
                                     detail: "Patient Identity Removed YES and the de-identification method"))
    }

    /// Whether a top-level element is one of the marks (replaced by this proxy's).
    private func isMark(_ tag: Tag) -> Bool {
        marksPending && levels.count == 1 && tag >= .patientIdentityRemoved && tag <= .deidentificationMethodCodeSequence
    }

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

    /// A sequence sent as UN (CP-246).
    private func isUnknownSequence(_ head: ElementHead) -> Bool {
        head.vr == .UN && head.encoding.isExplicitVR && !head.tag.isPrivate && DataDictionary.vr(for: head.tag) == .SQ
    }

    /// A value of defined length the decoder cannot see into that may be a sequence (PS3.5
    /// §6.2.2): a sequence sent as UN, or a private or unknown attribute in implicit VR or as UN
    /// that the rules keep (its content is looked into as an implicit VR sequence, as toolkits do).
    private func mayHoldSequence(_ head: ElementHead, rule: AttributeRule?) -> Bool {
        guard head.vr == .UN, head.length != nil else { return false }
        if isUnknownSequence(head) { return true }
        guard head.tag.isPrivate || DataDictionary.vr(for: head.tag) == nil else { return false }
        switch rule?.action {
        case nil, .pseudonymize?, .map?, .replace?, .shiftDate?: return true
        case .keep?, .remove?, .empty?: return false
        }
    }

    private mutating func noteTopEncoding(_ head: ElementHead) {
        if levels.count == 1 && topEncoding == nil { topEncoding = head.encoding }
    }

    /// Before an element at the current level: the pending Patient ID (an Issuer of Patient ID
    /// read whole has taken it already) and the marks.
    private mutating func before(_ head: ElementHead) {
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

    /// Writes an element as a rule left it.
    private mutating func write(_ outcome: Rewriter.Outcome, head: ElementHead, value: ByteBuffer) {
        switch outcome {
        case .unchanged, .doNotDescend:
            if head.tag.isGroupLength && value.readableBytes == 4 && keepDepth == 0 {
                levels[top].group = GroupLength(group: head.tag.group, valuePosition: position + head.headerLength,
                                                start: position + head.headerLength + 4, bigEndian: head.encoding.isBigEndian)
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
    }

    /// Rewrites inside a sequence sent as UN; false when the rule on the sequence itself decides
    /// (`keep`, `remove`, `empty` towards the SCP).
    private mutating func unknownSequence(_ head: ElementHead, value: ByteBuffer, rule: AttributeRule?) -> Bool {
        let path = levels[top].path + head.tag.description
        if direction == .towardsAcceptor, let action = rule?.action, !action.substitutesValue { return false }
        // A private or unknown attribute is looked into only when it starts like an item.
        let isStandardSequence = isUnknownSequence(head)
        if !isStandardSequence {
            guard value.readableBytes >= 8, value.getInteger(at: value.readerIndex, endianness: .little, as: UInt32.self) == 0xE000_FFFE
            else { return false }
        }
        var nested = DatasetRewriteStream(rewriter: rewriter, direction: direction, holdLimit: .max, purpose: purpose == .query ? .query : .other,
                                          defaultIssuer: defaultIssuer)
        nested.log = log
        nested.levels[0] = Level(characterSet: levels[top].characterSet, path: levels[top].path, sequenceTag: head.tag,
                                 sequencePath: path)
        nested.containers = [Container(isSequence: true, lengthPosition: nil, valueStart: 0, bigEndian: false,
                                       delimiterBigEndian: false, level: 0)]
        var parser = DatasetParser(itemsOf: head.tag, encoding: .implicitLittleEndian, options: rewriter.decodingOptions,
                                   depth: levels.count - 1)
        parser.append(value)
        parser.finish()
        do throws(DICOMDecodingError) {
            try parser.parse(into: &nested)
        } catch {
            guard direction == .towardsAcceptor, isStandardSequence else { return false }
            changed()
            log.notes.append(RewriteNote(kind: .emptied, tag: head.tag, path: path, before: "(\(value.readableBytes) bytes)", after: "",
                                         detail: "a sequence sent as UN that cannot be read as one"))
            writeHeader(head, length: 0)
            return true
        }
        var items = ByteBuffer()
        if nested.failure == nil { items = nested.finish() }
        log = nested.log
        if let failure = nested.failure {
            self.failure = failure
            return true
        }
        guard nested.changedAnything else { return false }
        changed()
        writeHeader(head, length: UInt32(items.readableBytes))
        var out = items
        output.writeBuffer(&out)
        return true
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

    mutating func sequenceStart(_ head: ElementHead, recordedVR: VR, itemEncoding: DatasetEncoding) {
        if dropDepth > 0 {
            dropDepth += 1
            return
        }
        before(head)
        if isMark(head.tag) {
            dropDepth = 1
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

    /// Ends the innermost container: its delimiter as received, or its length now known.
    private mutating func close(delimiter: Tag, length: UInt32?) {
        guard let c = containers.popLast() else { return }
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
        before(head)
        if isMark(head.tag) {
            dropDepth = 1
            return
        }
        enterGroup(head.tag.group)
        let path = levels[top].path + head.tag.description
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

extension RewriteAction {
    /// Whether the action puts a new text in place of the value (only a string can take one).
    var substitutesValue: Bool {
        switch self {
        case .pseudonymize, .map, .replace, .shiftDate: return true
        case .empty, .remove, .keep: return false
        }
    }
}
