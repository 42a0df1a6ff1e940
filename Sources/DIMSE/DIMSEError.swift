import DICOMCore

/// A DIMSE-level failure: a command set that is not a valid message, a PDV sequence that
/// cannot be assembled into a message, or a message that cannot be fragmented. Carries what
/// is known of where it happened: the command, the element, the presentation context and
/// the fragment (model: `PDUDecodingError`, swift-nio-ssh `NIOSSHError`).
public struct DIMSEError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// A command element the message requires is absent (PS3.7 Tables 9.3-x, 10.3-x).
        public static let missingElement = Code(name: "missing command element")
        /// A command element is present but its value cannot be used (empty, or not a defined value).
        public static let invalidElementValue = Code(name: "invalid command element value")
        /// The Command Field (0000,0100) is not the one of the message type asked for.
        public static let commandFieldMismatch = Code(name: "command field mismatch")
        /// The command set bytes are not a valid Implicit VR Little Endian data set.
        public static let commandSetNotDecodable = Code(name: "command set does not decode")
        /// A data set fragment arrived while no command was complete on its presentation context.
        public static let dataSetFragmentBeforeCommand = Code(name: "data set fragment before command")
        /// A command fragment arrived while the data set of the previous command was expected.
        public static let commandFragmentDuringDataSet = Code(name: "command fragment while a data set is expected")
        /// A data set arrived after a command whose Command Data Set Type (0000,0800) is 0101H (no data set).
        public static let unexpectedDataSet = Code(name: "data set after a command without one")
        /// A PDV with an empty fragment, when the assembler is configured to reject them.
        public static let emptyFragment = Code(name: "empty fragment")
        /// The command set or data set being assembled grew past the configured bound.
        public static let messageTooLarge = Code(name: "message too large")
        /// A maximum PDU length that leaves no room for a PDV with an even fragment (PS3.8 §E.1).
        public static let invalidMaximumLength = Code(name: "invalid maximum length")
        /// A configuration value out of range.
        public static let invalidConfiguration = Code(name: "invalid configuration")
        /// Data set presence disagrees with the command's Command Data Set Type (0000,0800).
        public static let dataSetMismatch = Code(name: "data set presence does not match the command")
        /// A command set that cannot be encoded (a value too long for its length field).
        public static let unencodable = Code(name: "unencodable command set")
    }

    public var code: Code
    public var detail: String
    /// The command element concerned, if any.
    public var tag: Tag?
    /// The raw Command Field of the message concerned, when known.
    public var commandField: UInt16?
    /// The presentation context the fragment arrived on, for assembly errors.
    public var presentationContextID: UInt8?
    /// 1-based number of the offending fragment within its command or data set stream.
    public var fragmentNumber: Int?
    /// Whether the offending fragment was a command fragment (message control header bit 0).
    public var isCommandFragment: Bool?
    /// The dataset decoding failure underneath, for `commandSetNotDecodable` and `unencodable`.
    public var underlying: DICOMDecodingError?
    /// Where in our code the error was raised, for bug reports.
    public var location: String

    public init(_ code: Code, _ detail: String, tag: Tag? = nil, commandField: UInt16? = nil,
                presentationContextID: UInt8? = nil, fragmentNumber: Int? = nil, isCommandFragment: Bool? = nil,
                underlying: DICOMDecodingError? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.detail = detail
        self.tag = tag
        self.commandField = commandField
        self.presentationContextID = presentationContextID
        self.fragmentNumber = fragmentNumber
        self.isCommandFragment = isCommandFragment
        self.underlying = underlying
        self.location = "\(file):\(line)"
    }

    public var description: String {
        var s = "\(code)"
        if let commandField { s += " in " + CommandField.name(of: commandField) }
        if let tag {
            s += " at \(tag)"
            if let keyword = DataDictionary.keyword(for: tag) { s += " \(keyword)" }
        }
        if let presentationContextID { s += " on presentation context \(presentationContextID)" }
        if let fragmentNumber {
            let kind = isCommandFragment.map { $0 ? "command " : "data set " } ?? ""
            s += ", \(kind)fragment \(fragmentNumber)"
        }
        return s + ": " + detail
    }
}
