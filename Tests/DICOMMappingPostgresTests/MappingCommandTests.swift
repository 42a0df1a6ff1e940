import DICOMPeerSupport
import DICOMTestSupport
import DICOMCore
import DICOMMappingPostgres
import Foundation
import Testing
@testable import DICOMRewrite

/// `dicomtap pseudonym --mapping-store postgresql://...` and `dicomtap mapping export|import`, run as a user would.
@Suite(.peers, .postgres, .requires(.dicomtap))
struct MappingCommandTests {
    func run(_ arguments: [String], in dir: TemporaryDirectory, environment: [String: String] = [:]) async throws
        -> (out: String, err: String, status: Int32) {
        // Through the shell, for the redirection of standard output and the environment.
        let line = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ") + " '" + Peers.dicomtap + "' "
            + arguments.map { $0.hasPrefix(">") ? $0 : "'\($0)'" }.joined(separator: " ")
        let process = try Subprocess("/bin/sh", ["-c", line], name: "dicomtap-\(UUID().uuidString.prefix(6))", directory: dir)
        let status = try await process.wait(timeout: .seconds(60))
        return (process.stdout, process.stderr, status)
    }

    @Test func exportFromSQLiteImportIntoPostgreSQLAndBack() async throws {
        let dir = try TemporaryDirectory("pg-cli")
        defer { dir.remove() }
        let key = dir.file("pseudonym.key")
        _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { UInt8(truncatingIfNeeded: 13 * $0 + 5) }))
        chmod(key, 0o600)
        let sqlite = dir.file("map.sqlite")
        // Awkward originals: a comma, a quote, a line break, non-ASCII, and an issuer.
        let source = try MappingStore(path: sqlite)
        let records = [
            PseudonymRecord(pseudonym: "PS-A", original: "Doe^John", vr: .PN, tag: Tag(0x0010_0010)),
            PseudonymRecord(pseudonym: "PS-B", original: "ID,with \"quotes\"\nand a line", vr: .LO, tag: .patientID, issuer: "HOSP-1"),
            PseudonymRecord(pseudonym: "PS-C", original: "Müller^Jörg", vr: .PN, tag: Tag(0x0010_0010)),
        ] + (0..<2500).map { PseudonymRecord(pseudonym: "BULK-\($0)", original: "ORIG-\($0)", vr: .LO, tag: .patientID) }
        try source.commit(records)

        let exported = try await run(["mapping", "export", "--mapping-store", sqlite, "> \(dir.file("map.csv"))"], in: dir)
        #expect(exported.status == 0, "\(exported.err)")
        #expect(exported.err.contains("exported 2503 records"))
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("map.csv"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let url = try await TestDatabase.create("cli")
        let imported = try await run(["mapping", "import", "--mapping-store", url, dir.file("map.csv")], in: dir)
        #expect(imported.status == 0, "\(imported.err)")
        #expect(imported.err.contains("imported 2503 records into postgresql://"))
        let target = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { target.close() }
        #expect(try target.count() == 2503)
        for record in records.prefix(3) { #expect(try target.original(of: record.pseudonym) == record) }

        // Again: the same records are no error; and back into a new SQLite file, identical.
        #expect(try await run(["mapping", "import", "--mapping-store", url, dir.file("map.csv")], in: dir).status == 0)
        #expect(try await run(["mapping", "export", "--mapping-store", url, "-o", dir.file("back.csv")], in: dir).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("back.csv"))) == Data(contentsOf: URL(fileURLWithPath: dir.file("map.csv"))))

        // A CSV that would give a pseudonym to another original is refused, naming the collision.
        try "pseudonym,original,vr,tag,issuer\nPS-A,Someone^Else,PN,00100010,\n".write(toFile: dir.file("clash.csv"), atomically: true,
                                                                                        encoding: .utf8)
        let clash = try await run(["mapping", "import", "--mapping-store", url, dir.file("clash.csv")], in: dir)
        #expect(clash.status != 0)
        #expect(clash.err.contains("'PS-A'") && clash.err.contains("another original"), "\(clash.err)")

        // dicomtap pseudonym records into the database too.
        let printed = try await run(["pseudonym", "--key-file", key, "--mapping-store", url, "PID-CLI-1"], in: dir)
        #expect(printed.status == 0, "\(printed.err)")
        let pseudonym = printed.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try target.original(of: pseudonym)?.original == "PID-CLI-1")

        // A password in the URL is refused before anything is done.
        let withPassword = try await run(["pseudonym", "--key-file", key, "--mapping-store",
                                          "postgresql://dicomtap:secret@127.0.0.1:1/x", "PID"], in: dir)
        #expect(withPassword.status != 0)
        #expect(withPassword.err.contains("carries a password") && !withPassword.err.contains("secret"), "\(withPassword.err)")
    }
}
