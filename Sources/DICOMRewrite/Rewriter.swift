import DICOMCore
import NIOCore

/// Which way a data set travels through the proxy.
package enum RewriteDirection: String, Sendable, Hashable {
    /// From the SCU towards the SCP: rules apply (originals become pseudonyms).
    case towardsAcceptor
    /// From the SCP towards the SCU: pseudonyms and mapped values become the originals again.
    case towardsRequestor
}

/// One thing the rewriter did or noticed in a data set.
package struct RewriteNote: Sendable, Hashable, CustomStringConvertible {
    package enum Kind: String, Sendable, Hashable {
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
        /// A query key was sent as universal matching (its value would not have matched at the
        /// SCP): the query is wider than the SCU asked.
        case widened
        /// Something was added (the de-identification marks of a stored instance).
        case added
    }

    package var kind: Kind
    package var tag: Tag
    /// Where the element is: its tag, prefixed by enclosing sequences and item numbers.
    package var path: String
    /// The text before (towards the SCP: the original; towards the SCU: the pseudonym).
    package var before: String
    /// The text after (towards the SCP: the pseudonym; towards the SCU: the original).
    package var after: String
    package var detail: String?

    /// The text that travelled on the SCP's side of the proxy.
    package var upstreamValue: String {
        switch kind {
        case .rewritten, .removed, .emptied, .widened, .added: return after
        case .restored, .unknownPseudonym, .notRestored: return before
        }
    }

    /// The text on the SCU's side (the original identifiers).
    package var downstreamValue: String {
        switch kind {
        case .rewritten, .removed, .emptied, .widened, .added: return before
        case .restored, .unknownPseudonym, .notRestored: return after
        }
    }

    package var attributeName: String { DataDictionary.keyword(for: tag) ?? tag.description }

    package var description: String {
        "\(kind.rawValue) \(path) \(attributeName): '\(before)' -> '\(after)'" + (detail.map { " (\($0))" } ?? "")
    }
}

/// Applies `RewriteRules` to data sets: the one place that knows what each action does.
/// Datasets come from the shared `DatasetDecoder` and go back through `DatasetEncoder`, so
/// only rewritten elements change: enclosing item and sequence lengths are recomputed by the
/// encoder, group lengths (gggg,0000) of groups that changed are recomputed here, and every
/// other element keeps its exact bytes. Thread-safe (the store serialises itself).
package final class Rewriter: Sendable {
    package let rules: RewriteRules
    package let store: any PseudonymStore
    let pseudonymizer: Pseudonymizer?
    /// What `shift-date` moves dates by (the rules' days, else derived from the key).
    package let dateShift: DateShift?
    package let decodingOptions: DecodingOptions
    /// What is weak but accepted in the configuration (the key's warnings), for the caller to show.
    package let warnings: [String]

    /// `key` is needed when a rule pseudonymizes.
    package init(rules: RewriteRules, key: SecretKey?, store: any PseudonymStore = MappingStore(),
                decodingOptions: DecodingOptions = .lenient) throws(RewriteError) {
        if rules.needsKey && key == nil {
            throw RewriteError(.keyFile, "pseudonymizing needs a secret key: give --key-file FILE (or key-file: in the rules)")
        }
        if let rule = rules.rule(for: .sopInstanceUID) {
            switch rule.action {
            case .remove, .empty, .replace, .shiftDate:
                // The command set would still carry the original (Affected/Requested SOP Instance UID).
                throw RewriteError(.rulesFile, "SOPInstanceUID cannot be given the action \(rule.action.name): a C-STORE's command set "
                                   + "repeats it (Affected SOP Instance UID), so it can only be pseudonymized, mapped or kept",
                                   location: rule.source)
            case .pseudonymize, .map, .keep:
                break
            }
        }
        self.rules = rules
        self.store = store
        pseudonymizer = key.map(Pseudonymizer.init)
        dateShift = rules.dateShiftDays.map(DateShift.init(days:)) ?? key.map(DateShift.init(key:))
        self.decodingOptions = decodingOptions
        warnings = key?.warnings ?? []
    }

    /// Reads the key file and opens the mapping store the rules name (a SQLite file; a database URL
    /// needs `store`, opened by the caller: `DICOMMappingPostgres`).
    package static func open(rules: RewriteRules, defaultMappingStore: String = Rewriter.defaultMappingStore,
                             store given: (any PseudonymStore)? = nil) throws(RewriteError) -> Rewriter {
        var key: SecretKey?
        if let keyFile = rules.keyFile {
            key = try SecretKey(contentsOfFile: keyFile)
        }
        let store: any PseudonymStore
        if let given {
            store = given
        } else if rules.usesMappingStore {
            let location = rules.mappingStore ?? defaultMappingStore
            guard !MappingStore.isDatabaseURL(location) else {
                throw RewriteError(.mappingStore, "the mapping store \(location) is a database: it is opened by the command, not here")
            }
            store = try MappingStore(path: location)
        } else {
            store = MappingStore()
        }
        return try Rewriter(rules: rules, key: key, store: store)
    }

    /// The SQLite file used when the rules pseudonymize and name no mapping store.
    package static let defaultMappingStore = "dicomtap-pseudonyms.sqlite"

    /// The pseudonym the proxy sends for `value` under `rule` (nil when the rule does not pseudonymize).
    package func pseudonym(for value: String, rule: AttributeRule, vr: VR? = nil) -> String? {
        guard case .pseudonymize(let format) = rule.action, let pseudonymizer else { return nil }
        return pseudonymizer.pseudonym(for: value, vr: vr ?? DataDictionary.vr(for: rule.tag) ?? .LO, format: format)
    }

    // MARK: Data sets

    /// Rewrites an encoded data set (as carried in P-DATA) in `transferSyntax`: inflated and
    /// deflated again for Deflated Explicit VR Little Endian. Returns nil when nothing changed
    /// (the original bytes stay valid). The same element-by-element rewrite the proxy streams
    /// (`DatasetRewriteStream`), on a whole data set.
    package func rewrite(dataSet bytes: ByteBuffer, transferSyntax: TransferSyntax, direction: RewriteDirection,
                        purpose: DataSetPurpose = .other, notes: inout [RewriteNote]) throws(RewriteError) -> ByteBuffer? {
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
                                    purpose: purpose, notes: &notes, name: transferSyntax.name) else { return nil }
        guard transferSyntax.isDeflated else { return out }
        do throws(DICOMDecodingError) {
            return try Deflate.deflate(out)
        } catch {
            throw RewriteError(.unencodable, "the rewritten data set cannot be deflated: \(error)")
        }
    }

    /// Rewrites `dataset` in place (encoded, rewritten, read back); true when anything changed.
    package func rewrite(_ dataset: inout Dataset, direction: RewriteDirection, characterSet: SpecificCharacterSet = .default,
                        purpose: DataSetPurpose = .other, notes: inout [RewriteNote]) throws(RewriteError) -> Bool {
        if direction == .towardsRequestor && !rules.reverseMap { return false }
        let encoded: ByteBuffer
        do throws(DICOMDecodingError) {
            encoded = try DatasetEncoder().encode(dataset)
        } catch {
            throw RewriteError(.unencodable, "the data set cannot be encoded: \(error)")
        }
        guard let out = try rewrite(plain: encoded, encoding: dataset.encoding, characterSet: characterSet, direction: direction,
                                    purpose: purpose, notes: &notes, name: "\(dataset.encoding)") else { return false }
        do throws(DICOMDecodingError) {
            dataset = try DatasetDecoder(options: decodingOptions).decode(out, encoding: dataset.encoding)
        } catch {
            throw RewriteError(.unencodable, "the rewritten data set cannot be read back: \(error)")
        }
        return true
    }

    /// Rewrites a whole data set; the new pseudonyms are committed to the mapping store before it returns.
    private func rewrite(plain: ByteBuffer, encoding: DatasetEncoding, characterSet: SpecificCharacterSet,
                         direction: RewriteDirection, purpose: DataSetPurpose, notes: inout [RewriteNote],
                         name: String) throws(RewriteError) -> ByteBuffer? {
        var stream = DatasetRewriteStream(rewriter: self, direction: direction, holdLimit: .max, characterSet: characterSet,
                                          purpose: purpose)
        do throws(DICOMDecodingError) {
            try DatasetParser.parse(plain, encoding: encoding, options: decodingOptions, into: &stream)
        } catch {
            notes += stream.takeNotes()
            throw RewriteError(.dataSet, "the data set (\(name)) cannot be decoded: \(error)")
        }
        if let failure = stream.failure {
            notes += stream.takeNotes()
            throw failure
        }
        let out = stream.finish()
        notes += stream.takeNotes()
        if let failure = stream.failure { throw failure }
        try store.commit(stream.takeRecords())
        return stream.changedAnything ? out : nil
    }

    /// A command set with the UIDs that repeat a data set's value (Affected and Requested SOP
    /// Instance UID, (0000,1000) and (0000,1001)) rewritten by SOP Instance UID's rule, when it
    /// pseudonymizes or maps; nil when nothing changed. The new pseudonyms are added to `records`.
    package func rewrite(commandSet bytes: ByteBuffer, direction: RewriteDirection, notes: inout [RewriteNote],
                        records: inout [PseudonymRecord]) throws(RewriteError) -> ByteBuffer? {
        if direction == .towardsRequestor && !rules.reverseMap { return nil }
        guard let rule = rules.rule(for: .sopInstanceUID), rule.action.isReversible else { return nil }
        var stream = DatasetRewriteStream(rewriter: self, direction: direction, holdLimit: .max, purpose: .command)
        do throws(DICOMDecodingError) {
            try DatasetParser.parse(bytes, encoding: .implicitLittleEndian, options: decodingOptions, into: &stream)
        } catch {
            throw RewriteError(.dataSet, "the command set cannot be decoded: \(error)")
        }
        if let failure = stream.failure { throw failure }
        let out = stream.finish()
        if let failure = stream.failure { throw failure }
        notes += stream.takeNotes()
        records += stream.takeRecords()
        return stream.changedAnything ? out : nil
    }
}
