import DICOMCore
import Foundation
import Yams

/// Reads a rules file (YAML, through Yams). Every problem is a `RewriteError` naming the file
/// and line, before anything starts.
///
/// ```yaml
/// reverse-map: true                 # responses to the SCU get the originals back (default)
/// key-file: pseudonym.key           # relative paths are relative to the rules file
/// mapping-store: pseudonyms.sqlite
/// attributes:
///   - attribute: PatientID          # keyword, or a tag: "(0010,0020)"
///     action: pseudonymize          # pseudonymize | map | replace | empty | remove | keep
///     prefix: "P"                   # pseudonymize: optional prefix, optional length (8–52)
///   - { attribute: PatientName, action: pseudonymize }
///   - { attribute: PatientBirthDate, action: replace, value: "19000101" }
///   - { attribute: IssuerOfPatientID, action: map, file: issuers.csv }
/// aeTitles:
///   called: { ARCHIVE: RESEARCH }   # called AE title from the SCU: sent to the SCP
///   calling: { MODALITY: GATEWAY }
/// repeating-groups:                 # rules for (50xx,xxxx)-style tags
///   - { pattern: "(50xx,xxxx)", action: remove }
/// private-attributes: remove        # keep (default) | remove | keep-safe
/// safe-private:                     # what keep-safe keeps (PS3.15 Table E.3.10-1)
///   - { creator: "Philips PET Private Group", tag: "(7053,xx00)" }
/// profile:                          # stored instances get Patient Identity Removed and this code
///   code: { value: "113100", scheme: DCM, meaning: "Basic Application Confidentiality Profile" }
/// options:                          # named rule sets switched on with --profile-option NAME
///   retain-uids:
///     code: { value: "113110", scheme: DCM, meaning: "Retain UIDs Option" }
///     excludes: []
///     private-attributes: keep-safe
///     attributes: [ { attribute: SOPInstanceUID, action: retain } ]   # retain: the profile's rule is dropped
///     repeating-groups: []
/// enable-options: [retain-uids]     # options on from the file itself
/// default-issuers: { MODALITY: HOSP_A, "*": HOSP_DEFAULT }   # Issuer of Patient ID by calling AE
/// date-shift-days: -400             # shift-date's shift (default: derived from the key)
/// max-new-pseudonyms: 10000         # per message
/// ```
/// `attributes` may also be a mapping: `PatientID: pseudonymize` or `PatientID: { action: ..., ... }`.
package enum RewriteRulesLoader {
    /// Largest rules file read.
    package static let maximumFileSize = 4 << 20

    package static func load(path: String) throws(RewriteError) -> RewriteRules {
        let text: String
        do {
            text = try SettingsFile.load(path, limit: maximumFileSize)
        } catch {
            throw RewriteError(.rulesFile, "cannot read the rules file: \(error)", location: path)
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(text, name: path, baseDirectory: directory.isEmpty ? "." : directory)
    }

    /// Parses rules from YAML text; `name` is used in messages, `baseDirectory` resolves relative paths.
    package static func parse(_ text: String, name: String = "rules", baseDirectory: String = ".") throws(RewriteError) -> RewriteRules {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw RewriteError(.rulesFile, "not valid YAML: \(YAMLProblem.describe(error))",
                               location: YAMLProblem.location(of: error, name: name, column: true))
        } catch {
            throw RewriteError(.rulesFile, "not valid YAML: \(error)", location: name)
        }
        var parser = Parser(name: name, baseDirectory: baseDirectory)
        guard let root else { throw RewriteError(.rulesFile, "the rules file is empty", location: name) }
        return try parser.rules(root)
    }

    private struct Parser {
        let name: String
        let baseDirectory: String

        func at(_ node: Node) -> String {
            guard let mark = node.mark else { return name }
            return "\(name):\(mark.line)"
        }

        func fail(_ node: Node, _ message: String) -> RewriteError {
            RewriteError(.rulesFile, message, location: at(node))
        }

        func string(_ node: Node, _ what: String) throws(RewriteError) -> String {
            guard case .scalar(let scalar) = node else { throw fail(node, "\(what) must be a single value") }
            return scalar.string
        }

        func mapping(_ node: Node, _ what: String) throws(RewriteError) -> [(key: String, keyNode: Node, value: Node)] {
            guard case .mapping(let mapping) = node else { throw fail(node, "\(what) must be a mapping (key: value)") }
            var out: [(key: String, keyNode: Node, value: Node)] = []
            for (key, value) in mapping {
                out.append((try string(key, "a key"), key, value))
            }
            return out
        }

        func path(_ text: String) -> String {
            text.hasPrefix("/") ? text : baseDirectory + "/" + text
        }

        mutating func rules(_ root: Node) throws(RewriteError) -> RewriteRules {
            var rules = RewriteRules()
            var toEnable: [(String, Node)] = []
            for (key, keyNode, value) in try mapping(root, "the rules file") {
                switch key {
                case "attributes":
                    try attributes(value, into: &rules)
                case "repeating-groups":
                    rules.patterns += try patterns(value, allowRetain: false).compactMap { $0.action == nil ? nil : $0 }
                case "private-attributes":
                    rules.privateAttributes = try privatePolicy(value)
                case "safe-private":
                    rules.safePrivate.formUnion(try safePrivate(value))
                case "profile":
                    var code: DeidentificationCode?
                    var marks = true
                    for (k, kNode, v) in try mapping(value, "profile") {
                        switch k {
                        case "code": code = try self.code(v)
                        case "mark-stored-instances":
                            guard let flag = v.bool else { throw fail(v, "mark-stored-instances must be true or false") }
                            marks = flag
                        default: throw fail(kNode, "unknown key '\(k)' under profile (code, mark-stored-instances)")
                        }
                    }
                    guard let code else { throw fail(value, "profile needs 'code:' (value, scheme, meaning)") }
                    rules.profile = DeidentificationProfile(code: code, marksStoredInstances: marks)
                case "options":
                    for (name, nameNode, body) in try mapping(value, "options") {
                        rules.optionSets[name] = try option(name, nameNode: nameNode, body)
                    }
                case "enable-options":
                    guard case .sequence(let names) = value else { throw fail(value, "enable-options must be a list of option names") }
                    for name in names { toEnable.append((try string(name, "an option name"), name)) }
                case "default-issuers":
                    for (ae, aeNode, issuer) in try mapping(value, "default-issuers") {
                        let title = ae.trimmingCharacters(in: " ")
                        guard !title.isEmpty, title.utf8.count <= 16 else { throw fail(aeNode, "'\(ae)' is not an AE title (1 to 16 characters) or *") }
                        let text = try string(issuer, "an Issuer of Patient ID")
                        guard !text.isEmpty, text.utf8.count <= 64 else { throw fail(issuer, "an Issuer of Patient ID has 1 to 64 characters") }
                        rules.defaultIssuers[title] = text
                    }
                case "date-shift-days":
                    guard let n = Int(try string(value, "date-shift-days")), n != 0, abs(n) <= 36_500 else {
                        throw fail(value, "date-shift-days must be a whole number of days, not 0, at most 36500 either way")
                    }
                    rules.dateShiftDays = n
                case "max-new-pseudonyms":
                    guard let n = Int(try string(value, "max-new-pseudonyms")), n >= 1 else {
                        throw fail(value, "max-new-pseudonyms must be a number of at least 1")
                    }
                    rules.maximumNewPseudonyms = n
                case "aeTitles", "ae-titles":
                    for (which, whichNode, table) in try mapping(value, "aeTitles") {
                        var pairs: [String: String] = [:]
                        for (old, oldNode, new) in try mapping(table, "aeTitles.\(which)") {
                            let replacement = try string(new, "an AE title")
                            for title in [old, replacement] where title.trimmingCharacters(in: " ").isEmpty || title.utf8.count > 16 {
                                throw fail(oldNode, "'\(title)' is not an AE title (1 to 16 characters)")
                            }
                            pairs[old.trimmingCharacters(in: " ")] = replacement.trimmingCharacters(in: " ")
                        }
                        switch which {
                        case "called": rules.aeTitles.called = pairs
                        case "calling": rules.aeTitles.calling = pairs
                        default: throw fail(whichNode, "unknown key '\(which)' under aeTitles (called, calling)")
                        }
                    }
                case "reverse-map", "reverseMap":
                    guard let flag = value.bool else { throw fail(value, "reverse-map must be true or false") }
                    rules.reverseMap = flag
                case "key-file", "keyFile":
                    rules.keyFile = path(try string(value, "key-file"))
                case "mapping-store", "mappingStore":
                    let location = try string(value, "mapping-store")
                    rules.mappingStore = MappingStore.isDatabaseURL(location) ? location : path(location)
                default:
                    throw fail(keyNode, "unknown key '\(key)' (attributes, repeating-groups, private-attributes, safe-private, profile, "
                               + "options, enable-options, default-issuers, date-shift-days, max-new-pseudonyms, aeTitles, reverse-map, "
                               + "key-file, mapping-store)")
                }
            }
            for (name, node) in toEnable {
                do throws(RewriteError) {
                    try rules.enable(option: name)
                } catch {
                    throw RewriteError(error.code, error.description, location: at(node))
                }
            }
            return rules
        }

        func privatePolicy(_ node: Node) throws(RewriteError) -> PrivateAttributePolicy {
            let text = try string(node, "private-attributes")
            guard let policy = PrivateAttributePolicy(rawValue: text) else {
                throw fail(node, "private-attributes must be keep, remove or keep-safe")
            }
            return policy
        }

        func code(_ node: Node) throws(RewriteError) -> DeidentificationCode {
            var fields: [String: String] = [:]
            for (k, kNode, v) in try mapping(node, "a code") {
                guard ["value", "scheme", "meaning"].contains(k) else { throw fail(kNode, "unknown key '\(k)' in a code (value, scheme, meaning)") }
                fields[k] = try string(v, k)
            }
            guard let value = fields["value"], let meaning = fields["meaning"], !value.isEmpty, value.utf8.count <= 16 else {
                throw fail(node, "a code needs value (1 to 16 characters) and meaning")
            }
            return DeidentificationCode(value: value, scheme: fields["scheme"] ?? "DCM", meaning: meaning)
        }

        func safePrivate(_ node: Node) throws(RewriteError) -> Set<SafePrivateAttribute> {
            guard case .sequence(let entries) = node else { throw fail(node, "safe-private must be a list of { creator:, tag: }") }
            var out: Set<SafePrivateAttribute> = []
            for entry in entries {
                var fields: [String: (Node, String)] = [:]
                for (k, kNode, v) in try mapping(entry, "a safe private attribute") {
                    guard k == "creator" || k == "tag" else { throw fail(kNode, "unknown key '\(k)' (creator, tag)") }
                    fields[k] = (v, try string(v, k))
                }
                guard let creator = fields["creator"]?.1, let (tagNode, tag) = fields["tag"] else {
                    throw fail(entry, "a safe private attribute needs creator: and tag: \"(gggg,xxEE)\"")
                }
                let digits = tag.filter { $0 != "(" && $0 != ")" && $0 != "," }.lowercased()
                guard digits.count == 8, digits.dropFirst(4).prefix(2) == "xx", let group = UInt16(digits.prefix(4), radix: 16),
                      group & 1 == 1, let element = UInt8(digits.suffix(2), radix: 16) else {
                    throw fail(tagNode, "'\(tag)' is not a private tag of the form (gggg,xxEE) with an odd group")
                }
                out.insert(SafePrivateAttribute(creator: RewriteRules.normalizedCreator(creator), group: group, element: element))
            }
            return out
        }

        func patterns(_ node: Node, allowRetain: Bool) throws(RewriteError) -> [PatternRule] {
            guard case .sequence(let entries) = node else { throw fail(node, "repeating-groups must be a list of { pattern:, action: }") }
            var out: [PatternRule] = []
            for entry in entries {
                let fields = try mapping(entry, "a repeating-group rule")
                guard let pattern = fields.first(where: { $0.key == "pattern" }) else {
                    throw fail(entry, "a repeating-group rule needs pattern: \"(50xx,xxxx)\"")
                }
                let text = try string(pattern.value, "pattern")
                let options = fields.filter { $0.key != "pattern" }
                let action = try ruleAction(attribute: text, tag: nil, options: options, ruleNode: entry, allowRetain: allowRetain)
                guard let rule = PatternRule(pattern: text, action: action, source: at(pattern.value)) else {
                    throw fail(pattern.value, "'\(text)' is not a tag pattern such as (50xx,xxxx)")
                }
                out.append(rule)
            }
            return out
        }

        mutating func option(_ name: String, nameNode: Node, _ body: Node) throws(RewriteError) -> ProfileOption {
            var option = ProfileOption(name: name)
            for (k, kNode, v) in try mapping(body, "option \(name)") {
                switch k {
                case "code": option.code = try code(v)
                case "private-attributes": option.privateAttributes = try privatePolicy(v)
                case "excludes":
                    guard case .sequence(let names) = v else { throw fail(v, "excludes must be a list of option names") }
                    for n in names { option.excludes.append(try string(n, "an option name")) }
                case "repeating-groups":
                    option.patternChanges = try patterns(v, allowRetain: true)
                case "attributes":
                    guard case .sequence(let entries) = v else { throw fail(v, "an option's attributes must be a list of rules") }
                    for entry in entries {
                        let fields = try mapping(entry, "an attribute rule")
                        guard let attribute = fields.first(where: { $0.key == "attribute" }) else {
                            throw fail(entry, "an attribute rule needs 'attribute:' (a keyword or a tag)")
                        }
                        let text = try string(attribute.value, "attribute")
                        guard let tag = RewriteRules.tag(named: text) else {
                            throw fail(attribute.value, "unknown attribute '\(text)': give a dictionary keyword (PatientID) or a tag ((0010,0020))")
                        }
                        let action = try ruleAction(attribute: text, tag: tag, options: fields.filter { $0.key != "attribute" },
                                                    ruleNode: entry, allowRetain: true)
                        option.changes.append(RuleChange(tag: tag, action: action, source: at(attribute.value)))
                    }
                default:
                    throw fail(kNode, "unknown key '\(k)' in option \(name) (code, excludes, private-attributes, attributes, repeating-groups)")
                }
            }
            return option
        }

        mutating func attributes(_ node: Node, into rules: inout RewriteRules) throws(RewriteError) {
            switch node {
            case .sequence(let sequence):
                for item in sequence {
                    let fields = try mapping(item, "an attribute rule")
                    guard let attribute = fields.first(where: { $0.key == "attribute" }) else {
                        throw fail(item, "an attribute rule needs 'attribute:' (a keyword or a tag)")
                    }
                    rules.add(try rule(attribute: try string(attribute.value, "attribute"), node: attribute.value,
                                       options: fields.filter { $0.key != "attribute" }, ruleNode: item))
                }
            case .mapping:
                for (attribute, keyNode, value) in try mapping(node, "attributes") {
                    if case .scalar = value {
                        rules.add(try rule(attribute: attribute, node: keyNode, options: [("action", value, value)], ruleNode: keyNode))
                    } else {
                        rules.add(try rule(attribute: attribute, node: keyNode, options: try mapping(value, "a rule"), ruleNode: keyNode))
                    }
                }
            default:
                throw fail(node, "attributes must be a list of rules or a mapping of attribute: action")
            }
        }

        func rule(attribute: String, node: Node, options: [(key: String, keyNode: Node, value: Node)],
                  ruleNode: Node) throws(RewriteError) -> AttributeRule {
            guard let tag = RewriteRules.tag(named: attribute) else {
                throw fail(node, "unknown attribute '\(attribute)': give a dictionary keyword (PatientID) or a tag ((0010,0020))")
            }
            guard let action = try ruleAction(attribute: attribute, tag: tag, options: options, ruleNode: ruleNode, allowRetain: false) else {
                throw fail(ruleNode, "retain applies only inside an option")
            }
            return AttributeRule(tag: tag, action: action, source: at(node))
        }

        /// The action of a rule (nil: `retain`, only where `allowRetain`).
        func ruleAction(attribute: String, tag: DICOMCore.Tag?, options: [(key: String, keyNode: Node, value: Node)], ruleNode: Node,
                        allowRetain: Bool) throws(RewriteError) -> RewriteAction? {
            var values: [String: (keyNode: Node, value: Node)] = [:]
            for (key, keyNode, value) in options { values[key] = (keyNode, value) }
            guard let actionEntry = values["action"] else { throw fail(ruleNode, "the rule for \(attribute) has no 'action:'") }
            let actionName = try string(actionEntry.value, "action")
            let allowed: Set<String>
            let action: RewriteAction?
            let vr = tag.flatMap { DataDictionary.vr(for: $0) }
            switch actionName {
            case "pseudonymize":
                allowed = ["action", "prefix", "length"]
                var format = PseudonymFormat()
                if let prefix = values["prefix"] { format.prefix = try string(prefix.value, "prefix") }
                if let length = values["length"] {
                    guard let n = Int(try string(length.value, "length")) else { throw fail(length.value, "length must be a number") }
                    format.length = n
                }
                if let vr, let problem = Pseudonymizer.problem(with: format, vr: vr) {
                    throw fail(actionEntry.value, "cannot pseudonymize \(attribute): \(problem)")
                }
                action = .pseudonymize(format)
            case "map":
                allowed = ["action", "file"]
                guard let file = values["file"] else { throw fail(ruleNode, "a map rule needs 'file:' (a CSV file of original,replacement)") }
                do {
                    action = .map(try ValueMap(contentsOfFile: path(try string(file.value, "file"))))
                } catch {
                    throw RewriteError(error.code, error.description, location: at(file.value))
                }
            case "replace":
                allowed = ["action", "value"]
                guard let value = values["value"] else { throw fail(ruleNode, "a replace rule needs 'value:'") }
                action = .replace(try string(value.value, "value"))
            case "empty":
                allowed = ["action"]
                action = .empty
            case "remove":
                allowed = ["action"]
                action = .remove
            case "keep":
                allowed = ["action"]
                action = .keep
            case "shift-date":
                allowed = ["action"]
                action = .shiftDate
            case "retain" where allowRetain:
                allowed = ["action"]
                action = nil
            default:
                throw fail(actionEntry.value, "unknown action '\(actionName)' (pseudonymize, map, replace, empty, remove, keep, shift-date"
                           + (allowRetain ? ", retain)" : "; retain only inside an option)"))
            }
            for (key, keyNode, _) in options where !allowed.contains(key) {
                throw fail(keyNode, "'\(key)' does not apply to the action \(actionName)")
            }
            return action
        }
    }
}
