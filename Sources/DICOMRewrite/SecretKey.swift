#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore

/// The secret key of the pseudonyms: the bytes of a key file. PS3.15 Annex E leaves the
/// method open; keyed hashing means whoever lacks the key cannot recompute or test a guess.
///
/// What is refused and what is only warned about (the warnings are for the caller to show):
/// - the file: it must be a regular file owned by the user running dicomtap, mode 0600 or 0400;
/// - the length: new keys have at least 32 bytes (256 bits); a key of exactly 16 bytes (128 bits,
///   the rule before) is still accepted, with a warning, so that the pseudonyms already made with
///   it stay valid; other lengths below 32 are refused;
/// - the bytes: one value repeated, or fewer than 16 distinct values, is a pattern, not a secret:
///   refused. A 16-byte key needs 8 distinct values (16 random bytes are all distinct only about
///   twice in three; they hold fewer than 8 about once in 10^12, 32 random bytes fewer than 16
///   about once in 10^16); every byte printable ASCII (a typed password or phrase): a warning.
package struct SecretKey: Sendable, Hashable {
    /// Fewest bytes of a new key (256 bits).
    package static let minimumLength = 32
    /// The one shorter length accepted (128 bits, the rule before): accepted with a warning.
    package static let legacyLength = 16
    /// Fewest distinct byte values in a key of `minimumLength` bytes or more.
    package static let minimumDistinctValues = 16
    /// Most bytes read from a key file (a larger file is refused, not read whole).
    package static let maximumLength = 1 << 16

    package let bytes: [UInt8]
    /// What is weak but accepted about this key, in words naming its file, each with the command
    /// that makes a good key. Callers show them (the CLI on stderr).
    package let warnings: [String]

    /// A key from bytes; throws when they are too few or a pattern (see the type's rules).
    package init(bytes: [UInt8]) throws(RewriteError) {
        try self.init(bytes: bytes, name: nil)
    }

    private init(bytes: [UInt8], name path: String?) throws(RewriteError) {
        let subject = path.map { "the key file \($0)" } ?? "the key"
        let makeOne = Self.makeKeyCommand(path ?? "FILE")
        guard bytes.count >= Self.minimumLength || bytes.count == Self.legacyLength else {
            let older = bytes.count > Self.legacyLength ? " (or exactly \(Self.legacyLength), a key from before kept for its pseudonyms)" : ""
            throw RewriteError(.keyFile, "\(subject) has \(bytes.count) byte\(bytes.count == 1 ? "" : "s"); a key needs at least "
                               + "\(Self.minimumLength) random bytes\(older). Make one: \(makeOne)")
        }
        let distinct = Set(bytes).count
        guard distinct > 1 else {
            throw RewriteError(.keyFile, "\(subject) is one byte value repeated (\(bytes.count) × 0x"
                               + "\(hex2(bytes[0]))): that is no secret. "
                               + "Make a random key: \(makeOne)")
        }
        let neededDistinct = min(Self.minimumDistinctValues, bytes.count / 2)
        guard distinct >= neededDistinct else {
            throw RewriteError(.keyFile, "\(subject) holds only \(distinct) distinct byte values in \(bytes.count) bytes "
                               + "(at least \(neededDistinct) are needed; random bytes hold about \(Self.expectedDistinct(bytes.count))): "
                               + "a pattern or a word, not a random key. Make a random key: \(makeOne)")
        }
        // A key in use may carry pseudonyms an archive holds: the command for a better one writes a new file.
        let makeNew = Self.makeKeyCommand(path.map { $0 + ".new" } ?? "FILE")
        var warnings: [String] = []
        if bytes.count < Self.minimumLength {
            warnings.append("\(subject) has \(bytes.count) bytes; new keys need at least \(Self.minimumLength). It is still "
                            + "accepted, so the pseudonyms made with it stay valid; a new key gives new pseudonyms. "
                            + "For a new deployment make one: \(makeNew)")
        }
        if bytes.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            warnings.append("\(subject) looks like text (every byte is printable ASCII): a password or phrase a person "
                            + "chose can be guessed, and whoever guesses it can test pseudonyms against names and IDs. "
                            + "A key of random bytes cannot; a new key gives new pseudonyms. Make one: \(makeNew)")
        }
        self.bytes = bytes
        self.warnings = warnings
    }

    /// Reads a key file: refused when it cannot be read, is not a regular file, is not owned by
    /// the user running dicomtap, has a mode other than 0600 or 0400, or its bytes are too few or
    /// a pattern (see the type's rules). The file is opened once and checked as opened.
    package init(contentsOfFile path: String) throws(RewriteError) {
        let makeOne = Self.makeKeyCommand(path)
        let file = Self.shellWord(path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let why = errno
            switch why {
            case ENOENT:
                throw RewriteError(.keyFile, "there is no key file \(path). Make one: \(makeOne)")
            case EACCES:
                let user = Self.userName(geteuid())
                throw RewriteError(.keyFile, "the key file \(path) cannot be read by \(user), who runs dicomtap: a key file belongs "
                                   + "to that user, mode 0600. Fix it (as its owner or root): chown \(user) \(file) && chmod 600 \(file); "
                                   + "or make a new key: \(makeOne)")
            default:
                throw RewriteError(.keyFile, "cannot open the key file \(path) (\(systemErrorWords(why))). Make one: \(makeOne)")
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw RewriteError(.keyFile, "cannot read the key file \(path) (\(systemErrorWords(errno))). Make one: \(makeOne)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let what = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw RewriteError(.keyFile, "the key file \(path) is \(what). Make a key file: \(makeOne)")
        }
        let user = geteuid()
        guard info.st_uid == user else {
            let name = Self.userName(user)
            throw RewriteError(.keyFile, "the key file \(path) belongs to \(Self.userName(info.st_uid)), not to \(name), who runs "
                               + "dicomtap: its owner can read or replace the key. Give it to \(name) (as root): chown \(name) \(file) "
                               + "&& chmod 600 \(file); or make a new key: \(makeOne)")
        }
        let mode = info.st_mode & 0o7777
        guard mode == 0o600 || mode == 0o400 else {
            let octal = "0" + String(mode, radix: 8)
            if mode & 0o077 != 0 {
                throw RewriteError(.keyFile, "the key file \(path) can be read or changed by users other than its owner (mode "
                                   + "\(octal)). Restrict it: chmod 600 \(file). If others may have copied it, make a new key "
                                   + "instead (new pseudonyms): \(Self.makeKeyCommand(path + ".new"))")
            }
            throw RewriteError(.keyFile, "the key file \(path) has mode \(octal); a key file has mode 0600 or 0400. "
                               + "Fix it: chmod 600 \(file); a new one is made by \(makeOne)")
        }
        guard info.st_size <= Self.maximumLength else {
            throw RewriteError(.keyFile, "the key file \(path) has \(info.st_size) bytes; at most \(Self.maximumLength) are read, "
                               + "and a key needs \(Self.minimumLength) random bytes. Make one: \(makeOne)")
        }
        var buffer = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < buffer.count {
            let got = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return read(fd, base + filled, raw.count - filled)
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            filled += got
        }
        guard filled == buffer.count else {
            throw RewriteError(.keyFile, "the key file \(path) changed while it was read: run the command again once it is "
                               + "written (a key file is written once: \(makeOne))")
        }
        try self.init(bytes: buffer, name: path)
    }

    /// The command that makes a good key in `path`.
    static func makeKeyCommand(_ path: String) -> String {
        let file = shellWord(path)
        return "head -c \(minimumLength) /dev/urandom > \(file) && chmod 600 \(file)"
    }

    /// `path` as one word for a POSIX shell: as it is when it holds only characters no shell
    /// treats specially, otherwise in single quotes.
    static func shellWord(_ path: String) -> String {
        let plain = path.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || "/._-+,:@%".utf8.contains(byte)
        }
        if plain && !path.isEmpty { return path }
        return "'" + path.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// About how many distinct values `count` random bytes hold (256 (1 - (255/256)^count)).
    private static func expectedDistinct(_ count: Int) -> Int {
        var missing = 1.0
        for _ in 0..<count { missing *= 255.0 / 256.0 }
        return Int((256 * (1 - missing)).rounded())
    }

    /// The login name of `uid` (getpwuid_r: thread-safe), or "uid N" when there is none.
    private static func userName(_ uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let name = entry.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}
