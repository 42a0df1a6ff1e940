import DICOMCore

/// What happens to one attribute on its way to the SCP.
package enum RewriteAction: Sendable, Hashable, CustomStringConvertible {
    /// Each value becomes its keyed pseudonym (see `Pseudonymizer`); mapped back in responses.
    case pseudonymize(PseudonymFormat)
    /// Each value is replaced through an explicit table (original → replacement, from a CSV
    /// file); mapped back in responses. A value missing from the table is emptied.
    case map(ValueMap)
    /// The whole value becomes this fixed text.
    case replace(String)
    /// The element stays, with no value (a C-FIND return key stays a return key).
    case empty
    /// The element goes.
    case remove
    /// The element is passed unchanged (and a sequence is not descended into).
    case keep
    /// A DA or DT value is moved by the rules' date shift (a whole number of days); moved back
    /// in responses. Any other VR is emptied.
    case shiftDate

    package var name: String {
        switch self {
        case .pseudonymize: return "pseudonymize"
        case .map: return "map"
        case .replace: return "replace"
        case .empty: return "empty"
        case .remove: return "remove"
        case .keep: return "keep"
        case .shiftDate: return "shift-date"
        }
    }

    package var description: String { name }

    /// Whether responses towards the SCU are mapped back through this action.
    package var isReversible: Bool {
        switch self {
        case .pseudonymize, .map, .shiftDate: return true
        case .replace, .empty, .remove, .keep: return false
        }
    }
}

/// One rule: the attribute (by tag; written in the rules by keyword or as `(gggg,eeee)`) and its action.
/// Rules apply at any depth, inside sequence items too.
package struct AttributeRule: Sendable, Hashable {
    package var tag: Tag
    package var action: RewriteAction
    /// Where the rule was written (`file:line`), for messages.
    package var source: String?

    package init(tag: Tag, action: RewriteAction, source: String? = nil) {
        self.tag = tag
        self.action = action
        self.source = source
    }

    /// The attribute's keyword when the dictionary has one, else its tag.
    package var attributeName: String { DataDictionary.keyword(for: tag) ?? tag.description }
}

/// AE title substitutions in A-ASSOCIATE-RQ (and back in the A-ASSOCIATE-AC, which echoes them).
/// Keys and values are compared without leading and trailing spaces (PS3.8 §9.3.2).
package struct AETitleRules: Sendable, Hashable {
    /// Called AE title sent by the SCU → called AE title sent to the SCP.
    package var called: [String: String]
    /// Calling AE title sent by the SCU → calling AE title sent to the SCP.
    package var calling: [String: String]

    package init(called: [String: String] = [:], calling: [String: String] = [:]) {
        self.called = called
        self.calling = calling
    }

    package var isEmpty: Bool { called.isEmpty && calling.isEmpty }
}

/// The complete rewriting configuration: attribute rules, AE titles and where the secrets and
/// the mapping live. Built from a YAML rules file (`RewriteRulesLoader`) and/or command-line flags.
package struct RewriteRules: Sendable, Hashable {
    /// By tag; at most one rule per tag (the last one given wins).
    package private(set) var attributes: [Tag: AttributeRule] = [:]
    /// Rules for repeating groups (`(50xx,xxxx)`, `(60xx,3000)`), looked up when no tag rule applies.
    package var patterns: [PatternRule] = []
    /// What happens to private attributes (odd groups) no rule names.
    package var privateAttributes: PrivateAttributePolicy = .keep
    /// The private attributes `keep-safe` keeps (PS3.15 Table E.3.10-1).
    package var safePrivate: Set<SafePrivateAttribute> = []
    /// The de-identification profile the rules implement, recorded in stored instances.
    package var profile: DeidentificationProfile?
    /// Named rule sets that can be switched on (the profile's options), by name.
    package var optionSets: [String: ProfileOption] = [:]
    /// The option sets switched on, in the order they were.
    package private(set) var enabledOptions: [String] = []
    /// Issuer of Patient ID assumed for data sets without one, by calling AE title: Patient IDs
    /// are then pseudonymized within that issuer's namespace.
    package var defaultIssuers: [String: String] = [:]
    /// Days `shift-date` moves dates by; nil: derived from the key.
    package var dateShiftDays: Int?
    /// Most new pseudonyms one message may add to the mapping store (a message past it is refused).
    package var maximumNewPseudonyms = RewriteRules.defaultMaximumNewPseudonyms
    package static let defaultMaximumNewPseudonyms = 10_000
    package var aeTitles = AETitleRules()
    /// Responses towards the SCU are mapped back to the originals (default true).
    package var reverseMap = true
    /// The secret key file for `pseudonymize` (see `SecretKey`: 32 random bytes, owned by the user, mode 0600 or 0400).
    package var keyFile: String?
    /// The SQLite file of pseudonym → original (created with mode 0600), or a PostgreSQL URL.
    package var mappingStore: String?

    /// Whether a rule pseudonymizes (and so needs a mapping store).
    package var usesMappingStore: Bool {
        attributes.values.contains { if case .pseudonymize = $0.action { return true } else { return false } }
            || patterns.contains { if case .pseudonymize? = $0.action { return true } else { return false } }
    }

    package init() {}

    package mutating func add(_ rule: AttributeRule) {
        attributes[rule.tag] = rule
    }

    /// Drops the rule for `tag` (the element is kept, a sequence still gets the rules inside).
    package mutating func retain(_ tag: Tag) {
        attributes[tag] = nil
    }

    /// The rule for a public attribute: its own, else a repeating group's.
    package func rule(for tag: Tag) -> AttributeRule? {
        if let rule = attributes[tag] { return rule }
        for pattern in patterns where pattern.matches(tag) { return AttributeRule(tag: tag, action: pattern.action!, source: pattern.source) }
        return nil
    }

    /// Switches on the option set `name`: its rules replace the profile's for the attributes it names.
    package mutating func enable(option name: String) throws(RewriteError) {
        guard let option = optionSets[name] else {
            let known = optionSets.keys.sorted().joined(separator: ", ")
            throw RewriteError(.rulesFile, "unknown profile option '\(name)'" + (known.isEmpty ? ": the rules define none" : " (the rules define: \(known))"))
        }
        guard !enabledOptions.contains(name) else { return }
        for other in enabledOptions {
            if let conflict = optionSets[other]?.excludes, conflict.contains(name) {
                throw RewriteError(.rulesFile, "profile options '\(other)' and '\(name)' cannot both be on")
            }
        }
        if option.excludes.contains(where: enabledOptions.contains) {
            throw RewriteError(.rulesFile, "profile option '\(name)' cannot be on with '\(option.excludes.filter(enabledOptions.contains).joined(separator: "', '"))'")
        }
        for change in option.changes {
            if let action = change.action {
                add(AttributeRule(tag: change.tag, action: action, source: change.source))
            } else {
                retain(change.tag)
            }
        }
        for change in option.patternChanges {
            patterns.removeAll { $0.mask == change.mask && $0.value == change.value }
            if change.action != nil { patterns.append(change) }
        }
        if let policy = option.privateAttributes { privateAttributes = policy }
        enabledOptions.append(name)
    }
    /// Rules in tag order.
    package var orderedRules: [AttributeRule] { attributes.values.sorted { $0.tag < $1.tag } }

    package var needsKey: Bool {
        attributes.values.contains {
            switch $0.action {
            case .pseudonymize: return true
            case .shiftDate: return dateShiftDays == nil
            default: return false
            }
        }
    }

    package var isEmpty: Bool { attributes.isEmpty && aeTitles.isEmpty }

    /// Responses towards the SCU get original identifiers back: whoever can associate with the
    /// proxy can read them (the reason for `--allow`).
    package var mapsOriginalsBack: Bool {
        reverseMap && (attributes.values.contains { $0.action.isReversible } || patterns.contains { $0.action?.isReversible == true })
    }

    /// Merges `other` into these rules (its rules and settings win).
    package mutating func merge(_ other: RewriteRules) {
        for rule in other.attributes.values { add(rule) }
        patterns += other.patterns
        if other.privateAttributes != .keep { privateAttributes = other.privateAttributes }
        safePrivate.formUnion(other.safePrivate)
        if other.profile != nil { profile = other.profile }
        optionSets.merge(other.optionSets) { $1 }
        defaultIssuers.merge(other.defaultIssuers) { $1 }
        if other.dateShiftDays != nil { dateShiftDays = other.dateShiftDays }
        aeTitles.called.merge(other.aeTitles.called) { $1 }
        aeTitles.calling.merge(other.aeTitles.calling) { $1 }
        if other.keyFile != nil { keyFile = other.keyFile }
        if other.mappingStore != nil { mappingStore = other.mappingStore }
        reverseMap = other.reverseMap
    }

    /// Resolves an attribute written by keyword (`PatientID`) or tag (`(0010,0020)`, `00100020`, `0010,0020`).
    package static func tag(named name: String) -> Tag? {
        let trimmed = name.trimmingCharacters(in: " ")
        if let entry = DataDictionary.entry(keyword: trimmed) { return entry.tag }
        return Tag(parsing: trimmed)
    }
}

extension String {
    /// The string without leading and trailing `set` characters (the proxy trims AE titles with it too).
    package func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
