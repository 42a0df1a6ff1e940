import ArgumentParser
import DICOMCore
import DICOMRewrite
import Foundation

/// `dicomtap mapping export|import`: moves a mapping store's records between the two kinds of
/// store (a SQLite file, a PostgreSQL database) through CSV.
struct MappingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapping",
        abstract: "Export a mapping store's pseudonyms to CSV, or import them, to move between SQLite and PostgreSQL.",
        discussion: """
        The CSV holds the originals (patients' identifiers): export writes it with mode 0600 (a file given with \
        --output, or standard output when it is redirected to a file). Columns: pseudonym, original, vr, tag \
        (8 hex digits), issuer (empty: none). Import adds the records in batches; one already there for the same \
        original is skipped, one there for another original is a collision, which stops the import.

        EXAMPLES:
          dicomtap mapping export --mapping-store dicomtap-pseudonyms.sqlite > pseudonyms.csv
          PGPASSWORD=... dicomtap mapping import --mapping-store postgresql://dicomtap@db1:5432/pseudonyms pseudonyms.csv
        """,
        subcommands: [MappingExport.self, MappingImport.self])
}

struct MappingStoreArguments: ParsableArguments {
    @Option(help: ArgumentHelp("The mapping store: a SQLite file or postgresql://USER@HOST:PORT/DB.", valueName: "file|url"))
    var mappingStore: String

    @Option(help: ArgumentHelp(MappingStoreOpening.passwordHelp, valueName: "file"))
    var mappingStorePasswordFile: String?

    func open(creating: Bool) throws -> any PseudonymStore {
        if !MappingStore.isDatabaseURL(mappingStore) && !creating {
            try PathCheck.readableFile(mappingStore, "--mapping-store")
        }
        try MappingStoreOpening.check(mappingStore, passwordFile: mappingStorePasswordFile)
        do { return try MappingStoreOpening.open(mappingStore, passwordFile: mappingStorePasswordFile) } catch { throw CLIError("\(error)") }
    }
}

struct MappingExport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write every record of a mapping store as CSV.")

    @OptionGroup var store: MappingStoreArguments

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file (created with mode 0600) instead of standard output.",
                                                    valueName: "file.csv"))
    var output: String?

    func run() throws {
        let source = try store.open(creating: false)
        defer { source.close() }
        let descriptor: Int32
        if let output {
            try PathCheck.writableFile(output, "--output")
            descriptor = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard descriptor >= 0 else { throw CLIError("--output \(output): cannot be created") }
        } else {
            descriptor = STDOUT_FILENO
        }
        // The file holds originals: not readable by others, whoever created it (a shell's redirection uses the umask).
        var info = stat()
        if fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && fchmod(descriptor, 0o600) != 0 {
            throw CLIError("cannot set mode 0600 on the output file: give --output FILE instead")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: output != nil)
        handle.write(Data("pseudonym,original,vr,tag,issuer\n".utf8))
        var after: String?
        var total = 0
        while true {
            let batch: [PseudonymRecord]
            do { batch = try source.records(after: after, limit: 1000) } catch { throw CLIError("\(error)") }
            guard let last = batch.last else { break }
            var text = ""
            for record in batch { text += MappingCSV.line(record) }
            handle.write(Data(text.utf8))
            total += batch.count
            after = last.pseudonym
        }
        FileHandle.standardError.write(Data("dicomtap mapping: exported \(total) records from \(source.location)\n".utf8))
    }
}

struct MappingImport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Add the records of a CSV export to a mapping store.")

    @OptionGroup var store: MappingStoreArguments

    @Argument(help: ArgumentHelp("The CSV file (from dicomtap mapping export).", valueName: "file.csv"))
    var file: String

    func run() throws {
        try PathCheck.readableFile(file, "")
        let records: [PseudonymRecord]
        do {
            records = try MappingCSV.parse(Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped), file: file)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(file): cannot be read")
        }
        let target = try store.open(creating: true)
        defer { target.close() }
        var start = 0
        while start < records.count {
            let batch = Array(records[start..<min(start + 1000, records.count)])
            do {
                try target.commit(batch)
            } catch {
                throw CLIError("\(error) (importing the records from line \(start + 2) of \(file); those before are in)")
            }
            start += batch.count
        }
        FileHandle.standardError.write(Data("dicomtap mapping: imported \(records.count) records into \(target.location)\n".utf8))
    }
}

/// The CSV of `dicomtap mapping` (RFC 4180: a field with a comma, quote or line break is quoted).
enum MappingCSV {
    static func line(_ record: PseudonymRecord) -> String {
        [record.pseudonym, record.original, record.vr.code, String(format: "%08X", record.tag.rawValue), record.issuer ?? ""]
            .map(field).joined(separator: ",") + "\n"
    }

    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The records of an export; a row that is not one is an error naming its line.
    static func parse(_ data: Data, file: String) throws(CLIError) -> [PseudonymRecord] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var bad = false
        func endField() {
            if let text = String(validating: field, as: UTF8.self) { row.append(text) } else { bad = true }
            field.removeAll(keepingCapacity: true)
        }
        var index = data.startIndex
        while index < data.endIndex {
            let byte = data[index]
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index < data.endIndex && data[index] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\"") where field.isEmpty: quoted = true
            case UInt8(ascii: ","): endField()
            case UInt8(ascii: "\r"): continue
            case UInt8(ascii: "\n"):
                endField()
                rows.append(row)
                row = []
            default: field.append(byte)
            }
            if bad { throw CLIError("\(file): line \(rows.count + 1) is not UTF-8 text") }
        }
        if !field.isEmpty || !row.isEmpty {
            endField()
            rows.append(row)
        }
        if bad { throw CLIError("\(file): its last line is not UTF-8 text") }
        guard rows.first == ["pseudonym", "original", "vr", "tag", "issuer"] else {
            throw CLIError("\(file): not a dicomtap mapping export (its first line must be pseudonym,original,vr,tag,issuer)")
        }
        var records: [PseudonymRecord] = []
        for (index, columns) in rows.enumerated().dropFirst() {
            guard columns.count == 5, !columns[0].isEmpty, let vr = VR(code: columns[2]),
                  columns[3].utf8.count == 8, let tag = UInt32(columns[3], radix: 16) else {
                throw CLIError("\(file): row \(index + 1) is not pseudonym,original,vr,tag,issuer (VR a code such as LO, tag 8 hex digits)")
            }
            records.append(PseudonymRecord(pseudonym: columns[0], original: columns[1], vr: vr, tag: Tag(rawValue: tag),
                                           issuer: columns[4].isEmpty ? nil : columns[4]))
        }
        return records
    }
}
