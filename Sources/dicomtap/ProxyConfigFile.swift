import DICOMCore
import DICOMRewrite
import Foundation
import Yams

/// `dicomtap proxy --config FILE`: a YAML file holding what the proxy's options hold, one key per option, named as the
/// option without its dashes (`listen: 11112` is `--listen 11112`). The file is turned into command-line arguments and
/// parsed with the command line by the one parser the options have (same checks, same messages); an option given on
/// the command line replaces the file's key of the same name (a repeatable one, such as `--route`, replaces the whole
/// list of the file). Unknown keys and values of the wrong type are errors naming the file, line and key. Relative
/// paths are relative to the file's folder (a unit file's working directory does not matter).
enum ProxyConfigFile {
    /// What a key's value must be.
    enum Kind {
        /// A string, number or host:port (one option).
        case text
        /// A path (relative ones are made relative to the file's folder).
        case path
        /// A whole number.
        case integer
        /// A number of seconds (may have a fraction).
        case seconds
        /// true or false (a flag: true gives it, false leaves it out).
        case flag
        /// A list of values: the option once per value.
        case list
        /// A mapping KEY: VALUE: the option once per entry as KEY=VALUE (`route: {ARCHIVE: pacs:104}`).
        case pairs
    }

    /// Every key the file may hold: adding an option to the file is adding its line here.
    static let keys: [(key: String, kind: Kind)] = [
        // Where to listen and where to send.
        ("listen", .text), ("upstream", .text), ("route", .pairs), ("allow", .list),
        ("connect-timeout", .seconds), ("idle-timeout", .seconds), ("grace-period", .seconds),
        // Files.
        ("log-dir", .path), ("record", .path), ("record-secrets", .flag),
        // Limits.
        ("max-pdu-length", .integer), ("bulk-threshold", .integer), ("max-inflated-size", .integer),
        ("max-findings", .integer), ("max-open-requests", .integer), ("max-kept-responses", .integer),
        ("max-associations", .integer), ("artim-timeout", .seconds), ("min-max-pdu", .integer),
        // Rewriting and pseudonymization.
        ("rewrite", .path), ("profile-option", .list), ("pseudonymize", .list), ("key-file", .path),
        ("mapping-store", .path), ("mapping-store-password-file", .path), ("called-ae", .pairs), ("calling-ae", .pairs), ("no-reverse-map", .flag),
        ("log-originals", .flag),
        // Console.
        ("redact-identifiers", .flag), ("verbose", .flag), ("debug", .flag),
        // DICOM over TLS.
        ("tls-listen", .text), ("tls-cert", .path), ("tls-key", .path), ("tls-ca", .path),
        ("tls-require-client-cert", .flag), ("upstream-tls", .flag), ("upstream-tls-ca", .path),
        ("upstream-tls-cert", .path), ("upstream-tls-key", .path), ("upstream-tls-server-name", .text),
        ("upstream-tls-no-verify", .flag), ("tls-keylog", .path),
        // Operations.
        ("metrics-listen", .text),
    ]

    /// Short names of options that have one (given on the command line, they replace the file's key too).
    static let shortNames: [String: String] = ["verbose": "-v", "debug": "-d"]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `arguments` (after the program name) with the `--config FILE` of `proxy` expanded: the file's settings first,
    /// less those the command line gives. Other commands' arguments are returned as they are.
    static func expand(_ arguments: [String]) throws(Failure) -> [String] {
        guard arguments.first == "proxy", let path = configPath(in: arguments) else { return arguments }
        let fromFile = try load(path: path)
        return ["proxy"] + fromFile.filter { !given($0.key, in: arguments) }.flatMap(\.arguments) + arguments.dropFirst()
    }

    /// The FILE of `--config FILE` or `--config=FILE`, if given.
    static func configPath(in arguments: [String]) -> String? {
        for (i, argument) in arguments.enumerated() {
            if argument == "--" { return nil }
            if argument == "--config", i + 1 < arguments.count { return arguments[i + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return nil
    }

    /// Whether the command line gives the option of `key`.
    static func given(_ key: String, in arguments: [String]) -> Bool {
        arguments.contains { $0 == "--\(key)" || $0.hasPrefix("--\(key)=") || $0 == shortNames[key] }
    }

    /// One key of the file as command-line arguments.
    struct Setting: Equatable {
        var key: String
        var arguments: [String]
    }

    /// Reads the file at `path`: its settings in the order written.
    static func load(path: String) throws(Failure) -> [Setting] {
        let text: String
        do {
            text = try SettingsFile.load(path, limit: 4 << 20)
        } catch .noSuchFile {
            throw Failure(description: "--config \(path): no such file")
        } catch {
            throw Failure(description: "--config \(path): \(error)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(text, name: path, baseDirectory: directory.isEmpty ? "." : directory)
    }

    /// Parses the YAML `text`; `name` is the file's name in messages.
    static func parse(_ text: String, name: String, baseDirectory: String = ".") throws(Failure) -> [Setting] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Failure(description: "\(YAMLProblem.location(of: error, name: name)): not valid YAML: \(YAMLProblem.describe(error))")
        } catch {
            throw Failure(description: "\(name): not valid YAML: \(error)")
        }
        guard let root else { return [] }
        guard case .mapping(let mapping) = root else {
            throw Failure(description: "\(at(root, name)): the file must be a mapping of option names to values (listen: 11112)")
        }
        let kinds = Dictionary(keys.map { ($0.key, $0.kind) }, uniquingKeysWith: { a, _ in a })
        var settings: [Setting] = []
        var seen: Set<String> = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw Failure(description: "\(at(keyNode, name)): a key must be an option name")
            }
            let key = scalar.string
            guard let kind = kinds[key] else {
                let hint = key.hasPrefix("-") ? " (write option names without their dashes)" : ""
                throw Failure(description: "\(at(keyNode, name)): unknown key '\(key)'\(hint); the keys are the proxy's "
                              + "options without their dashes: \(keys.map(\.key).joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else {
                throw Failure(description: "\(at(keyNode, name)): key '\(key)' is given twice")
            }
            let place = "\(at(value, name)): \(key)"
            settings.append(Setting(key: key, arguments: try arguments(for: key, kind: kind, value: value, place: place,
                                                                       baseDirectory: baseDirectory)))
        }
        return settings
    }

    private static func arguments(for key: String, kind: Kind, value: Node, place: String,
                                  baseDirectory: String) throws(Failure) -> [String] {
        let option = "--\(key)"
        func single(_ node: Node, _ what: String) throws(Failure) -> String {
            guard case .scalar(let scalar) = node else { throw Failure(description: "\(place) must be \(what)") }
            guard !scalar.string.isEmpty, !(scalar.style == .plain && scalar.string == "~") else {
                throw Failure(description: "\(place) has no value (leave the key out for the default)")
            }
            return scalar.string
        }
        switch kind {
        case .text:
            let text = try single(value, "a single value")
            return [option, text]
        case .path:
            let path = try single(value, "a path")
            // A URL (--mapping-store postgresql://...) is not a path.
            let relative = !path.hasPrefix("/") && !path.contains("://") && baseDirectory != "."
            return [option, relative ? baseDirectory + "/" + path : path]
        case .integer:
            let text = try single(value, "a whole number")
            guard Int(text.replacingOccurrences(of: "_", with: "")) != nil else {
                throw Failure(description: "\(place) must be a whole number, not '\(text)'")
            }
            return [option, text.replacingOccurrences(of: "_", with: "")]
        case .seconds:
            let text = try single(value, "a number of seconds")
            guard Double(text) != nil else { throw Failure(description: "\(place) must be a number of seconds, not '\(text)'") }
            return [option, text]
        case .flag:
            let text = try single(value, "true or false")
            switch text {
            case "true": return [option]
            case "false": return []
            default: throw Failure(description: "\(place) must be true or false, not '\(text)'")
            }
        case .list:
            let items: [Node]
            if case .sequence(let sequence) = value { items = Array(sequence) } else { items = [value] }
            var out: [String] = []
            for item in items {
                let text = try single(item, "a list of values (- VALUE)")
                out += [option, text]
            }
            return out
        case .pairs:
            guard case .mapping(let mapping) = value else {
                throw Failure(description: "\(place) must be a mapping (NAME: VALUE on indented lines)")
            }
            var out: [String] = []
            for (k, v) in mapping {
                let name = try single(k, "a mapping of names to values")
                let target = try single(v, "a mapping of names to values")
                out += [option, "\(name)=\(target)"]
            }
            return out
        }
    }

    private static func at(_ node: Node, _ name: String) -> String {
        guard let mark = node.mark else { return name }
        return "\(name):\(mark.line)"
    }
}
