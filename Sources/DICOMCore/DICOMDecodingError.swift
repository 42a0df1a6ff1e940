/// A decoding failure with where it happened: the byte offset in the input and the tag
/// being read. Public errors are structs with an extensible code (model: swift-nio-ssh `NIOSSHError`).
public struct DICOMDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// The input ended inside a header or a value.
        public static let truncated = Code(name: "truncated")
        /// A length that runs past the end of the buffer or of its enclosing item or sequence.
        public static let lengthOverrun = Code(name: "length overrun")
        /// An odd value or item length (PS3.5 §7.1.1 requires even lengths).
        public static let oddLength = Code(name: "odd length")
        /// A delimiter or item tag where none is open.
        public static let unexpectedDelimiter = Code(name: "unexpected delimiter")
        /// Sequences nested deeper than the configured bound.
        public static let nestingTooDeep = Code(name: "nesting too deep")
        /// The input is not a DICOM Part 10 file.
        public static let notDICOM = Code(name: "not DICOM")
        /// Explicit VR bytes that are not one of the 34 VRs.
        public static let invalidVR = Code(name: "invalid VR")
        /// Undefined length on a VR that does not allow it.
        public static let undefinedLengthNotAllowed = Code(name: "undefined length not allowed")
        /// A missing or unusable transfer syntax.
        public static let invalidTransferSyntax = Code(name: "invalid transfer syntax")
        /// The deflated stream could not be inflated, or inflates past the size bound.
        public static let inflateFailed = Code(name: "inflate failed")
        /// A value that cannot be encoded (e.g. longer than a 16-bit length allows).
        public static let unencodable = Code(name: "unencodable")
    }

    public var code: Code
    /// Byte offset in the input where the failing header or value starts. For a deflated
    /// dataset, the offset in the inflated stream (see `detail`).
    public var offset: Int
    /// The tag being read, when one was.
    public var tag: Tag?
    public var detail: String
    /// Where in our code the error was raised, for bug reports.
    public var location: String

    public init(_ code: Code, offset: Int, tag: Tag? = nil, _ detail: String,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.offset = offset
        self.tag = tag
        self.detail = detail
        self.location = "\(file):\(line)"
    }

    public var description: String {
        var s = "\(code) at byte \(offset)"
        if let tag {
            s += " reading \(tag)"
            if let keyword = DataDictionary.keyword(for: tag) { s += " \(keyword)" }
        }
        return s + ": " + detail
    }
}
