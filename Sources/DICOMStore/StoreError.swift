import DICOMCore

/// A failure of the relevant patient information store: opening it, importing a file, or querying it.
/// Import errors name the file and where in it (a JSON path such as `patients[2].items[0].code.value`, or a tag).
package struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        package var description: String { name }
        /// The file or folder could not be read (missing, unreadable, not a regular file).
        package static let unreadable = Code(name: "unreadable")
        /// The file is not valid JSON, or not the documented import format.
        package static let invalidJSON = Code(name: "invalid JSON")
        /// A value is present but not acceptable (a date that is not YYYYMMDD, an unknown category...).
        package static let invalidValue = Code(name: "invalid value")
        /// A Part 10 file that cannot be decoded.
        package static let invalidDICOM = Code(name: "invalid DICOM")
        /// A Part 10 file without what the store needs (Patient ID...).
        package static let missingAttribute = Code(name: "missing attribute")
        /// A file that is neither `*.json` nor a DICOM Part 10 file.
        package static let unsupportedFile = Code(name: "unsupported file")
        /// A value that cannot be represented in the response's character set.
        package static let unencodable = Code(name: "unencodable")
        /// The SQLite database failed.
        package static let database = Code(name: "database")
    }

    package var code: Code
    /// The file the error is about, when there is one.
    package var file: String?
    /// Where in the file: a JSON path, or a tag with its keyword.
    package var location: String?
    package var detail: String

    package init(_ code: Code, file: String? = nil, location: String? = nil, _ detail: String) {
        self.code = code
        self.file = file
        self.location = location
        self.detail = detail
    }

    package var description: String {
        var s = "\(code)"
        if let file { s += " in \(file)" }
        if let location { s += " at \(location)" }
        return s + ": " + detail
    }
}

extension Tag {
    /// `(0010,0020) PatientID`, for error locations.
    var locationDescription: String {
        if let keyword = DataDictionary.keyword(for: self) { return "\(self) \(keyword)" }
        return description
    }
}
