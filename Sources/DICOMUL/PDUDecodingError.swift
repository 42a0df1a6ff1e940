import NIOCore

/// A PDU that could not be decoded, with the PDU type, the byte offset from the start of
/// the PDU and the PDU's raw bytes for the user (model: postgres-nio `PSQLError`, swift-nio-ssh `NIOSSHError`).
public struct PDUDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
        /// A PDU type other than 0x01–0x07 (PS3.8 §9.3.1).
        public static let unknownPDUType = Code(name: "unknown PDU type")
        /// A PDU longer than the configured bound, rejected before buffering.
        public static let pduTooLarge = Code(name: "PDU too large")
        /// A PDU length that does not fit its type (e.g. an A-ABORT that is not 4 bytes).
        public static let invalidPDULength = Code(name: "invalid PDU length")
        /// An item or sub-item length that overruns or underruns its container.
        public static let invalidItemLength = Code(name: "invalid item length")
        /// A PDU body that ends inside a field.
        public static let truncated = Code(name: "truncated")
        /// A field value the standard does not allow (e.g. an even presentation context ID).
        public static let invalidFieldValue = Code(name: "invalid field value")
        /// An item type that may not appear where it was found.
        public static let unexpectedItem = Code(name: "unexpected item")
    }

    public var code: Code
    /// Offset from the first byte of the PDU (its type byte), or of the stream when framing.
    public var offset: Int
    /// The PDU type byte, when known.
    public var pduType: UInt8?
    public var detail: String
    /// The PDU's bytes (header included), when available, to be logged in hex.
    public var rawBytes: ByteBuffer?
    public var location: String

    public init(_ code: Code, offset: Int, pduType: UInt8? = nil, _ detail: String, rawBytes: ByteBuffer? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.offset = offset
        self.pduType = pduType
        self.detail = detail
        self.rawBytes = rawBytes
        self.location = "\(file):\(line)"
    }

    public var description: String {
        var s = "\(code)"
        if let pduType {
            s += " in " + (PDUType(rawValue: pduType).map { "\($0)" } ?? "PDU type 0x" + String(pduType, radix: 16))
        }
        return s + " at byte \(offset): " + detail
    }
}
