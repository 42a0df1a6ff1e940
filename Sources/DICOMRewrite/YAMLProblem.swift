import Yams

/// What a YAML file's syntax error says, in words, and where (the rewrite rules and `proxy --config` share it).
package enum YAMLProblem {
    /// `name:line` (`name:line:column` with `column`) of the error, or `name` when Yams gives no place.
    package static func location(of error: YamlError, name: String, column: Bool = false) -> String {
        let mark: Mark
        switch error {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _), .composer(_, _, let m, _): mark = m
        case .duplicatedKeysInMapping(_, let context): mark = context.mark
        default: return name
        }
        return column ? "\(name):\(mark.line):\(mark.column)" : "\(name):\(mark.line)"
    }

    /// The problem in words (Yams's context and problem, or the keys given twice).
    package static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
             .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        case .duplicatedKeysInMapping(let duplicates, _):
            return "keys given twice: \(duplicates.joined(separator: ", "))"
        default:
            return "\(error)"
        }
    }
}
