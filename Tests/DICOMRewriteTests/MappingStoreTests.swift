import DICOMCore
import Foundation
import Testing
import DICOMTestSupport
@testable import DICOMRewrite


func record(_ n: Int) -> PseudonymRecord {
    PseudonymRecord(pseudonym: "PSEUDO\(n)", original: "ORIGINAL\(n)", vr: .LO, tag: DICOMCore.Tag(0x0010_0020))
}

@Suite(.requires(.sqlite3), .ownExecutor)
struct MappingStoreTests {
    /// Every distinct pseudonym issued and looked up stays in the file, but memory holds at most `cacheLimit`.
    @Test func cacheIsBounded() throws {
        let dir = try TemporaryDirectory("store-cache")
        defer { dir.remove() }
        let store = try MappingStore(path: dir.file("map.sqlite"), cacheLimit: 100)
        for n in 0..<1000 { try store.issued(record(n)) }
        #expect(store.cachedCount <= 100)
        #expect(try store.count() == 1000)
        // Looked up again: read back from the file, the cache stays bounded.
        for n in 0..<1000 { #expect(try store.original(of: "PSEUDO\(n)") == record(n)) }
        #expect(store.cachedCount <= 100)
        #expect(store.cachedCount >= 50)
        // Recently used ones are served from memory (gone from the file, still answered).
        try sqlite3(dir.file("map.sqlite"), "DELETE FROM pseudonym WHERE pseudonym = 'PSEUDO999'")
        #expect(try store.original(of: "PSEUDO999") == record(999))
        // A store in memory only keeps all of its records (they are the store).
        let memory = MappingStore()
        for n in 0..<1000 { try memory.issued(record(n)) }
        #expect(memory.cachedCount == 1000)
        #expect(try memory.original(of: "PSEUDO0") == record(0))
    }

    /// A write that fails is tried again the next time the value passes: the record is cached only once written.
    @Test func failedWriteIsWrittenNextTime() throws {
        let dir = try TemporaryDirectory("store-retry")
        defer { dir.remove() }
        let path = dir.file("map.sqlite")
        let store = try MappingStore(path: path)
        try sqlite3(path, "CREATE TRIGGER refuse BEFORE INSERT ON pseudonym BEGIN SELECT RAISE(ABORT, 'disk says no'); END;")
        #expect(throws: RewriteError.self) { try store.issued(record(1)) }
        try sqlite3(path, "DROP TRIGGER refuse")
        try store.issued(record(1))
        #expect(try store.count() == 1)
        // After a restart it maps back.
        #expect(try MappingStore(path: path).original(of: "PSEUDO1") == record(1))
    }

    /// A file with the expected table whose rows are not what the store writes: a typed error naming the file and
    /// the column, never GRDB's fatal error.
    @Test func damagedRowsAreTypedErrors() throws {
        let dir = try TemporaryDirectory("store-damaged")
        defer { dir.remove() }
        let path = dir.file("map.sqlite")
        try sqlite3(path, """
            CREATE TABLE pseudonym (pseudonym TEXT PRIMARY KEY, original, vr, tag, issued);
            INSERT INTO pseudonym (pseudonym, original, vr, tag) VALUES
                ('NULL-ORIGINAL', NULL, 'LO', 1048608),
                ('BLOB-ORIGINAL', X'FF00', 'LO', 1048608),
                ('TEXT-TAG', 'x', 'LO', 'abc'),
                ('NULL-VR', 'x', NULL, 1048608),
                ('BAD-VR', 'x', 'ZZ', 1048608),
                ('BIG-TAG', 'x', 'LO', 99999999999),
                ('SOUND', 'ORIGINAL', 'PN', 1048592);
            """)
        let store = try MappingStore(path: path)
        let cases: [(String, String)] = [
            ("NULL-ORIGINAL", "column original of the row of pseudonym 'NULL-ORIGINAL' is NULL"),
            ("BLOB-ORIGINAL", "column original of the row of pseudonym 'BLOB-ORIGINAL' holds a blob of 2 bytes, not text"),
            ("TEXT-TAG", "column tag of the row of pseudonym 'TEXT-TAG' holds text of 3 bytes, not an integer"),
            ("NULL-VR", "column vr of the row of pseudonym 'NULL-VR' is NULL"),
            ("BAD-VR", "the row of pseudonym 'BAD-VR' has VR 'ZZ'"),
            ("BIG-TAG", "the row of pseudonym 'BIG-TAG' has tag 99999999999, not a tag number"),
        ]
        for (pseudonym, expected) in cases {
            do {
                let found = try store.original(of: pseudonym)
                Issue.record("\(pseudonym): read \(String(describing: found))")
            } catch {
                #expect(error.code == .mappingStore)
                #expect(error.message.hasPrefix("the mapping store \(path) is damaged: "), "\(error)")
                #expect(error.message.contains(expected), "\(error)")
            }
        }
        #expect(try store.original(of: "SOUND") == PseudonymRecord(pseudonym: "SOUND", original: "ORIGINAL", vr: .PN,
                                                                  tag: DICOMCore.Tag(0x0010_0010)))
    }
}

@Suite struct ValueMapFileTests {
    /// RFC 4180 files end lines with CRLF (Swift reads CRLF as one Character): every line break form, quoted
    /// commas, quotes and line breaks, comments, blank lines and a last line without a line break.
    @Test func crlfAndQuotedLineBreaks() throws {
        let dir = try TemporaryDirectory("map-crlf")
        defer { dir.remove() }
        let text = "original,replacement\r\nHOSP-A,SITE-1\r\n# a comment\r\n\r\n\"HOSP,B\",SITE-2\r\n"
            + "\"multi\r\nline\",SITE-3\n\"say \"\"hi\"\"\",SITE-4\rLAST,SITE-5"
        try text.write(toFile: dir.file("map.csv"), atomically: true, encoding: .utf8)
        let map = try ValueMap(contentsOfFile: dir.file("map.csv"))
        #expect(map.forward == ["HOSP-A": "SITE-1", "HOSP,B": "SITE-2", "multi\r\nline": "SITE-3", "say \"hi\"": "SITE-4",
                                "LAST": "SITE-5"])
        #expect(map.backward["SITE-3"] == "multi\r\nline")
    }

    /// Errors in a CRLF file name the line they are on (a quoted line break counts as a line).
    @Test func crlfErrorsNameTheLine() throws {
        let dir = try TemporaryDirectory("map-crlf-errors")
        defer { dir.remove() }
        let cases: [(String, String)] = [
            ("A,1\r\nB\r\n", ":2: expected two fields (original,replacement), found 1"),
            ("A,1\r\n\"x\r\ny\",2\r\nC,1\r\n", ":4: the replacement '1' is given for two values"),
            ("A,1\r\n\"open,2\r\n", ":2: a quoted field is not closed"),
        ]
        for (n, (text, expected)) in cases.enumerated() {
            let path = dir.file("bad\(n).csv")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try ValueMap(contentsOfFile: path)
                Issue.record("\(text.debugDescription) was accepted")
            } catch {
                #expect(error.description.hasPrefix(path + expected), "\(error)")
            }
        }
    }
}
