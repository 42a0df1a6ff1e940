import DICOMCore
import DIMSE
import NIOCore

// MARK: - Which rule applies to an element, and what the rules may look into

extension DatasetRewriteStream {
    /// The rule for an element at the current level: its own or its repeating group's, else the
    /// private-attribute policy's (towards the SCP).
    func rule(for tag: Tag) -> AttributeRule? {
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

    func context(path: String, issuer: String? = nil) -> RuleContext {
        RuleContext(direction: direction, characterSet: levels[top].characterSet, path: path, isQuery: purpose == .query,
                    issuer: issuer)
    }

    /// Applies a rule to a whole element; a failure stops the stream.
    mutating func apply(_ rule: AttributeRule, to element: DataElement, issuer: String? = nil) -> Rewriter.Outcome? {
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
    mutating func flushPatientID(issuer: String? = nil) {
        guard let pending = pendingPatientID else { return }
        pendingPatientID = nil
        let element = DataElement(tag: pending.head.tag, vr: pending.head.vr, value: .bytes(pending.value),
                                  isBigEndian: pending.head.encoding.isBigEndian, reservedBytes: pending.head.reservedBytes)
        guard let outcome = apply(pending.rule, to: element, issuer: issuer ?? defaultIssuer) else { return }
        write(outcome, head: pending.head, value: pending.value)
    }

    /// The de-identification marks of a stored instance, at the top level before `tag` (nil: at the end).
    mutating func writeMarks(before tag: Tag?) {
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
    func isMark(_ tag: Tag) -> Bool {
        marksPending && levels.count == 1 && tag >= .patientIdentityRemoved && tag <= .deidentificationMethodCodeSequence
    }

    /// A sequence sent as UN (CP-246).
    func isUnknownSequence(_ head: ElementHead) -> Bool {
        head.vr == .UN && head.encoding.isExplicitVR && !head.tag.isPrivate && DataDictionary.vr(for: head.tag) == .SQ
    }

    /// A value of defined length the decoder cannot see into that may be a sequence (PS3.5
    /// §6.2.2): a sequence sent as UN, or a private or unknown attribute in implicit VR or as UN
    /// that the rules keep (its content is looked into as an implicit VR sequence, as toolkits do).
    func mayHoldSequence(_ head: ElementHead, rule: AttributeRule?) -> Bool {
        guard head.vr == .UN, head.length != nil else { return false }
        if isUnknownSequence(head) { return true }
        guard head.tag.isPrivate || DataDictionary.vr(for: head.tag) == nil else { return false }
        switch rule?.action {
        case nil, .pseudonymize?, .map?, .replace?, .shiftDate?: return true
        case .keep?, .remove?, .empty?: return false
        }
    }

    /// Rewrites inside a sequence sent as UN; false when the rule on the sequence itself decides
    /// (`keep`, `remove`, `empty` towards the SCP).
    mutating func unknownSequence(_ head: ElementHead, value: ByteBuffer, rule: AttributeRule?) -> Bool {
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
}
