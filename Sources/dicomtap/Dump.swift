import ArgumentParser
import DICOMCore
import Foundation
import NIOCore

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dump a DICOM file (Part 10, or a bare dataset with --transfer-syntax) as text or DICOM JSON.",
        discussion: """
        The file is read in pieces: values of 64 KiB or more are kept by their first bytes only (--show-all keeps \
        them). An error is one line naming the byte offset and the tag being read, with exit status 1.

        EXAMPLES:
          dicomtap dump captures/rpi-cfind-response.dcm
          dicomtap dump --format json demo/sr/astrom-eva-tid9007.dcm
          dicomtap dump -L demo/sr/astrom-eva-tid9007.dcm
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Argument(help: "The file to dump.")
    var file: String

    @Option(help: "Output format: text (like dcmdump) or json (DICOM JSON model, PS3.18 Annex F).")
    var format: Format = .text

    @Flag(name: [.customLong("show-all"), .customShort("L")], help: "Show long values in full instead of shortening them.")
    var showAll = false

    @Option(help: "Shorten values longer than this many characters (text format).")
    var maxLength = 64

    @Flag(help: "Accept odd value lengths (PS3.5 §7.1.1 forbids them).")
    var lenient = false

    @Option(help: "Read the file as a bare dataset (no preamble or file meta) in this transfer syntax UID.")
    var transferSyntax: String?

    func run() throws {
        try PathCheck.readableFile(file, "")
        let options: DecodingOptions = lenient ? .lenient : .strict
        // Read in pieces: a value longer than the threshold is not kept whole (the text shows it
        // shortened from its first bytes, JSON by a BulkDataURI), so a file of any size is
        // dumped in bounded memory; --show-all keeps everything.
        var reader = DICOMFileReader(options: options, bulkThreshold: showAll ? .max : 1 << 16,
                                     prefixLength: max(256, maxLength * 4 + 16))
        reader.chunkSize = 1 << 20
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CLIError("\(file): cannot read the file") }
        defer { try? handle.close() }
        let next = { () throws -> ByteBuffer? in
            guard let data = try handle.read(upToCount: reader.chunkSize), !data.isEmpty else { return nil }
            return ByteBuffer(bytes: data)
        }
        do {
            let contents: DICOMFileReader.Contents
            if let uid = transferSyntax {
                guard let t = TransferSyntax(uid: uid, lenient: true) else {
                    throw ValidationError("unknown transfer syntax '\(uid)'")
                }
                contents = .init(fileMetaInformation: nil, transferSyntax: t,
                                 dataset: try reader.readDataSet(transferSyntax: t, next: next))
            } else {
                contents = try reader.read(next: next)
            }
            switch format {
            case .json:
                print(DICOMJSONRenderer().render(contents.dataset).serialized(indent: 2))
            case .text:
                let r = TextDumpRenderer(options: .init(maxValueLength: maxLength, showAll: showAll))
                if let meta = contents.fileMetaInformation {
                    print("# Dicom-File-Format\n\n# Dicom-Meta-Information-Header\n# Used TransferSyntax: Little Endian Explicit")
                    r.render(meta) { print($0, terminator: "") }
                    print("\n# Dicom-Data-Set")
                }
                print("# Used TransferSyntax: \(contents.transferSyntax.name)")
                r.render(contents.dataset) { print($0, terminator: "") }
            }
        } catch let error as DICOMDecodingError {
            throw CLIError("\(file): \(error)")
        } catch let error as CLIError {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            throw CLIError("\(file): cannot read the file (\(error.localizedDescription))")
        }
    }
}

func readFile(_ path: String) throws -> ByteBuffer {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("\(path): cannot read the file")
    }
    return ByteBuffer(bytes: data)
}
