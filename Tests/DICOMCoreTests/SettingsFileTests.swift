import DICOMCore
import Foundation
import Testing

/// `SettingsFile.load`: the one reader of the small files a user names (rules, maps, `--config`, a password file).
/// A device or pipe is refused before a byte is read (a `file:` naming `/dev/zero` was read without end), and no
/// more than the limit is read whatever the file's size.
@Suite struct SettingsFileTests {
    private func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "/settings-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsARegularUTF8File() throws {
        let path = try temporaryFile(Array("key: value\nÄ\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SettingsFile.load(path, limit: 100) == "key: value\nÄ\n")
    }

    @Test func aByteOrderMarkIsNotPartOfTheText() throws {
        let path = try temporaryFile([0xEF, 0xBB, 0xBF] + Array("original,replacement\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try SettingsFile.load(path, limit: 100) == "original,replacement\n")
    }

    @Test func devicesPipesAndFoldersAreRefusedInWords() throws {
        #expect(throws: SettingsFile.Problem.notARegularFile("a device")) { try SettingsFile.load("/dev/zero", limit: 1 << 20) }
        #expect(throws: SettingsFile.Problem.notARegularFile("a folder")) { try SettingsFile.load(NSTemporaryDirectory(), limit: 1 << 20) }
        let fifo = NSTemporaryDirectory() + "/settings-fifo-\(UUID().uuidString)"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { try? FileManager.default.removeItem(atPath: fifo) }
        #expect(throws: SettingsFile.Problem.notARegularFile("a pipe")) { try SettingsFile.load(fifo, limit: 1 << 20) }
        #expect(SettingsFile.Problem.notARegularFile("a device").description == "it is a device, not a regular file")
    }

    @Test func missingLargeAndBinaryFiles() throws {
        #expect(throws: SettingsFile.Problem.noSuchFile) { try SettingsFile.load("/nonexistent/settings.yaml", limit: 10) }
        let large = try temporaryFile(Array(repeating: UInt8(ascii: "a"), count: 11))
        defer { try? FileManager.default.removeItem(atPath: large) }
        #expect(throws: SettingsFile.Problem.tooLarge(limit: 10)) { try SettingsFile.load(large, limit: 10) }
        #expect(try SettingsFile.load(large, limit: 11).count == 11)
        let binary = try temporaryFile([0x61, 0xFF, 0xFE])
        defer { try? FileManager.default.removeItem(atPath: binary) }
        #expect(throws: SettingsFile.Problem.notUTF8) { try SettingsFile.load(binary, limit: 10) }
    }
}
