/// PDU types, PS3.8 §9.3.1, Table 9-11 (and §9.3.2–9.3.8).
public enum PDUType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case associateRequest = 0x01
    case associateAccept = 0x02
    case associateReject = 0x03
    case dataTransfer = 0x04
    case releaseRequest = 0x05
    case releaseResponse = 0x06
    case abort = 0x07

    public var description: String {
        switch self {
        case .associateRequest: return "A-ASSOCIATE-RQ"
        case .associateAccept: return "A-ASSOCIATE-AC"
        case .associateReject: return "A-ASSOCIATE-RJ"
        case .dataTransfer: return "P-DATA-TF"
        case .releaseRequest: return "A-RELEASE-RQ"
        case .releaseResponse: return "A-RELEASE-RP"
        case .abort: return "A-ABORT"
        }
    }
}

/// Length of the PDU header: type (1), reserved (1), PDU-length (4, big endian).
public let pduHeaderLength = 6
