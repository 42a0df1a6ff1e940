import DICOMCore
import Foundation

/// An explicit table for the `map` action, from a CSV file: one `original,replacement` pair a
/// line (RFC 4180 quoting with `"`; `#` starts a comment line; a first line `original,replacement`
/// is a header and skipped). Both directions must be one to one.
package struct ValueMap: Sendable, Hashable {
    package private(set) var forward: [String: String] = [:]
    package private(set) var backward: [String: String] = [:]
    /// The file it came from.
    package var path: String

    package init(pairs: [(String, String)], path: String = "") throws(RewriteError) {
        self.path = path
        for (index, (original, replacement)) in pairs.enumerated() {
            try add(original, replacement, location: path.isEmpty ? nil : "\(path):\(index + 1)")
        }
    }

    private mutating func add(_ original: String, _ replacement: String, location: String?) throws(RewriteError) {
        if forward[original] != nil {
            throw RewriteError(.mapFile, "a value is listed twice in the original column", location: location)
        }
        if backward[replacement] != nil {
            throw RewriteError(.mapFile, "the replacement '\(replacement)' is given for two values: responses could not be mapped back",
                               location: location)
        }
        forward[original] = replacement
        backward[replacement] = original
    }

    /// Largest map file read.
    package static let maximumFileSize = 64 << 20

    /// Reads a CSV file.
    package init(contentsOfFile path: String) throws(RewriteError) {
        self.path = path
        let text: String
        do {
            text = try SettingsFile.load(path, limit: Self.maximumFileSize)
        } catch {
            throw RewriteError(.mapFile, "cannot read the map file: \(error)", location: path)
        }
        for record in try Self.records(of: text, path: path) {
            let location = "\(path):\(record.line)"
            let fields = record.fields
            guard fields.count == 2 else {
                throw RewriteError(.mapFile, "expected two fields (original,replacement), found \(fields.count)", location: location)
            }
            if forward.isEmpty, fields[0].lowercased() == "original", fields[1].lowercased() == "replacement" { continue }
            try add(fields[0], fields[1], location: location)
        }
    }

    /// The records of a CSV text (RFC 4180), each with the line it starts on (1-based).
    /// Records end at CRLF, LF or CR outside quotes, and at the end of the text (a last line
    /// without a line break counts); fields are split on `,`; a field that starts with `"` is
    /// quoted, `""` in it is a quote, and commas and line breaks in it are kept. A line that
    /// starts with `#` is a comment; a line of spaces only is skipped. Works on Unicode scalars:
    /// Swift makes CRLF one Character, so splitting Characters on LF would miss it.
    static func records(of text: String, path: String) throws(RewriteError) -> [(line: Int, fields: [String])] {
        let scalars = Array(text.unicodeScalars)
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        var quoted = false
        var atRecordStart = true
        var line = 1
        var recordLine = 1
        var i = 0
        /// Skips a line break at `i` (CRLF, LF or CR) if there is one; true when it did.
        func skipLineBreak() -> Bool {
            guard i < scalars.count, scalars[i] == "\r" || scalars[i] == "\n" else { return false }
            if scalars[i] == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
            i += 1
            line += 1
            return true
        }
        func endRecord() {
            fields.append(String(current))
            let blank = !quoted && fields.count == 1 && fields[0].unicodeScalars.allSatisfy { $0 == " " }
            if !blank { records.append((recordLine, fields)) }
            fields = []
            current = String.UnicodeScalarView()
            quoted = false
            atRecordStart = true
        }
        while i < scalars.count {
            if atRecordStart {
                recordLine = line
                atRecordStart = false
                if scalars[i] == "#" {
                    while i < scalars.count, scalars[i] != "\r", scalars[i] != "\n" { i += 1 }
                    _ = skipLineBreak()
                    atRecordStart = true
                    continue
                }
            }
            let c = scalars[i]
            if inQuotes {
                if c == "\"" {
                    i += 1
                    if i < scalars.count, scalars[i] == "\"" {
                        current.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else if c == "\r" || c == "\n" {
                    let from = i
                    _ = skipLineBreak()
                    current.append(contentsOf: scalars[from..<i])
                } else {
                    current.append(c)
                    i += 1
                }
            } else if c == "\r" || c == "\n" {
                _ = skipLineBreak()
                endRecord()
            } else {
                i += 1
                if c == "\"" && current.isEmpty {
                    inQuotes = true
                    quoted = true
                } else if c == "," {
                    fields.append(String(current))
                    current = String.UnicodeScalarView()
                } else {
                    current.append(c)
                }
            }
        }
        guard !inQuotes else { throw RewriteError(.mapFile, "a quoted field is not closed", location: "\(path):\(recordLine)") }
        if !atRecordStart { endRecord() }
        return records
    }
}
