import DICOMCore
import Foundation
import NIOCore

/// What `importPaths` did.
package struct ImportSummary: Sendable, Hashable, CustomStringConvertible {
    /// Files read (JSON and Part 10).
    package var files: Int = 0
    /// Patient records stored (new or replacing one from the same source).
    package var patients: Int = 0
    /// Of those, records that replaced one imported earlier from the same source.
    package var replaced: Int = 0
    /// Files found in folders that are neither `*.json` nor DICOM Part 10, not imported.
    package var skipped: [String] = []

    package init() {}

    package var description: String {
        var s = "imported \(patients) patient record(s) from \(files) file(s)"
        if replaced > 0 { s += ", \(replaced) replacing earlier imports" }
        if !skipped.isEmpty { s += ", skipped \(skipped.count) other file(s)" }
        return s
    }
}

extension RPIStore {
    /// Largest file the importer reads (a patient record file, not an image archive).
    static let maxImportFileSize = 256 << 20

    /// Imports files and folders (recursively, in name order): `*.json` files in the documented format
    /// (docs/STORE.md) and DICOM Part 10 files (patient module + SR content). A file named on the command line
    /// must be one of those; inside folders other files are skipped and listed in the summary. Each file is
    /// stored in one transaction; the first bad file stops the import with a `StoreError` naming it.
    package func importPaths(_ paths: [String]) throws -> ImportSummary {
        var summary = ImportSummary()
        let now = DICOMValueFormat.now()
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw StoreError(.unreadable, file: path, "no such file or folder")
            }
            if isDirectory.boolValue {
                for file in try Self.files(under: path) {
                    try importFile(file, explicit: false, observationDateTime: now, into: &summary)
                }
            } else {
                try importFile(path, explicit: true, observationDateTime: now, into: &summary)
            }
        }
        return summary
    }

    static func files(under folder: String) throws -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else {
            throw StoreError(.unreadable, file: folder, "cannot list the folder")
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let full = (folder as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
               !(relative as NSString).lastPathComponent.hasPrefix(".") {
                files.append(full)
            }
        }
        return files.sorted()
    }

    func importFile(_ path: String, explicit: Bool, observationDateTime: String, into summary: inout ImportSummary) throws {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? NSNumber, size.intValue > Self.maxImportFileSize {
            throw StoreError(.unreadable, file: path, "\(size.intValue) bytes is larger than the \(Self.maxImportFileSize)-byte import limit")
        }
        let isJSON = path.lowercased().hasSuffix(".json")
        // Anything else must start like a Part 10 file; look at its first 132 bytes before reading it all.
        if !isJSON, try !Self.hasPart10Prefix(path) {
            if explicit {
                throw StoreError(.unsupportedFile, file: path, "neither a .json file nor a DICOM Part 10 file (no DICM prefix)")
            }
            summary.skipped.append(path)
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.unreadable, file: path, "cannot read the file")
        }
        let records: [(record: PatientRecord, key: String)]
        var keyPrefix: String?
        if isJSON {
            let reader = JSONPatientReader(file: path, defaultObservationDateTime: observationDateTime)
            keyPrefix = "json:\(canonical)#"
            records = try reader.read(data).enumerated().map { index, record in (record, "json:\(canonical)#\(index)") }
        } else {
            let dicom: DICOMFile
            do {
                dicom = try DICOMFile(decoding: ByteBuffer(bytes: data))
            } catch {
                throw StoreError(.invalidDICOM, file: path, location: error.tag?.locationDescription, error.description)
            }
            records = [try Part10PatientReader(file: path, defaultObservationDateTime: observationDateTime).read(dicom)]
        }
        summary.replaced += try upsert(records, replacingKeyPrefix: keyPrefix)
        summary.files += 1
        summary.patients += records.count
    }

    /// 128-byte preamble then "DICM" (PS3.10 §7.1).
    static func hasPart10Prefix(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError(.unreadable, file: path, "cannot open the file")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 132)) ?? Data()
        return head.count == 132 && head.suffix(4).elementsEqual("DICM".utf8)
    }
}
