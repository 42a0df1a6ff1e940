import ArgumentParser
import DICOMCore
import Foundation
import NIOCore

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dump a DICOM file (Part 10, or a bare dataset with --transfer-syntax) as text or DICOM JSON.")

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
        let options: DecodingOptions = lenient ? .lenient : .strict
        do {
            let buffer = try readFile(file)
            let meta: Dataset?
            let dataset: Dataset
            let ts: TransferSyntax
            if let uid = transferSyntax {
                guard let t = TransferSyntax(uid: uid, lenient: true) else {
                    throw ValidationError("unknown transfer syntax '\(uid)'")
                }
                ts = t
                var body = buffer
                if t.isDeflated { body = try Deflate.inflate(buffer, maxSize: options.maxInflatedSize, offset: 0) }
                dataset = try DatasetDecoder(options: options).decode(body, encoding: t.encoding)
                meta = nil
            } else {
                let f = try DICOMFile(decoding: buffer, options: options)
                meta = f.fileMetaInformation
                dataset = f.dataset
                ts = f.transferSyntax
            }
            switch format {
            case .json:
                print(DICOMJSONRenderer().render(dataset).serialized(indent: 2))
            case .text:
                let r = TextDumpRenderer(options: .init(maxValueLength: maxLength, showAll: showAll))
                if let meta {
                    print("# Dicom-File-Format\n\n# Dicom-Meta-Information-Header\n# Used TransferSyntax: Little Endian Explicit")
                    r.render(meta) { print($0, terminator: "") }
                    print("\n# Dicom-Data-Set")
                }
                print("# Used TransferSyntax: \(ts.name)")
                r.render(dataset) { print($0, terminator: "") }
            }
        } catch let error as DICOMDecodingError {
            throw CLIError("\(file): \(error)")
        }
    }
}

/// A one-line error for the command line, with a non-zero exit status.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

func readFile(_ path: String) throws -> ByteBuffer {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("\(path): cannot read the file")
    }
    return ByteBuffer(bytes: data)
}
