import DICOMCore

/// A DIMSE service (PS3.7 §9.1 DIMSE-C and §10.1 DIMSE-N). The raw value is the service
/// name as the standard writes it.
public enum DIMSEService: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case cStore = "C-STORE"
    case cGet = "C-GET"
    case cFind = "C-FIND"
    case cMove = "C-MOVE"
    case cEcho = "C-ECHO"
    case cCancel = "C-CANCEL"
    case nEventReport = "N-EVENT-REPORT"
    case nGet = "N-GET"
    case nSet = "N-SET"
    case nAction = "N-ACTION"
    case nCreate = "N-CREATE"
    case nDelete = "N-DELETE"

    public var description: String { rawValue }

    /// DIMSE-N services operate on SOP instances (PS3.7 §10); DIMSE-C services on composite objects (§9).
    public var isNormalized: Bool {
        switch self {
        case .nEventReport, .nGet, .nSet, .nAction, .nCreate, .nDelete: return true
        case .cStore, .cGet, .cFind, .cMove, .cEcho, .cCancel: return false
        }
    }
}

/// Value of Command Field (0000,0100): PS3.7 §9.3 (DIMSE-C, Tables 9.3-1 to 9.3-13) and
/// §10.3 (DIMSE-N, Tables 10.3-1 to 10.3-12), registered in PS3.7 Annex E. A response field
/// is its request field with bit 15 set.
public enum CommandField: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case cStoreRequest = 0x0001
    case cStoreResponse = 0x8001
    case cGetRequest = 0x0010
    case cGetResponse = 0x8010
    case cFindRequest = 0x0020
    case cFindResponse = 0x8020
    case cMoveRequest = 0x0021
    case cMoveResponse = 0x8021
    case cEchoRequest = 0x0030
    case cEchoResponse = 0x8030
    case nEventReportRequest = 0x0100
    case nEventReportResponse = 0x8100
    case nGetRequest = 0x0110
    case nGetResponse = 0x8110
    case nSetRequest = 0x0120
    case nSetResponse = 0x8120
    case nActionRequest = 0x0130
    case nActionResponse = 0x8130
    case nCreateRequest = 0x0140
    case nCreateResponse = 0x8140
    case nDeleteRequest = 0x0150
    case nDeleteResponse = 0x8150
    /// C-CANCEL-RQ (PS3.7 §9.3.2.3); C-CANCEL has no response.
    case cCancelRequest = 0x0FFF

    /// Bit 15 of the command field marks a response.
    static let responseBit: UInt16 = 0x8000

    public var service: DIMSEService {
        switch self {
        case .cStoreRequest, .cStoreResponse: return .cStore
        case .cGetRequest, .cGetResponse: return .cGet
        case .cFindRequest, .cFindResponse: return .cFind
        case .cMoveRequest, .cMoveResponse: return .cMove
        case .cEchoRequest, .cEchoResponse: return .cEcho
        case .cCancelRequest: return .cCancel
        case .nEventReportRequest, .nEventReportResponse: return .nEventReport
        case .nGetRequest, .nGetResponse: return .nGet
        case .nSetRequest, .nSetResponse: return .nSet
        case .nActionRequest, .nActionResponse: return .nAction
        case .nCreateRequest, .nCreateResponse: return .nCreate
        case .nDeleteRequest, .nDeleteResponse: return .nDelete
        }
    }

    /// The service name, e.g. `C-FIND`.
    public var serviceName: String { service.rawValue }

    public var isRequest: Bool { rawValue & CommandField.responseBit == 0 }
    public var isResponse: Bool { !isRequest }

    /// The response that answers this request; `nil` for responses and for C-CANCEL-RQ.
    public var response: CommandField? {
        guard isRequest, self != .cCancelRequest else { return nil }
        return CommandField(rawValue: rawValue | CommandField.responseBit)
    }

    /// The request this response answers; `nil` for requests.
    public var request: CommandField? {
        guard isResponse else { return nil }
        return CommandField(rawValue: rawValue & ~CommandField.responseBit)
    }

    /// `C-FIND-RQ`, `C-FIND-RSP`.
    public var description: String { serviceName + (isRequest ? "-RQ" : "-RSP") }

    /// The name of a raw command field value: the message name, or `0xABCD (unknown command)`.
    public static func name(of rawValue: UInt16) -> String {
        CommandField(rawValue: rawValue)?.description ?? "0x" + hex4(rawValue) + " (unknown command)"
    }
}
