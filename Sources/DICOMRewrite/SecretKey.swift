#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The secret key of the pseudonyms: the bytes of a key file. PS3.15 Annex E leaves the
/// method open; keyed hashing means whoever lacks the key cannot recompute or test a guess.
public struct SecretKey: Sendable, Hashable {
    /// Fewest bytes accepted (128 bits).
    public static let minimumLength = 16
    /// Most bytes read from a key file (a larger file is refused, not read whole).
    public static let maximumLength = 1 << 16

    public let bytes: [UInt8]

    /// A key from bytes; throws when there are fewer than `minimumLength`.
    public init(bytes: [UInt8]) throws(RewriteError) {
        guard bytes.count >= Self.minimumLength else {
            throw RewriteError(.keyFile, "the key has \(bytes.count) bytes; at least \(Self.minimumLength) are needed")
        }
        self.bytes = bytes
    }

    /// Reads a key file: refused when it cannot be read, is not a regular file, is readable
    /// or writable by others than its owner and group ("world"), or has fewer than 16 bytes.
    public init(contentsOfFile path: String) throws(RewriteError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw RewriteError(.keyFile, "cannot read the key file \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw RewriteError(.keyFile, "the key file \(path) is not a regular file")
        }
        let worldBits = info.st_mode & (S_IROTH | S_IWOTH)
        guard worldBits == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw RewriteError(.keyFile, "the key file \(path) is accessible to every user (mode \(mode)); "
                               + "restrict it first, e.g. chmod 600 \(path)")
        }
        guard info.st_size >= Self.minimumLength else {
            throw RewriteError(.keyFile, "the key file \(path) has \(info.st_size) bytes; at least \(Self.minimumLength) are needed "
                               + "(e.g. head -c 32 /dev/urandom > \(path))")
        }
        guard info.st_size <= Self.maximumLength else {
            throw RewriteError(.keyFile, "the key file \(path) has \(info.st_size) bytes; at most \(Self.maximumLength) are read")
        }
        guard let file = fopen(path, "rb") else {
            throw RewriteError(.keyFile, "cannot open the key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: Int(info.st_size))
        let read = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        guard read == buffer.count else {
            throw RewriteError(.keyFile, "the key file \(path) changed while it was read")
        }
        try self.init(bytes: buffer)
    }
}

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
