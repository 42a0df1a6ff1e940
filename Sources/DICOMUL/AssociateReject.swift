import NIOCore

/// A-ASSOCIATE-RJ PDU, type 0x03 (PS3.8 §9.3.4, Table 9-21): reserved, result, source, reason/diag.
public struct AssociateReject: Sendable, Hashable, CustomStringConvertible {
    /// Result (byte 7).
    public struct Result: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let rejectedPermanent = Self(rawValue: 1)
        public static let rejectedTransient = Self(rawValue: 2)
        public var description: String {
            switch rawValue {
            case 1: return "rejected-permanent"
            case 2: return "rejected-transient"
            default: return "unknown result \(rawValue)"
            }
        }
    }

    /// Source (byte 8).
    public struct Source: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let serviceUser = Self(rawValue: 1)
        public static let serviceProviderACSE = Self(rawValue: 2)
        public static let serviceProviderPresentation = Self(rawValue: 3)
        public var description: String {
            switch rawValue {
            case 1: return "DICOM UL service-user"
            case 2: return "DICOM UL service-provider (ACSE related function)"
            case 3: return "DICOM UL service-provider (Presentation related function)"
            default: return "unknown source \(rawValue)"
            }
        }
    }

    /// Reason/diag values (byte 10), whose meaning depends on the source (Table 9-21).
    public enum Reason {
        /// Source 1, service-user: no-reason-given.
        public static let noReasonGiven: UInt8 = 1
        /// Source 1, service-user: application-context-name-not-supported.
        public static let applicationContextNameNotSupported: UInt8 = 2
        /// Source 1, service-user: calling-AE-title-not-recognized.
        public static let callingAETitleNotRecognized: UInt8 = 3
        /// Source 1, service-user: called-AE-title-not-recognized.
        public static let calledAETitleNotRecognized: UInt8 = 7
        /// Source 2, service-provider (ACSE): protocol-version-not-supported.
        public static let protocolVersionNotSupported: UInt8 = 2
        /// Source 3, service-provider (Presentation): temporary-congestion.
        public static let temporaryCongestion: UInt8 = 1
        /// Source 3, service-provider (Presentation): local-limit-exceeded.
        public static let localLimitExceeded: UInt8 = 2
    }

    public var pduReserved: UInt8
    public var reserved: UInt8
    public var result: Result
    public var source: Source
    public var reason: UInt8

    public init(result: Result, source: Source, reason: UInt8) {
        self.pduReserved = 0
        self.reserved = 0
        self.result = result
        self.source = source
        self.reason = reason
    }

    /// The reason's meaning, which depends on the source (Table 9-21).
    public var reasonDescription: String {
        switch (source.rawValue, reason) {
        case (1, 1): return "no-reason-given"
        case (1, 2): return "application-context-name-not-supported"
        case (1, 3): return "calling-AE-title-not-recognized"
        case (1, 7): return "called-AE-title-not-recognized"
        case (2, 1): return "no-reason-given"
        case (2, 2): return "protocol-version-not-supported"
        case (3, 1): return "temporary-congestion"
        case (3, 2): return "local-limit-exceeded"
        default: return "reserved reason \(reason)"
        }
    }

    public var description: String { "\(result), source: \(source), reason: \(reasonDescription)" }

    static let bodyLength = 4

    static func decode(body: inout ByteBuffer, pduReserved: UInt8) throws(PDUDecodingError) -> Self {
        guard body.readableBytes == bodyLength, let bytes = body.readBytes(length: 4) else {
            throw PDUDecodingError(.invalidPDULength, offset: 2, pduType: PDUType.associateReject.rawValue,
                                   "A-ASSOCIATE-RJ length must be 4, is \(body.readableBytes)")
        }
        var rj = AssociateReject(result: Result(rawValue: bytes[1]), source: Source(rawValue: bytes[2]), reason: bytes[3])
        rj.reserved = bytes[0]
        rj.pduReserved = pduReserved
        return rj
    }

    func writeBody(into buffer: inout ByteBuffer) {
        buffer.writeBytes([reserved, result.rawValue, source.rawValue, reason])
    }
}

/// A-ABORT PDU, type 0x07 (PS3.8 §9.3.8, Table 9-26): two reserved bytes, source, reason/diag.
public struct Abort: Sendable, Hashable, CustomStringConvertible {
    public struct Source: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let serviceUser = Self(rawValue: 0)
        public static let serviceProvider = Self(rawValue: 2)
        public var description: String {
            switch rawValue {
            case 0: return "DICOM UL service-user (initiated abort)"
            case 1: return "reserved"
            case 2: return "DICOM UL service-provider (initiated abort)"
            default: return "unknown source \(rawValue)"
            }
        }
    }

    /// Reason/diag when the source is the service provider (Table 9-26).
    public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let notSpecified = Self(rawValue: 0)
        public static let unrecognizedPDU = Self(rawValue: 1)
        public static let unexpectedPDU = Self(rawValue: 2)
        public static let unrecognizedPDUParameter = Self(rawValue: 4)
        public static let unexpectedPDUParameter = Self(rawValue: 5)
        public static let invalidPDUParameterValue = Self(rawValue: 6)
        public var description: String {
            switch rawValue {
            case 0: return "reason-not-specified"
            case 1: return "unrecognized-PDU"
            case 2: return "unexpected-PDU"
            case 3: return "reserved"
            case 4: return "unrecognized-PDU-parameter"
            case 5: return "unexpected-PDU-parameter"
            case 6: return "invalid-PDU-parameter-value"
            default: return "unknown reason \(rawValue)"
            }
        }
    }

    public var pduReserved: UInt8
    public var reserved: UInt16
    public var source: Source
    public var reason: Reason

    public init(source: Source, reason: Reason) {
        self.pduReserved = 0
        self.reserved = 0
        self.source = source
        self.reason = reason
    }

    public var description: String {
        source == .serviceUser ? "\(source)" : "\(source), reason: \(reason)"
    }

    static func decode(body: inout ByteBuffer, pduReserved: UInt8) throws(PDUDecodingError) -> Self {
        guard body.readableBytes == 4, let reserved = body.readInteger(as: UInt16.self),
              let source = body.readInteger(as: UInt8.self), let reason = body.readInteger(as: UInt8.self) else {
            throw PDUDecodingError(.invalidPDULength, offset: 2, pduType: PDUType.abort.rawValue,
                                   "A-ABORT length must be 4, is \(body.readableBytes)")
        }
        var a = Abort(source: Source(rawValue: source), reason: Reason(rawValue: reason))
        a.reserved = reserved
        a.pduReserved = pduReserved
        return a
    }

    func writeBody(into buffer: inout ByteBuffer) {
        buffer.writeInteger(reserved)
        buffer.writeInteger(source.rawValue)
        buffer.writeInteger(reason.rawValue)
    }
}

/// A-RELEASE-RQ (0x05, PS3.8 §9.3.6, Table 9-24) and A-RELEASE-RP (0x06, §9.3.7, Table 9-25):
/// four reserved bytes.
public struct ReleasePDU: Sendable, Hashable {
    public var pduReserved: UInt8
    public var reserved: UInt32

    public init(reserved: UInt32 = 0, pduReserved: UInt8 = 0) {
        self.reserved = reserved
        self.pduReserved = pduReserved
    }

    static func decode(body: inout ByteBuffer, type: PDUType, pduReserved: UInt8) throws(PDUDecodingError) -> Self {
        guard body.readableBytes == 4, let reserved = body.readInteger(as: UInt32.self) else {
            throw PDUDecodingError(.invalidPDULength, offset: 2, pduType: type.rawValue,
                                   "\(type) length must be 4, is \(body.readableBytes)")
        }
        return ReleasePDU(reserved: reserved, pduReserved: pduReserved)
    }
}
