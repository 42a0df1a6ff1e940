import DICOMCore
import NIOCore

/// Which way a data set travels through the proxy.
public enum RewriteDirection: String, Sendable, Hashable {
    /// From the SCU towards the SCP: rules apply (originals become pseudonyms).
    case towardsAcceptor
    /// From the SCP towards the SCU: pseudonyms and mapped values become the originals again.
    case towardsRequestor
}

/// One thing the rewriter did or noticed in a data set.
public struct RewriteNote: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// A value was rewritten on its way to the SCP.
        case rewritten
        /// An element was removed on its way to the SCP.
        case removed
        /// A pseudonym (or mapped value) was mapped back to its original for the SCU.
        case restored
        /// A value in a pseudonymized attribute coming from the SCP is not a pseudonym this
        /// proxy issued: passed through unchanged.
        case unknownPseudonym
        /// A value could not be rewritten as asked and was emptied instead (no map entry, a VR
        /// that cannot hold a pseudonym, undecodable text), so that it does not leak.
        case emptied
        /// A pseudonym could not be mapped back (the original is not representable in the
        /// response's character set): passed through unchanged.
        case notRestored
    }

    public var kind: Kind
    public var tag: Tag
    /// Where the element is: its tag, prefixed by enclosing sequences and item numbers.
    public var path: String
    /// The text before (towards the SCP: the original; towards the SCU: the pseudonym).
    public var before: String
    /// The text after (towards the SCP: the pseudonym; towards the SCU: the original).
    public var after: String
    public var detail: String?

    public init(kind: Kind, tag: Tag, path: String, before: String, after: String, detail: String? = nil) {
        self.kind = kind
        self.tag = tag
        self.path = path
        self.before = before
        self.after = after
        self.detail = detail
    }

    /// The text that travelled on the SCP's side of the proxy.
    public var upstreamValue: String {
        switch kind {
        case .rewritten, .removed, .emptied: return after
        case .restored, .unknownPseudonym, .notRestored: return before
        }
    }

    /// The text on the SCU's side (the original identifiers).
    public var downstreamValue: String {
        switch kind {
        case .rewritten, .removed, .emptied: return before
        case .restored, .unknownPseudonym, .notRestored: return after
        }
    }

    public var attributeName: String { DataDictionary.keyword(for: tag) ?? tag.description }

    public var description: String {
        "\(kind.rawValue) \(path) \(attributeName): '\(before)' -> '\(after)'" + (detail.map { " (\($0))" } ?? "")
    }
}

/// Applies `RewriteRules` to data sets: the one place that knows what each action does.
/// Datasets come from the shared `DatasetDecoder` and go back through `DatasetEncoder`, so
/// only rewritten elements change: enclosing item and sequence lengths are recomputed by the
/// encoder, group lengths (gggg,0000) of groups that changed are recomputed here, and every
/// other element keeps its exact bytes. Thread-safe (the store serialises itself).
public final class Rewriter: Sendable {
    public let rules: RewriteRules
    public let store: MappingStore
    private let pseudonymizer: Pseudonymizer?
    public let decodingOptions: DecodingOptions
    /// What is weak but accepted in the configuration (the key's warnings), for the caller to show.
    public let warnings: [String]

    /// `key` is needed when a rule pseudonymizes.
    public init(rules: RewriteRules, key: SecretKey?, store: MappingStore = MappingStore(),
                decodingOptions: DecodingOptions = .lenient) throws(RewriteError) {
        if rules.needsKey && key == nil {
            throw RewriteError(.keyFile, "pseudonymizing needs a secret key: give --key-file FILE (or key-file: in the rules)")
        }
        self.rules = rules
        self.store = store
        pseudonymizer = key.map(Pseudonymizer.init)
        self.decodingOptions = decodingOptions
        warnings = key?.warnings ?? []
    }

    /// Reads the key file and opens the mapping store the rules name.
    public static func open(rules: RewriteRules, defaultMappingStore: String = "dicomtap-pseudonyms.sqlite") throws(RewriteError) -> Rewriter {
        var key: SecretKey?
        if let keyFile = rules.keyFile {
            key = try SecretKey(contentsOfFile: keyFile)
        }
        let usesStore = rules.attributes.values.contains { if case .pseudonymize = $0.action { return true } else { return false } }
        let store = usesStore ? try MappingStore(path: rules.mappingStore ?? defaultMappingStore) : MappingStore()
        return try Rewriter(rules: rules, key: key, store: store)
    }

    /// The pseudonym the proxy sends for `value` under `rule` (nil when the rule does not pseudonymize).
    public func pseudonym(for value: String, rule: AttributeRule, vr: VR? = nil) -> String? {
        guard case .pseudonymize(let format) = rule.action, let pseudonymizer else { return nil }
        return pseudonymizer.pseudonym(for: value, vr: vr ?? DataDictionary.vr(for: rule.tag) ?? .LO, format: format)
    }

    // MARK: Data sets

    /// Rewrites an encoded data set (as carried in P-DATA) in `transferSyntax`: inflated and
    /// deflated again for Deflated Explicit VR Little Endian. Returns nil when nothing changed
    /// (the original bytes stay valid). The same element-by-element rewrite the proxy streams
    /// (`DatasetRewriteStream`), on a whole data set.
    public func rewrite(dataSet bytes: ByteBuffer, transferSyntax: TransferSyntax, direction: RewriteDirection,
                        notes: inout [RewriteNote]) throws(RewriteError) -> ByteBuffer? {
        if direction == .towardsRequestor && !rules.reverseMap { return nil }
        var plain = bytes
        if transferSyntax.isDeflated {
            do throws(DICOMDecodingError) {
                plain = try Deflate.inflate(bytes, maxSize: decodingOptions.maxInflatedSize, offset: 0)
            } catch {
                throw RewriteError(.dataSet, "the data set (\(transferSyntax.name)) cannot be inflated: \(error)")
            }
        }
        guard let out = try rewrite(plain: plain, encoding: transferSyntax.encoding, characterSet: .default, direction: direction,
                                    notes: &notes, name: transferSyntax.name) else { return nil }
        guard transferSyntax.isDeflated else { return out }
        do throws(DICOMDecodingError) {
            return try Deflate.deflate(out)
        } catch {
            throw RewriteError(.unencodable, "the rewritten data set cannot be deflated: \(error)")
        }
    }

    /// Rewrites `dataset` in place (encoded, rewritten, read back); true when anything changed.
    public func rewrite(_ dataset: inout Dataset, direction: RewriteDirection, characterSet: SpecificCharacterSet = .default,
                        notes: inout [RewriteNote]) throws(RewriteError) -> Bool {
        if direction == .towardsRequestor && !rules.reverseMap { return false }
        let encoded: ByteBuffer
        do throws(DICOMDecodingError) {
            encoded = try DatasetEncoder().encode(dataset)
        } catch {
            throw RewriteError(.unencodable, "the data set cannot be encoded: \(error)")
        }
        guard let out = try rewrite(plain: encoded, encoding: dataset.encoding, characterSet: characterSet, direction: direction,
                                    notes: &notes, name: "\(dataset.encoding)") else { return false }
        do throws(DICOMDecodingError) {
            dataset = try DatasetDecoder(options: decodingOptions).decode(out, encoding: dataset.encoding)
        } catch {
            throw RewriteError(.unencodable, "the rewritten data set cannot be read back: \(error)")
        }
        return true
    }

    private func rewrite(plain: ByteBuffer, encoding: DatasetEncoding, characterSet: SpecificCharacterSet,
                         direction: RewriteDirection, notes: inout [RewriteNote], name: String) throws(RewriteError) -> ByteBuffer? {
        var stream = DatasetRewriteStream(rewriter: self, direction: direction, holdLimit: .max, characterSet: characterSet)
        do throws(DICOMDecodingError) {
            try DatasetParser.parse(plain, encoding: encoding, options: decodingOptions, into: &stream)
        } catch {
            notes += stream.takeNotes()
            throw RewriteError(.dataSet, "the data set (\(name)) cannot be decoded: \(error)")
        }
        notes += stream.takeNotes()
        if let failure = stream.failure { throw failure }
        let out = stream.finish()
        return stream.changedAnything ? out : nil
    }

    enum Outcome {
        case unchanged
        case replaced(DataElement)
        case removed
        /// `keep`: leave the element and what is inside it.
        case doNotDescend
    }

    func apply(_ rule: AttributeRule, to element: DataElement, direction: RewriteDirection,
                       characterSet: SpecificCharacterSet, path: String,
                       notes: inout [RewriteNote]) throws(RewriteError) -> Outcome {
        let isSequence = element.items != nil
        switch direction {
        case .towardsRequestor:
            guard rule.action.isReversible, !isSequence, element.bytes != nil, element.vr.isString else { return .unchanged }
            return try restore(rule, element, characterSet: characterSet, path: path, notes: &notes)
        case .towardsAcceptor:
            switch rule.action {
            case .keep:
                return .doNotDescend
            case .remove:
                notes.append(RewriteNote(kind: .removed, tag: element.tag, path: path, before: text(of: element, characterSet),
                                         after: ""))
                return .removed
            case .empty:
                if element.valueLength == 0 || element.items?.isEmpty == true { return .unchanged }
                notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: path, before: text(of: element, characterSet),
                                         after: ""))
                return .replaced(emptied(element))
            case .replace(let value):
                if isSequence { return .unchanged }
                guard element.vr.isString, var new = DataElement(tag: element.tag, vr: element.vr, string: value,
                                                                 characterSet: characterSet,
                                                                 isBigEndian: element.isBigEndian) else {
                    notes.append(RewriteNote(kind: .emptied, tag: element.tag, path: path, before: text(of: element, characterSet),
                                             after: "", detail: "the replacement cannot be encoded in VR \(element.vr)"))
                    return .replaced(emptied(element))
                }
                new.reservedBytes = element.reservedBytes
                if new.bytes == element.bytes { return .unchanged }
                notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: path, before: text(of: element, characterSet),
                                         after: value))
                return .replaced(new)
            case .pseudonymize, .map:
                if isSequence { return .unchanged }
                return try forward(rule, element, characterSet: characterSet, path: path, notes: &notes)
            }
        }
    }

    private func emptied(_ element: DataElement) -> DataElement {
        var new = element
        new.value = element.items != nil ? .sequence([]) : .bytes(ByteBuffer())
        return new
    }

    private func text(of element: DataElement, _ characterSet: SpecificCharacterSet) -> String {
        if element.items != nil { return "(sequence)" }
        guard element.vr.isString else { return "(\(element.valueLength ?? 0) bytes)" }
        switch element.strings(characterSet: characterSet) {
        case .values(let values)?: return values.joined(separator: "\\")
        case .undecodable?, nil: return "(undecodable)"
        }
    }

    /// Values that are left as they are in both directions: empty (universal matching) and `*`.
    private func isUniversal(_ value: String) -> Bool {
        value.isEmpty || value.allSatisfy { $0 == "*" }
    }

    /// Pseudonymize or map each value on the way to the SCP.
    private func forward(_ rule: AttributeRule, _ element: DataElement, characterSet: SpecificCharacterSet, path: String,
                         notes: inout [RewriteNote]) throws(RewriteError) -> Outcome {
        guard element.valueLength != 0 else { return .unchanged }
        func emptyIt(_ why: String) -> Outcome {
            notes.append(RewriteNote(kind: .emptied, tag: element.tag, path: path, before: text(of: element, characterSet),
                                     after: "", detail: why))
            return .replaced(emptied(element))
        }
        let isMap: Bool
        if case .map = rule.action { isMap = true } else { isMap = false }
        guard element.vr.isString, isMap || Pseudonymizer.maximumCharacters(for: element.vr) != nil else {
            return emptyIt("VR \(element.vr) cannot hold a \(isMap ? "mapped value" : "pseudonym")")
        }
        guard case .values(let values)? = element.strings(characterSet: characterSet) else {
            return emptyIt("the value cannot be decoded in \(characterSet)")
        }
        var out: [String] = []
        for value in values {
            if isUniversal(value) {
                out.append(value)
                continue
            }
            switch rule.action {
            case .pseudonymize(let format):
                guard let pseudonymizer else { return emptyIt("no key") }
                let pseudonym = pseudonymizer.pseudonym(for: value, vr: element.vr, format: format)
                try store.issued(PseudonymRecord(pseudonym: pseudonym, original: value, vr: element.vr, tag: element.tag))
                out.append(pseudonym)
            case .map(let table):
                guard let replacement = table.forward[value] else { return emptyIt("the value is not in \(table.path)") }
                out.append(replacement)
            case .replace, .empty, .remove, .keep:
                out.append(value)
            }
        }
        guard out != values else { return .unchanged }
        guard var new = DataElement(tag: element.tag, vr: element.vr, strings: out, characterSet: characterSet,
                                    isBigEndian: element.isBigEndian) else {
            return emptyIt("the new value cannot be encoded in \(characterSet)")
        }
        new.reservedBytes = element.reservedBytes
        notes.append(RewriteNote(kind: .rewritten, tag: element.tag, path: path, before: values.joined(separator: "\\"),
                                 after: out.joined(separator: "\\")))
        return .replaced(new)
    }

    /// Map pseudonyms (or mapped values) back to the originals on the way to the SCU.
    private func restore(_ rule: AttributeRule, _ element: DataElement, characterSet: SpecificCharacterSet, path: String,
                         notes: inout [RewriteNote]) throws(RewriteError) -> Outcome {
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
            notes.append(RewriteNote(kind: .unknownPseudonym, tag: element.tag, path: path, before: value, after: value,
                                     detail: "not issued by this proxy; passed through"))
        }
        guard out != values else { return .unchanged }
        guard var new = DataElement(tag: element.tag, vr: element.vr, strings: out, characterSet: characterSet,
                                    isBigEndian: element.isBigEndian) else {
            notes.append(RewriteNote(kind: .notRestored, tag: element.tag, path: path, before: values.joined(separator: "\\"),
                                     after: values.joined(separator: "\\"),
                                     detail: "the original cannot be encoded in the response's character set \(characterSet)"))
            return .unchanged
        }
        new.reservedBytes = element.reservedBytes
        notes.append(RewriteNote(kind: .restored, tag: element.tag, path: path, before: values.joined(separator: "\\"),
                                 after: out.joined(separator: "\\")))
        return .replaced(new)
    }
}
