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
/// ```
/// `attributes` may also be a mapping: `PatientID: pseudonymize` or `PatientID: { action: ..., ... }`.
public enum RewriteRulesLoader {
    /// Largest rules file read.
    public static let maximumFileSize = 4 << 20

    public static func load(path: String) throws(RewriteError) -> RewriteRules {
        let text: String
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > maximumFileSize {
                throw RewriteError(.rulesFile, "the rules file has \(size) bytes; at most \(maximumFileSize) are read", location: path)
            }
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch let error as RewriteError {
            throw error
        } catch {
            throw RewriteError(.rulesFile, "cannot read the rules file: \(error.localizedDescription)", location: path)
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(text, name: path, baseDirectory: directory.isEmpty ? "." : directory)
    }

    /// Parses rules from YAML text; `name` is used in messages, `baseDirectory` resolves relative paths.
    public static func parse(_ text: String, name: String = "rules", baseDirectory: String = ".") throws(RewriteError) -> RewriteRules {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw RewriteError(.rulesFile, "not valid YAML: \(describe(error))", location: location(of: error, name: name))
        } catch {
            throw RewriteError(.rulesFile, "not valid YAML: \(error)", location: name)
        }
        var parser = Parser(name: name, baseDirectory: baseDirectory)
        guard let root else { throw RewriteError(.rulesFile, "the rules file is empty", location: name) }
        return try parser.rules(root)
    }

    private static func location(of error: YamlError, name: String) -> String {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return "\(name):\(mark.line):\(mark.column)"
        default:
            return name
        }
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
             .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        case .duplicatedKeysInMapping(let duplicates, _):
            return "duplicated keys \(duplicates.joined(separator: ", "))"
        default:
            return "\(error)"
        }
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
            for (key, keyNode, value) in try mapping(root, "the rules file") {
                switch key {
                case "attributes":
                    try attributes(value, into: &rules)
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
                    rules.mappingStore = path(try string(value, "mapping-store"))
                default:
                    throw fail(keyNode, "unknown key '\(key)' (attributes, aeTitles, reverse-map, key-file, mapping-store)")
                }
            }
            return rules
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
            var values: [String: (keyNode: Node, value: Node)] = [:]
            for (key, keyNode, value) in options { values[key] = (keyNode, value) }
            guard let actionEntry = values["action"] else { throw fail(ruleNode, "the rule for \(attribute) has no 'action:'") }
            let actionName = try string(actionEntry.value, "action")
            let allowed: Set<String>
            let action: RewriteAction
            let vr = DataDictionary.vr(for: tag)
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
            default:
                throw fail(actionEntry.value, "unknown action '\(actionName)' (pseudonymize, map, replace, empty, remove, keep)")
            }
            for (key, keyNode, _) in options where !allowed.contains(key) {
                throw fail(keyNode, "'\(key)' does not apply to the action \(actionName)")
            }
            return AttributeRule(tag: tag, action: action, source: at(node))
        }
    }
}
