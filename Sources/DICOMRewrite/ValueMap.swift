import Foundation

/// An explicit table for the `map` action, from a CSV file: one `original,replacement` pair a
/// line (RFC 4180 quoting with `"`; `#` starts a comment line; a first line `original,replacement`
/// is a header and skipped). Both directions must be one to one.
public struct ValueMap: Sendable, Hashable {
    public private(set) var forward: [String: String] = [:]
    public private(set) var backward: [String: String] = [:]
    /// The file it came from.
    public var path: String

    public init(pairs: [(String, String)], path: String = "") throws(RewriteError) {
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
    public static let maximumFileSize = 64 << 20

    /// Reads a CSV file.
    public init(contentsOfFile path: String) throws(RewriteError) {
        self.path = path
        let text: String
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > Self.maximumFileSize {
                throw RewriteError(.mapFile, "the map file has \(size) bytes; at most \(Self.maximumFileSize) are read", location: path)
            }
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch let error as RewriteError {
            throw error
        } catch {
            throw RewriteError(.mapFile, "cannot read the map file: \(error.localizedDescription)", location: path)
        }
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " }) || line.hasPrefix("#") { continue }
            let location = "\(path):\(lineNumber)"
            let fields = try Self.fields(of: line, location: location)
            guard fields.count == 2 else {
                throw RewriteError(.mapFile, "expected two fields (original,replacement), found \(fields.count)", location: location)
            }
            if forward.isEmpty, fields[0].lowercased() == "original", fields[1].lowercased() == "replacement" { continue }
            try add(fields[0], fields[1], location: location)
        }
    }

    /// The fields of one CSV line (RFC 4180: `"` quotes, `""` inside quotes is a quote).
    static func fields(of line: Substring, location: String) throws(RewriteError) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            index = line.index(after: index)
            if inQuotes {
                if c == "\"" {
                    if index < line.endIndex, line[index] == "\"" {
                        current.append("\"")
                        index = line.index(after: index)
                    } else {
                        inQuotes = false
                    }
                } else {
                    current.append(c)
                }
            } else if c == "\"" && current.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        guard !inQuotes else { throw RewriteError(.mapFile, "a quoted field is not closed", location: location) }
        fields.append(current)
        return fields
    }
}
