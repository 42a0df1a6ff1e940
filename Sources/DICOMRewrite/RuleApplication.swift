import DICOMCore
import NIOCore

/// Where a rule applies, besides the element itself.
struct RuleContext {
    var direction: RewriteDirection
    var characterSet: SpecificCharacterSet
    /// Where the element is, for notes.
    var path: String
    /// The data set is a query's identifier (C-FIND, C-GET, C-MOVE request): a matching key
    /// must keep its meaning at the SCP.
    var isQuery = false
    /// The Issuer of Patient ID whose namespace a Patient ID's pseudonym is made in.
    var issuer: String?
}

/// What applying rules gave besides new values: notes, and the pseudonyms issued that the
/// mapping store does not know yet (committed before the message goes on).
struct RewriteLog {
    var notes: [RewriteNote] = []
    var newRecords: [PseudonymRecord] = []
    /// Every new pseudonym of the data set so far (also those already taken from `newRecords`), to add each once.
    var issued: [String: PseudonymRecord] = [:]
}

extension Rewriter {
    enum Outcome {
        case unchanged
        case replaced(DataElement)
        case removed
        /// `keep`: leave the element and what is inside it.
        case doNotDescend
    }

    /// Applies `rule` to `element`: the one place that knows what each action does.
    func apply(_ rule: AttributeRule, to element: DataElement, context: RuleContext,
               log: inout RewriteLog) throws(RewriteError) -> Outcome {
        let isSequence = element.items != nil
        switch context.direction {
        case .towardsRequestor:
            guard rule.action.isReversible, !isSequence, element.bytes != nil, element.vr.isString else { return .unchanged }
            return try restore(rule, element, context: context, log: &log)
        case .towardsAcceptor:
            if context.isQuery, let widened = widened(rule, element, context: context, log: &log) { return widened }
            switch rule.action {
            case .keep:
                return .doNotDescend
            case .remove:
                log.notes.append(RewriteNote(kind: .removed, tag: element.tag, path: context.path,
                                             before: text(of: element, context.characterSet), after: ""))
                return .removed
            case .empty:
                if element.valueLength == 0 || element.items?.isEmpty == true { return .unchanged }
                log.notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: context.path,
                                             before: text(of: element, context.characterSet), after: ""))
                return .replaced(emptied(element))
            case .replace(let value):
                if isSequence { return .unchanged }
                guard element.vr.isString, var new = DataElement(tag: element.tag, vr: element.vr, string: value,
                                                                 characterSet: context.characterSet,
                                                                 isBigEndian: element.isBigEndian) else {
                    return emptyIt(element, context, log: &log, "the replacement cannot be encoded in VR \(element.vr)")
                }
                new.reservedBytes = element.reservedBytes
                if new.bytes == element.bytes { return .unchanged }
                log.notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: context.path,
                                             before: text(of: element, context.characterSet), after: value))
                return .replaced(new)
            case .pseudonymize, .map, .shiftDate:
                if isSequence { return .unchanged }
                return try forward(rule, element, context: context, log: &log)
            }
        }
    }

    /// In a query, a key the SCP only holds changed beyond recognition (emptied, removed,
    /// replaced, or a wildcard that a pseudonym cannot keep) is sent as universal matching: the
    /// query still runs, wider than asked, and a note says so. Nil when the rule keeps its meaning.
    private func widened(_ rule: AttributeRule, _ element: DataElement, context: RuleContext,
                         log: inout RewriteLog) -> Outcome? {
        let hasValue: Bool
        if let items = element.items { hasValue = !items.isEmpty } else { hasValue = (element.valueLength ?? 0) > 0 }
        guard hasValue else { return nil }
        switch rule.action {
        case .keep, .shiftDate, .map:
            return nil
        case .pseudonymize:
            // A pattern (`12*`, `?`) cannot be matched through a pseudonym; a plain value can.
            guard case .values(let values)? = element.strings(characterSet: context.characterSet),
                  values.contains(where: { !isUniversal($0) && ($0.contains("*") || $0.contains("?")) }) else { return nil }
        case .remove, .empty, .replace:
            break
        }
        log.notes.append(RewriteNote(kind: .widened, tag: element.tag, path: context.path, before: text(of: element, context.characterSet),
                                     after: "", detail: "the query key is sent as universal matching (\(rule.action) at the SCP side); the SCP may return more than was asked"))
        return .replaced(emptied(element))
    }

    private func emptyIt(_ element: DataElement, _ context: RuleContext, log: inout RewriteLog, _ why: String) -> Outcome {
        log.notes.append(RewriteNote(kind: .emptied, tag: element.tag, path: context.path,
                                     before: text(of: element, context.characterSet), after: "", detail: why))
        return .replaced(emptied(element))
    }

    func emptied(_ element: DataElement) -> DataElement {
        var new = element
        new.value = element.items != nil ? .sequence([]) : .bytes(ByteBuffer())
        return new
    }

    func text(of element: DataElement, _ characterSet: SpecificCharacterSet) -> String {
        if element.items != nil { return "(sequence)" }
        guard element.vr.isString else { return "(\(element.valueLength ?? 0) bytes)" }
        switch element.strings(characterSet: characterSet) {
        case .values(let values)?: return values.joined(separator: "\\")
        case .undecodable?, nil: return "(undecodable)"
        }
    }

    /// Values that are left as they are in both directions: empty (universal matching) and `*`.
    func isUniversal(_ value: String) -> Bool {
        value.isEmpty || value.allSatisfy { $0 == "*" }
    }

    /// Pseudonymize, map or shift each value on the way to the SCP.
    private func forward(_ rule: AttributeRule, _ element: DataElement, context: RuleContext,
                         log: inout RewriteLog) throws(RewriteError) -> Outcome {
        guard element.valueLength != 0 else { return .unchanged }
        let characterSet = context.characterSet
        switch rule.action {
        case .map:
            guard element.vr.isString else { return emptyIt(element, context, log: &log, "VR \(element.vr) cannot hold a mapped value") }
        case .shiftDate:
            guard element.vr == .DA || element.vr == .DT else {
                return emptyIt(element, context, log: &log, "VR \(element.vr) is not a date that can be shifted")
            }
        default:
            guard element.vr.isString, Pseudonymizer.maximumCharacters(for: element.vr) != nil else {
                return emptyIt(element, context, log: &log, "VR \(element.vr) cannot hold a pseudonym")
            }
        }
        guard case .values(let values)? = element.strings(characterSet: characterSet) else {
            return emptyIt(element, context, log: &log, "the value cannot be decoded in \(characterSet)")
        }
        var out: [String] = []
        for value in values {
            if isUniversal(value) {
                out.append(value)
                continue
            }
            switch rule.action {
            case .pseudonymize(let format):
                guard let pseudonymizer else {
                    return emptyIt(element, context, log: &log, "no secret key was given (--key-file) to make a pseudonym with")
                }
                let issuer = element.tag == .patientID ? context.issuer : nil
                let pseudonym = pseudonymizer.pseudonym(for: value, vr: element.vr, format: format, issuer: issuer)
                try issue(PseudonymRecord(pseudonym: pseudonym, original: value, vr: element.vr, tag: element.tag, issuer: issuer),
                          log: &log)
                out.append(pseudonym)
            case .map(let table):
                guard let replacement = table.forward[value] else {
                    return emptyIt(element, context, log: &log, "the value is not in \(table.path)")
                }
                out.append(replacement)
            case .shiftDate:
                guard let shift = dateShift,
                      let moved = element.vr == .DA ? shift.shift(date: value) : shift.shift(dateTime: value) else {
                    return emptyIt(element, context, log: &log, "'\(element.vr)' value that is not a full date cannot be shifted")
                }
                out.append(moved)
            case .replace, .empty, .remove, .keep:
                out.append(value)
            }
        }
        guard out != values else { return .unchanged }
        guard var new = DataElement(tag: element.tag, vr: element.vr, strings: out, characterSet: characterSet,
                                    isBigEndian: element.isBigEndian) else {
            return emptyIt(element, context, log: &log, "the new value cannot be encoded in \(characterSet)")
        }
        new.reservedBytes = element.reservedBytes
        log.notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: context.path, before: values.joined(separator: "\\"),
                                     after: out.joined(separator: "\\")))
        return .replaced(new)
    }

    /// A pseudonym about to be sent: a collision with what the store knows fails now; one the
    /// store does not know is added to the message's new records (committed before the message
    /// goes on), at most `maximumNewPseudonyms` of them.
    func issue(_ record: PseudonymRecord, log: inout RewriteLog) throws(RewriteError) {
        if let known = store.cachedRecord(of: record.pseudonym) {
            guard known.isSameOriginal(as: record) else { throw MappingStore.collision(record) }
            return
        }
        if let earlier = log.issued[record.pseudonym] {
            guard earlier.isSameOriginal(as: record) else { throw MappingStore.collision(record) }
            return
        }
        guard log.issued.count < rules.maximumNewPseudonyms else {
            throw RewriteError(.tooManyPseudonyms,
                               "the message would add more than \(rules.maximumNewPseudonyms) new pseudonyms to the mapping store; "
                               + "it is refused (raise max-new-pseudonyms in the rules if this is expected)")
        }
        log.issued[record.pseudonym] = record
        log.newRecords.append(record)
    }

    /// Map pseudonyms (or mapped values, or shifted dates) back to the originals on the way to the SCU.
    private func restore(_ rule: AttributeRule, _ element: DataElement, context: RuleContext,
                         log: inout RewriteLog) throws(RewriteError) -> Outcome {
        let characterSet = context.characterSet
        guard element.valueLength != 0, case .values(let values)? = element.strings(characterSet: characterSet) else {
            return .unchanged
        }
        var out: [String] = []
        var unknown: [String] = []
        for value in values {
            if isUniversal(value) {
                out.append(value)
                continue
            }
            let original: String?
            switch rule.action {
            case .pseudonymize: original = try store.original(of: value)?.original
            case .map(let table): original = table.backward[value]
            case .shiftDate:
                guard let back = dateShift?.inverse else { original = value; break }
                original = (element.vr == .DA ? back.shift(date: value) : element.vr == .DT ? back.shift(dateTime: value) : nil) ?? value
            case .replace, .empty, .remove, .keep: original = value
            }
            if let original {
                out.append(original)
            } else {
                out.append(value)
                unknown.append(value)
            }
        }
        for value in unknown {
            log.notes.append(RewriteNote(kind: .unknownPseudonym, tag: element.tag, path: context.path, before: value, after: value,
                                         detail: "not issued by this proxy; passed through"))
        }
        guard out != values else { return .unchanged }
        guard var new = DataElement(tag: element.tag, vr: element.vr, strings: out, characterSet: characterSet,
                                    isBigEndian: element.isBigEndian) else {
            log.notes.append(RewriteNote(kind: .notRestored, tag: element.tag, path: context.path, before: values.joined(separator: "\\"),
                                         after: values.joined(separator: "\\"),
                                         detail: "the original cannot be encoded in the response's character set \(characterSet)"))
            return .unchanged
        }
        new.reservedBytes = element.reservedBytes
        log.notes.append(RewriteNote(kind: .restored, tag: element.tag, path: context.path, before: values.joined(separator: "\\"),
                                     after: out.joined(separator: "\\")))
        return .replaced(new)
    }
}
