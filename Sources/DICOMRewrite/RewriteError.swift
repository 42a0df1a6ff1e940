/// A rewriting configuration that cannot be used: rules file, key file, map file or mapping store.
public struct RewriteError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let rulesFile = Code(rawValue: "rules-file")
        public static let keyFile = Code(rawValue: "key-file")
        public static let mapFile = Code(rawValue: "map-file")
        public static let mappingStore = Code(rawValue: "mapping-store")
        public static let unencodable = Code(rawValue: "unencodable")
        public static let dataSet = Code(rawValue: "dataset")
    }

    public var code: Code
    public var message: String
    /// `file:line` (or `file:line:column`) where the problem is, when it comes from a file.
    public var location: String?

    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}
