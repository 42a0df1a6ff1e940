import DICOMCore

/// What happens to one attribute on its way to the SCP.
public enum RewriteAction: Sendable, Hashable, CustomStringConvertible {
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

    public var name: String {
        switch self {
        case .pseudonymize: return "pseudonymize"
        case .map: return "map"
        case .replace: return "replace"
        case .empty: return "empty"
        case .remove: return "remove"
        case .keep: return "keep"
        }
    }

    public var description: String { name }

    /// Whether responses towards the SCU are mapped back through this action.
    public var isReversible: Bool {
        switch self {
        case .pseudonymize, .map: return true
        case .replace, .empty, .remove, .keep: return false
        }
    }
}

/// One rule: the attribute (by tag; written in the rules by keyword or as `(gggg,eeee)`) and its action.
/// Rules apply at any depth, inside sequence items too.
public struct AttributeRule: Sendable, Hashable {
    public var tag: Tag
    public var action: RewriteAction
    /// Where the rule was written (`file:line`), for messages.
    public var source: String?

    public init(tag: Tag, action: RewriteAction, source: String? = nil) {
        self.tag = tag
        self.action = action
        self.source = source
    }

    /// The attribute's keyword when the dictionary has one, else its tag.
    public var attributeName: String { DataDictionary.keyword(for: tag) ?? tag.description }
}

/// AE title substitutions in A-ASSOCIATE-RQ (and back in the A-ASSOCIATE-AC, which echoes them).
/// Keys and values are compared without leading and trailing spaces (PS3.8 §9.3.2).
public struct AETitleRules: Sendable, Hashable {
    /// Called AE title sent by the SCU → called AE title sent to the SCP.
    public var called: [String: String]
    /// Calling AE title sent by the SCU → calling AE title sent to the SCP.
    public var calling: [String: String]

    public init(called: [String: String] = [:], calling: [String: String] = [:]) {
        self.called = called
        self.calling = calling
    }

    public var isEmpty: Bool { called.isEmpty && calling.isEmpty }
}

/// The complete rewriting configuration: attribute rules, AE titles and where the secrets and
/// the mapping live. Built from a YAML rules file (`RewriteRulesLoader`) and/or command-line flags.
public struct RewriteRules: Sendable, Hashable {
    /// By tag; at most one rule per tag (the last one given wins).
    public private(set) var attributes: [Tag: AttributeRule] = [:]
    public var aeTitles = AETitleRules()
    /// Responses towards the SCU are mapped back to the originals (default true).
    public var reverseMap = true
    /// The secret key file for `pseudonymize` (see `SecretKey`: 32 random bytes, owned by the user, mode 0600 or 0400).
    public var keyFile: String?
    /// The SQLite file of pseudonym → original (created with mode 0600).
    public var mappingStore: String?

    public init() {}

    public mutating func add(_ rule: AttributeRule) {
        attributes[rule.tag] = rule
    }

    /// Rules in tag order.
    public var orderedRules: [AttributeRule] { attributes.values.sorted { $0.tag < $1.tag } }

    public var needsKey: Bool {
        attributes.values.contains { if case .pseudonymize = $0.action { return true } else { return false } }
    }

    public var isEmpty: Bool { attributes.isEmpty && aeTitles.isEmpty }

    /// Responses towards the SCU get original identifiers back: whoever can associate with the
    /// proxy can read them (the reason for `--allow`).
    public var mapsOriginalsBack: Bool {
        reverseMap && attributes.values.contains { $0.action.isReversible }
    }

    /// Merges `other` into these rules (its rules and settings win).
    public mutating func merge(_ other: RewriteRules) {
        for rule in other.attributes.values { add(rule) }
        aeTitles.called.merge(other.aeTitles.called) { $1 }
        aeTitles.calling.merge(other.aeTitles.calling) { $1 }
        if other.keyFile != nil { keyFile = other.keyFile }
        if other.mappingStore != nil { mappingStore = other.mappingStore }
        reverseMap = other.reverseMap
    }

    /// Resolves an attribute written by keyword (`PatientID`) or tag (`(0010,0020)`, `00100020`, `0010,0020`).
    public static func tag(named name: String) -> Tag? {
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
