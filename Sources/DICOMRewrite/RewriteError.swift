/// A rewriting configuration that cannot be used: rules file, key file, map file or mapping store.
package struct RewriteError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        package static let rulesFile = Code(rawValue: "rules-file")
        package static let keyFile = Code(rawValue: "key-file")
        package static let mapFile = Code(rawValue: "map-file")
        package static let mappingStore = Code(rawValue: "mapping-store")
        package static let unencodable = Code(rawValue: "unencodable")
        package static let dataSet = Code(rawValue: "dataset")
    }

    package var code: Code
    package var message: String
    /// `file:line` (or `file:line:column`) where the problem is, when it comes from a file.
    package var location: String?

    package init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    package var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}
