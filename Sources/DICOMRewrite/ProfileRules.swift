import DICOMCore

/// A rule for a repeating group: every tag with `tag & mask == value` (e.g. `(50xx,xxxx)`: mask
/// 0xFF00_0000, value 0x5000_0000). `action` nil in an option set: the pattern's rule is dropped.
package struct PatternRule: Sendable, Hashable {
    package var mask: UInt32
    package var value: UInt32
    package var action: RewriteAction?
    package var source: String?

    package init(mask: UInt32, value: UInt32, action: RewriteAction?, source: String? = nil) {
        self.mask = mask
        self.value = value
        self.action = action
        self.source = source
    }

    /// Parses `(50xx,xxxx)`: hex digits, `x` for any.
    package init?(pattern text: String, action: RewriteAction?, source: String? = nil) {
        let digits = text.filter { $0 != "(" && $0 != ")" && $0 != "," }.lowercased()
        guard digits.count == 8 else { return nil }
        var mask: UInt32 = 0
        var value: UInt32 = 0
        for c in digits {
            mask <<= 4
            value <<= 4
            if c == "x" { continue }
            guard let v = c.hexDigitValue else { return nil }
            mask |= 0xF
            value |= UInt32(v)
        }
        self.init(mask: mask, value: value, action: action, source: source)
    }

    package func matches(_ tag: Tag) -> Bool { tag.rawValue & mask == value && action != nil }
}

/// What happens to private attributes (odd groups) that no rule names.
package enum PrivateAttributePolicy: String, Sendable, Hashable {
    /// Passed as they are (a sequence still gets the rules inside).
    case keep
    /// Removed, their Private Creator elements too.
    case remove
    /// Those in `RewriteRules.safePrivate` kept (PS3.15 Retain Safe Private Option), the others removed.
    case keepSafe = "keep-safe"
}

/// One safe private attribute (PS3.15 Table E.3.10-1): the block's Private Creator, the group,
/// and the element's last byte within the block (`(gggg,xxEE)`).
package struct SafePrivateAttribute: Sendable, Hashable {
    package var creator: String
    package var group: UInt16
    package var element: UInt8
}

/// A coded De-identification Method (PS3.16 CID 7050), recorded in De-identification Method
/// Code Sequence (0012,0064).
package struct DeidentificationCode: Sendable, Hashable {
    package var value: String
    package var scheme: String = "DCM"
    package var meaning: String
}

/// The profile the rules implement: stored instances (C-STORE towards the SCP) get Patient
/// Identity Removed (0012,0062) YES, De-identification Method (0012,0063) and its code
/// sequence (0012,0064) naming the profile and the options switched on, as PS3.15 E.1.1 asks.
package struct DeidentificationProfile: Sendable, Hashable {
    package var code: DeidentificationCode
    /// Whether stored instances are marked.
    package var marksStoredInstances: Bool

    package init(code: DeidentificationCode, marksStoredInstances: Bool = true) {
        self.code = code
        self.marksStoredInstances = marksStoredInstances
    }
}

/// One rule an option sets: `action` nil retains the attribute (the profile's rule is dropped).
package struct RuleChange: Sendable, Hashable {
    package var tag: Tag
    package var action: RewriteAction?
    package var source: String?

    package init(tag: Tag, action: RewriteAction?, source: String? = nil) {
        self.tag = tag
        self.action = action
        self.source = source
    }
}

/// A named set of rule changes that can be switched on (an option of the profile).
package struct ProfileOption: Sendable, Hashable {
    package var name: String
    package var code: DeidentificationCode?
    package var changes: [RuleChange] = []
    package var patternChanges: [PatternRule] = []
    package var privateAttributes: PrivateAttributePolicy?
    /// Options that cannot be on with this one.
    package var excludes: [String] = []

    package init(name: String, code: DeidentificationCode? = nil) {
        self.name = name
        self.code = code
    }
}

extension RewriteRules {
    /// Whether data sets need parsing at all (some rule, pattern, private policy or mark applies).
    package var rewritesDataSets: Bool {
        !attributes.isEmpty || !patterns.isEmpty || privateAttributes != .keep || profile?.marksStoredInstances == true
    }

    /// The groups and creators of the safe private attributes: their Private Creator elements are kept.
    var safeCreators: Set<SafePrivateAttribute> {
        Set(safePrivate.map { SafePrivateAttribute(creator: $0.creator, group: $0.group, element: 0) })
    }

    /// What the private-attribute policy does to a private element no rule names (towards the
    /// SCP): nil keeps it. `creator` is the Private Creator of its block (for a creator element,
    /// its own value); nil when the block has none.
    func privateAction(for tag: Tag, creator: String?, safeCreators: Set<SafePrivateAttribute>) -> RewriteAction? {
        switch privateAttributes {
        case .keep:
            return nil
        case .remove:
            return .remove
        case .keepSafe:
            guard let creator = creator.map(Self.normalizedCreator) else { return .remove }
            if tag.isPrivateCreator {
                return safeCreators.contains(SafePrivateAttribute(creator: creator, group: tag.group, element: 0)) ? nil : .remove
            }
            let safe = SafePrivateAttribute(creator: creator, group: tag.group, element: UInt8(tag.element & 0xFF))
            return safePrivate.contains(safe) ? nil : .remove
        }
    }

    /// A Private Creator as compared: without its padding (leading and trailing spaces).
    static func normalizedCreator(_ text: String) -> String {
        text.trimmingCharacters(in: " ").trimmingCharacters(in: "\0")
    }

    /// The codes of De-identification Method Code Sequence (0012,0064): the profile's, then each option's switched on.
    package var deidentificationCodes: [DeidentificationCode] {
        guard let profile else { return [] }
        return [profile.code] + enabledOptions.compactMap { optionSets[$0]?.code }
    }

    /// Patient Identity Removed (0012,0062) YES, De-identification Method (0012,0063) and its
    /// code sequence (0012,0064), as PS3.15 E.1.1 asks of a de-identified instance.
    func deidentificationMarks(bigEndian: Bool) -> [DataElement] {
        let codes = deidentificationCodes
        guard !codes.isEmpty else { return [] }
        var marks: [DataElement] = []
        if let removed = DataElement(tag: .patientIdentityRemoved, vr: .CS, string: "YES", characterSet: .default, isBigEndian: bigEndian) {
            marks.append(removed)
        }
        let method = codes.map { String(("DICOMTap: " + $0.meaning).prefix(64)) }
        if let text = DataElement(tag: .deidentificationMethod, vr: .LO, strings: [method.joined(separator: "; ").count <= 64
                                                                                   ? method.joined(separator: "; ") : method[0]],
                                  characterSet: .default, isBigEndian: bigEndian) {
            marks.append(text)
        }
        var items: [SequenceItem] = []
        for code in codes {
            var item = Dataset()
            for (tag, vr, value) in [(Tag.codeValue, VR.SH, code.value), (.codingSchemeDesignator, .SH, code.scheme), (.codeMeaning, .LO, code.meaning)] {
                if let e = DataElement(tag: tag, vr: vr, string: value, characterSet: .default, isBigEndian: bigEndian) { item.append(e) }
            }
            items.append(SequenceItem(dataset: item))
        }
        marks.append(DataElement(tag: .deidentificationMethodCodeSequence, vr: .SQ, value: .sequence(items), isBigEndian: bigEndian))
        return marks
    }
}
