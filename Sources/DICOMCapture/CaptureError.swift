/// A capture file that could not be opened or read to its end, with the number of the packet
/// it concerns and libpcap's own text (model: `PDUDecodingError` in DICOMUL).
///
/// Reading stops at the first error: `CaptureReader.next()` throws it once, after every packet
/// before it, then returns `nil`.
public struct CaptureError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// The file could not be opened (missing, unreadable, a directory, ...).
        public static let cannotOpen = Code(name: "cannot open capture")
        /// The file is neither pcap nor pcapng, or a format variant libpcap does not read.
        public static let notACapture = Code(name: "not a capture file")
        /// The file ends inside a header or a packet record: the packets before the cut were
        /// read; `packetIndex` is the last complete one (0 when the cut is in the file header
        /// or before the first packet).
        public static let truncated = Code(name: "truncated capture")
        /// A damaged record that is not a plain cut (a bogus length, a malformed pcapng block).
        public static let corrupt = Code(name: "corrupt capture")
    }

    public var code: Code
    /// For `truncated` and `corrupt`: the last packet read completely (1-based, as Wireshark
    /// numbers packets; 0 if none). For `cannotOpen` and `notACapture`: 0.
    public var packetIndex: Int
    /// libpcap's message (or the system's for a file that cannot be opened).
    public var message: String
    public var path: String

    public init(_ code: Code, packetIndex: Int, _ message: String, path: String) {
        self.code = code
        self.packetIndex = packetIndex
        self.message = message
        self.path = path
    }

    public var description: String { "\(path): \(problem)" }

    /// The description without the path, for a message that names the file already.
    public var problem: String {
        switch code {
        case .truncated:
            return "capture cut after packet \(packetIndex): \(message)"
        case .corrupt:
            return "corrupt capture after packet \(packetIndex): \(message)"
        default:
            return "\(code): \(message)"
        }
    }
}
