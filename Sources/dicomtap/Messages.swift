import ArgumentParser
import DICOMCore
import Foundation

/// A one-line error for the command line: printed as `dicomtap SUBCOMMAND: message` on stderr,
/// then the command exits with `exitCode`.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
    init(_ message: String, exitCode: Int32 = 1) {
        description = message
        self.exitCode = exitCode
    }
}

extension DICOMTap {
    /// As `AsyncParsableCommand.main()`, except that every error starts `dicomtap SUBCOMMAND: `
    /// (the parser's own start `Error: `), like the lines the subcommands write themselves.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        do {
            // proxy --config FILE: the file's settings, then the command line's (which win).
            arguments = try ProxyConfigFile.expand(arguments)
        } catch {
            exit(reporting: CLIError("\(error)", exitCode: 2), arguments: arguments)
        }
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(reporting: error, arguments: arguments)
        }
    }

    /// Writes what `error` says (help to stdout, errors to stderr) and exits with its status.
    static func exit(reporting error: any Error, arguments: [String]) -> Never {
        let names = configuration.subcommands.map { $0._commandName }
        let prefix = "dicomtap" + (arguments.first.flatMap { names.contains($0) ? " \($0)" : nil } ?? "") + ": "
        if let error = error as? CLIError {
            FileHandle.standardError.write(Data((prefix + error.description + "\n").utf8))
            Foundation.exit(error.exitCode)
        }
        let status = exitCode(for: error)
        var text = fullMessage(for: error)
        if text.hasPrefix("Error: ") { text = prefix + text.dropFirst("Error: ".count) }
        if !text.isEmpty {
            let stream = status == .success ? FileHandle.standardOutput : FileHandle.standardError
            stream.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
        }
        Foundation.exit(status.rawValue)
    }
}

/// Paths from the command line, checked before a command does anything else: a wrong path is
/// said at once, naming the option, instead of failing later (on every association, after a
/// capture was loaded, ...).
enum PathCheck {
    /// A file to read (a capture, a key, rules): it exists, is not a folder, and can be read.
    static func readableFile(_ path: String, _ option: String, exitCode: Int32 = 1) throws(CLIError) {
        let what = option.isEmpty ? path : "\(option) \(path)"
        guard let type = fileType(path) else { throw CLIError("\(what): no such file", exitCode: exitCode) }
        guard type != .folder else { throw CLIError("\(what): a folder, not a file", exitCode: exitCode) }
        guard access(path, R_OK) == 0 else { throw CLIError("\(what): cannot be read (\(reason(errno)))", exitCode: exitCode) }
    }

    /// A file or a folder to read (imports, demo data).
    static func readable(_ path: String, _ option: String, exitCode: Int32 = 1) throws(CLIError) {
        let what = option.isEmpty ? path : "\(option) \(path)"
        guard let type = fileType(path) else { throw CLIError("\(what): no such file or folder", exitCode: exitCode) }
        let mode = type == .folder ? R_OK | X_OK : R_OK
        guard access(path, mode) == 0 else { throw CLIError("\(what): cannot be read (\(reason(errno)))", exitCode: exitCode) }
    }

    /// A folder to write files into (`--log-dir`, `--record`): one we can write, or one that can
    /// be made (its nearest existing parent is a folder we can write). `contents` says what goes there.
    static func writableFolder(_ path: String, _ option: String, contents: String, exitCode: Int32 = 1) throws(CLIError) {
        let what = "\(option) \(path)"
        if let type = fileType(path) {
            guard type == .folder else {
                throw CLIError("\(what): a file, not a folder; give a folder (created if missing) for \(contents)", exitCode: exitCode)
            }
            guard access(path, W_OK | X_OK) == 0 else {
                throw CLIError("\(what): the folder cannot be written (\(reason(errno)))", exitCode: exitCode)
            }
            return
        }
        try creatable(path, what, exitCode: exitCode)
    }

    /// A file to create or write (a database, a mapping store): not a folder; written when it
    /// exists, created in a folder we can write when it does not.
    static func writableFile(_ path: String, _ option: String, exitCode: Int32 = 1) throws(CLIError) {
        let what = "\(option) \(path)"
        if let type = fileType(path) {
            guard type != .folder else { throw CLIError("\(what): a folder, not a file", exitCode: exitCode) }
            guard access(path, R_OK | W_OK) == 0 else {
                throw CLIError("\(what): cannot be written (\(reason(errno)))", exitCode: exitCode)
            }
            return
        }
        try creatable(path, what, exitCode: exitCode)
    }

    /// `path` does not exist: its nearest existing ancestor must be a folder we can write.
    private static func creatable(_ path: String, _ what: String, exitCode: Int32) throws(CLIError) {
        var parent = (path as NSString).deletingLastPathComponent
        while !parent.isEmpty, fileType(parent) == nil { parent = (parent as NSString).deletingLastPathComponent }
        if parent.isEmpty { parent = "." }
        guard fileType(parent) == .folder else {
            throw CLIError("\(what): cannot be created: \(parent) is not a folder", exitCode: exitCode)
        }
        guard access(parent, W_OK | X_OK) == 0 else {
            throw CLIError("\(what): cannot be created in \(parent) (\(reason(errno)))", exitCode: exitCode)
        }
    }

    private enum Kind { case folder, other }

    /// What is at `path` (following symbolic links), or nil when nothing is.
    private static func fileType(_ path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFDIR ? .folder : .other
    }

    private static func reason(_ code: Int32) -> String {
        systemErrorWords(code)
    }
}
