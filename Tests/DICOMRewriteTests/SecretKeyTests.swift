import Foundation
import Testing
@testable import DICOMRewrite

/// The key file: who may own it, its mode, its length and its bytes; what is refused, what is
/// only warned about, and that every message says how to make a good key.
@Suite struct SecretKeyTests {
    /// 32 bytes from /dev/urandom, fixed so that the test never depends on chance.
    static let random32: [UInt8] = [0x62, 0x80, 0x75, 0xFC, 0x6E, 0xBD, 0x0B, 0x9D, 0x56, 0x7B, 0xC8, 0xBF, 0xF8, 0x8D, 0xF8, 0xE6,
                                    0x25, 0x1D, 0x2F, 0x8C, 0x4D, 0x03, 0xE4, 0xB0, 0x42, 0x05, 0xD5, 0xBD, 0x1F, 0x3E, 0xA3, 0x94]
    /// 16 bytes from /dev/urandom: 15 distinct values (0x09 twice), as random 16-byte keys often have.
    static let random16: [UInt8] = [0x27, 0x59, 0x28, 0x5E, 0x09, 0x8C, 0xFA, 0xD4, 0x09, 0x70, 0xC8, 0xBA, 0x01, 0x97, 0x11, 0x63]

    static let makeOne = "head -c 32 /dev/urandom > "

    /// The message a key file is refused with (nil: accepted).
    func refusal(_ path: String) -> String? {
        do {
            _ = try SecretKey(contentsOfFile: path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func goodKeys() throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        let good = try writeKeyFile(dir, bytes: Self.random32)
        let key = try SecretKey(contentsOfFile: good)
        #expect(key.bytes == Self.random32)
        #expect(key.warnings.isEmpty)
        // Read-only for its owner is as good.
        let readOnly = try writeKeyFile(dir, bytes: Self.random32, mode: 0o400)
        #expect(try SecretKey(contentsOfFile: readOnly).warnings.isEmpty)
        // Longer keys are fine.
        let long = try writeKeyFile(dir, bytes: Self.random32 + Self.random32.reversed())
        #expect(try SecretKey(contentsOfFile: long).warnings.isEmpty)
        // Freshly random ones, as the command makes them.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(try SecretKey(bytes: bytes).bytes == bytes)
        }
    }

    /// Group or other bits: refused, saying chmod 600.
    @Test(arguments: [0o640, 0o660, 0o644, 0o604, 0o666] as [mode_t])
    func modesOpenToOthersAreRefused(mode: mode_t) throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        let path = try writeKeyFile(dir, bytes: Self.random32, mode: mode)
        let message = try #require(refusal(path))
        #expect(message.contains("the key file \(path) can be read or changed by users other than its owner (mode 0\(String(mode, radix: 8)))"),
                "\(message)")
        #expect(message.contains("chmod 600 \(path)"))
        #expect(message.contains(Self.makeOne))
    }

    @Test func otherModesAreRefused() throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        for mode: mode_t in [0o700, 0o200, 0o4600] {
            let path = try writeKeyFile(dir, bytes: Self.random32, mode: mode)
            let message = try #require(refusal(path))
            #expect(message.contains("has mode 0\(String(mode, radix: 8)); a key file has mode 0600 or 0400"), "\(message)")
            #expect(message.contains("chmod 600 \(path)"))
        }
    }

    /// Owned by another user: refused (only root can make such a file for the test).
    @Test func ownedByAnotherUserIsRefused() throws {
        guard geteuid() == 0 else { return }
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        let path = try writeKeyFile(dir, bytes: Self.random32)
        #expect(chown(path, 65534, 65534) == 0)
        let message = try #require(refusal(path))
        #expect(message.contains("the key file \(path) belongs to "), "\(message)")
        #expect(message.contains("not to root, who runs dicomtap"))
        #expect(message.contains("chown root \(path) && chmod 600 \(path)"))
        #expect(message.contains(Self.makeOne))
    }

    @Test func lengths() throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        // Exactly 16 random bytes (a key from before): accepted, with a warning that says how to make a new one.
        let legacy = try writeKeyFile(dir, bytes: Self.random16)
        let key = try SecretKey(contentsOfFile: legacy)
        #expect(key.bytes == Self.random16)
        #expect(key.warnings.count == 1)
        #expect(key.warnings.first?.contains("the key file \(legacy) has 16 bytes; new keys need at least 32") == true)
        #expect(key.warnings.first?.contains("head -c 32 /dev/urandom > \(legacy).new && chmod 600 \(legacy).new") == true)

        // Other lengths under 32: refused.
        for count in [0, 1, 15, 17, 24, 31] {
            let path = try writeKeyFile(dir, bytes: Array(Self.random32.prefix(count)))
            let message = try #require(refusal(path), "\(count) bytes")
            #expect(message.contains("the key file \(path) has \(count) byte"), "\(message)")
            #expect(message.contains("a key needs at least 32 random bytes"))
            #expect(message.contains("head -c 32 /dev/urandom > \(path) && chmod 600 \(path)"))
            #expect(message.contains("or exactly 16") == (count > 16))
        }
    }

    @Test func patternsAreRefused() throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        let zeros = try writeKeyFile(dir, bytes: Array(repeating: 0, count: 16))
        let zeroMessage = try #require(refusal(zeros))
        #expect(zeroMessage == "the key file \(zeros) is one byte value repeated (16 × 0x00): that is no secret. "
                + "Make a random key: head -c 32 /dev/urandom > \(zeros) && chmod 600 \(zeros)")
        let sevens = try writeKeyFile(dir, bytes: Array(repeating: 7, count: 64))
        #expect(refusal(sevens)?.contains("one byte value repeated (64 × 0x07)") == true)

        // A word repeated: 7 distinct values in 16 bytes.
        let password = try writeKeyFile(dir, bytes: Array("passwordpassword".utf8))
        let passwordMessage = try #require(refusal(password))
        #expect(passwordMessage.contains("holds only 7 distinct byte values in 16 bytes (at least 8 are needed"), "\(passwordMessage)")
        #expect(passwordMessage.contains(Self.makeOne))

        // 32 bytes of a short cycle: fewer than 16 distinct values.
        let cycle = try writeKeyFile(dir, bytes: (0..<32).map { UInt8($0 % 10) })
        #expect(refusal(cycle)?.contains("holds only 10 distinct byte values in 32 bytes (at least 16 are needed") == true)
        // The same from bytes, without a file.
        #expect(throws: RewriteError.self) { try SecretKey(bytes: Array(repeating: 0, count: 32)) }
    }

    @Test func textLooksWeak() throws {
        let dir = try TemporaryDirectory("key")
        defer { dir.remove() }
        // A phrase with enough distinct characters: accepted, with a warning.
        let phrase = try writeKeyFile(dir, bytes: Array("The quick brown fox jumps over 1".utf8))
        let key = try SecretKey(contentsOfFile: phrase)
        #expect(key.warnings.count == 1)
        #expect(key.warnings.first?.contains("the key file \(phrase) looks like text (every byte is printable ASCII)") == true)
        #expect(key.warnings.first?.contains("head -c 32 /dev/urandom > \(phrase).new && chmod 600 \(phrase).new") == true)
        // A typed line ends with a newline: still text.
        let line = try writeKeyFile(dir, bytes: Array("The quick brown fox jumps over 1\n".utf8))
        #expect(try SecretKey(contentsOfFile: line).warnings.count == 1)
        // 16 bytes of text: both warnings.
        let shortText = try writeKeyFile(dir, bytes: Array("abcdefgh12345678".utf8))
        #expect(try SecretKey(contentsOfFile: shortText).warnings.count == 2)
    }

    @Test func unreadableFiles() throws {
        let dir = try TemporaryDirectory("key dir")
        defer { dir.remove() }
        let missing = dir.file("missing.key")
        #expect(refusal(missing) == "there is no key file \(missing). Make one: head -c 32 /dev/urandom > '\(missing)' && chmod 600 '\(missing)'")
        let folder = dir.file("folder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(refusal(folder)?.hasPrefix("the key file \(folder) is a directory. Make a key file: head -c 32") == true)
    }

    @Test func shellWords() {
        #expect(SecretKey.shellWord("/etc/dicomtap/pseudonym.key") == "/etc/dicomtap/pseudonym.key")
        #expect(SecretKey.shellWord("my key") == "'my key'")
        #expect(SecretKey.shellWord("it's") == "'it'\\''s'")
        #expect(SecretKey.shellWord("") == "''")
    }
}
