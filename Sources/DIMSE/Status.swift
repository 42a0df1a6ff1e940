import DICOMCore

/// A DIMSE response status (0000,0900) with its category and meaning for the service (and
/// SOP class) it answered: PS3.7 Annex C for the general codes, PS3.4 for service-class
/// specific ones. Checked against pynetdicom 3.0.4 `status.py`.
///
/// A code is "defined" for a service when the status table of that service's service class
/// lists it. Those tables follow pynetdicom's, with one difference: Cancel (FE00H) and
/// Pending (FF00H, FF01H) are only defined where the service class lists them (C-FIND,
/// C-GET, C-MOVE), since only those services can be cancelled or send more than one response.
public struct DIMSEStatus: Hashable, Sendable, CustomStringConvertible {
    /// Status class (PS3.7 Annex C: Success, Pending, Cancel, Warning, Failure), plus
    /// `unknown` for codes that fall in none of the ranges pynetdicom's `code_to_category` knows.
    public enum Category: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case success, pending, cancel, warning, failure, unknown

        public var description: String {
            switch self {
            case .success: return "Success"
            case .pending: return "Pending"
            case .cancel: return "Cancel"
            case .warning: return "Warning"
            case .failure: return "Failure"
            case .unknown: return "Unknown"
            }
        }

        /// Whether more responses follow for the same request.
        public var isFinal: Bool { self != .pending }
    }

    public let code: UInt16
    public let category: Category
    public let meaning: String
    /// Where the meaning is defined, e.g. `Relevant Patient Information Query` or
    /// `PS3.7 Annex C`; nil when the code is not defined for the service looked up.
    public let source: String?
    /// Whether the code is defined for the service (and SOP class) it was looked up for.
    public let isDefined: Bool

    public init(code: UInt16, category: Category, meaning: String, source: String?, isDefined: Bool) {
        self.code = code
        self.category = category
        self.meaning = meaning
        self.source = source
        self.isDefined = isDefined
    }

    /// The status of `code` in a response of `service` for `sopClassUID`. Without a service,
    /// the general table (PS3.7 Annex C, plus Pending and Cancel) is used. A code not defined
    /// there gets the category pynetdicom's `code_to_category` gives it.
    public static func lookup(_ code: UInt16, service: DIMSEService?, sopClassUID: String? = nil) -> DIMSEStatus {
        let table = StatusTable.table(for: service, sopClassUID: sopClassUID)
        if let entry = table.entry(for: code) {
            return DIMSEStatus(code: code, category: entry.category, meaning: entry.meaning, source: entry.source,
                               isDefined: true)
        }
        let meaning = service.map { "not defined for \($0)" } ?? "unrecognized status code"
        return DIMSEStatus(code: code, category: category(of: code), meaning: meaning, source: nil, isDefined: false)
    }

    /// The status of `code` in a response with `commandField` (its service is used).
    public static func lookup(_ code: UInt16, commandField: CommandField, sopClassUID: String? = nil) -> DIMSEStatus {
        lookup(code, service: commandField.service, sopClassUID: sopClassUID)
    }

    /// The category of any code, as pynetdicom 3.0.4 `code_to_category` gives it: 0000H
    /// success; FF00H, FF01H pending; FE00H cancel; the PS3.7 Annex C failures, AxxxH and
    /// CxxxH failure; 0107H, 0116H, BxxxH and 0001H warning; anything else unknown.
    public static func category(of code: UInt16) -> Category {
        switch code {
        case 0x0000: return .success
        case 0xFF00, 0xFF01: return .pending
        case 0xFE00: return .cancel
        case 0x0105, 0x0106, 0x0110...0x0115, 0x0117...0x0119, 0x0120...0x0124, 0x0210...0x0213: return .failure
        case 0xA000...0xAFFF, 0xC000...0xCFFF: return .failure
        case 0x0107, 0x0116, 0xB000...0xBFFF, 0x0001: return .warning
        default: return .unknown
        }
    }

    /// Whether the code is defined for `service` (and `sopClassUID`, which selects e.g. the
    /// Relevant Patient Information Query table for C-FIND). An observer can flag a response
    /// whose status is not.
    public func isDefined(for service: DIMSEService, sopClassUID: String? = nil) -> Bool {
        StatusTable.table(for: service, sopClassUID: sopClassUID).entry(for: code) != nil
    }

    /// `0xC100 Failure: more than one match found (Relevant Patient Information Query)`.
    public var description: String {
        "0x\(hex4(code)) \(category): \(meaning)" + (source.map { " (\($0))" } ?? "")
    }
}

/// C-GET and C-MOVE statuses an SCP of ours answers by itself (PS3.4 Table C.4-2 and C.4-3).
public enum RetrieveStatus {
    /// A702H, Refused: Out of Resources – Unable to perform sub-operations (C-GET and C-MOVE).
    public static let unableToPerformSubOperations: UInt16 = 0xA702
    /// A801H, Refused: Move Destination unknown (C-MOVE).
    public static let moveDestinationUnknown: UInt16 = 0xA801
}

/// Status codes our SCPs and SCUs send, by name (PS3.7 Annex C; PS3.4 Annex C). The meanings of
/// every code a peer may send are in `DIMSEStatus.lookup`.
public enum StatusCode {
    /// 0000H Success.
    public static let success: UInt16 = 0x0000
    /// 0110H Failure: processing failure.
    public static let processingFailure: UInt16 = 0x0110
    /// 0122H Refused: SOP class not supported.
    public static let sopClassNotSupported: UInt16 = 0x0122
    /// 0211H Failure: unrecognized operation.
    public static let unrecognizedOperation: UInt16 = 0x0211
    /// A900H Failure: identifier does not match SOP class (C-FIND, C-GET, C-MOVE).
    public static let identifierDoesNotMatchSOPClass: UInt16 = 0xA900
    /// C000H Failure: unable to process, the first code of C000H–CFFFH (C-FIND, C-GET, C-MOVE).
    public static let unableToProcess: UInt16 = 0xC000
    /// FE00H Cancel: terminated due to a cancel request.
    public static let cancel: UInt16 = 0xFE00
    /// FF00H Pending: matches or sub-operations are continuing.
    public static let pending: UInt16 = 0xFF00
    /// FF01H Pending: matches are continuing, one or more optional keys were not supported (C-FIND).
    public static let pendingOptionalKeysNotSupported: UInt16 = 0xFF01
}

/// The statuses one service class defines for one service.
struct StatusTable: Sendable {
    struct Entry: Sendable {
        let category: DIMSEStatus.Category
        let meaning: String
        let source: String
    }

    let exact: [UInt16: Entry]
    let ranges: [(ClosedRange<UInt16>, Entry)]

    func entry(for code: UInt16) -> Entry? {
        if let e = exact[code] { return e }
        return ranges.first { $0.0.contains(code) }?.1
    }

    init(_ name: String, _ codes: [(UInt16, DIMSEStatus.Category, String)] = [],
         ranges: [(ClosedRange<UInt16>, DIMSEStatus.Category, String)] = [], including base: [StatusTable] = []) {
        var exact: [UInt16: Entry] = [:]
        var allRanges: [(ClosedRange<UInt16>, Entry)] = []
        for table in base {
            exact.merge(table.exact) { _, new in new }
            allRanges += table.ranges
        }
        for (code, category, meaning) in codes {
            exact[code] = Entry(category: category, meaning: meaning, source: name)
        }
        // Later (more specific) ranges first.
        allRanges = ranges.map { ($0.0, Entry(category: $0.1, meaning: $0.2, source: name)) } + allRanges
        self.exact = exact
        self.ranges = allRanges
    }

    /// The table for a response of `service` about `sopClassUID`.
    static func table(for service: DIMSEService?, sopClassUID: String?) -> StatusTable {
        guard let service else { return general }
        switch service {
        case .cEcho: return verification
        case .cStore: return storage
        case .cFind:
            // Compared, not hashed: this runs for every C-FIND response.
            if let uid = sopClassUID, RelevantPatientInformationQuery.isSOPClass(uid) { return relevantPatient }
            if sopClassUID == modalityWorklistSOPClassUID { return modalityWorklist }
            return queryRetrieveFind
        case .cGet: return queryRetrieveGet
        case .cMove: return queryRetrieveMove
        case .cCancel: return noResponse
        case .nEventReport, .nGet, .nSet, .nAction, .nCreate, .nDelete: return normalized
        }
    }

    /// PS3.4 Annex K: Modality Worklist Information Model – FIND.
    static let modalityWorklistSOPClassUID = "1.2.840.10008.5.1.4.31"

    /// PS3.7 Annex C, Tables C.1-1 to C.5-x (general statuses, valid in any response where the
    /// service's procedures allow them).
    static let annexC = StatusTable("PS3.7 Annex C", [
        (0x0000, .success, "success"),
        (0x0105, .failure, "no such attribute"),
        (0x0106, .failure, "invalid attribute value"),
        (0x0107, .warning, "attribute list error"),
        (0x0110, .failure, "processing failure"),
        (0x0111, .failure, "duplicate SOP instance"),
        (0x0112, .failure, "no such SOP instance"),
        (0x0113, .failure, "no such event type"),
        (0x0114, .failure, "no such argument"),
        (0x0115, .failure, "invalid argument value"),
        (0x0116, .warning, "attribute value out of range"),
        (0x0117, .failure, "invalid object instance"),
        (0x0118, .failure, "no such SOP class"),
        (0x0119, .failure, "class-instance conflict"),
        (0x0120, .failure, "missing attribute"),
        (0x0121, .failure, "missing attribute value"),
        (0x0122, .failure, "refused: SOP class not supported"),
        (0x0123, .failure, "no such action"),
        (0x0124, .failure, "refused: not authorized"),
        (0x0210, .failure, "duplicate invocation"),
        (0x0211, .failure, "unrecognized operation"),
        (0x0212, .failure, "mistyped argument"),
        (0x0213, .failure, "resource limitation"),
    ])

    /// No service given: Annex C plus the Pending and Cancel codes of the query services.
    static let general = StatusTable("PS3.7 Annex C", [
        (0xFE00, .cancel, "operation terminated due to a cancel request"),
        (0xFF00, .pending, "matches or sub-operations are continuing"),
        (0xFF01, .pending, "matches are continuing, one or more optional keys were not supported"),
    ], including: [annexC])

    /// C-CANCEL has no response, so no status is defined for it.
    static let noResponse = StatusTable("C-CANCEL")

    /// PS3.4 Annex A, Verification: C-ECHO.
    static let verification = StatusTable("Verification", including: [annexC])

    /// PS3.4 Annex B, Table B.2-1: Storage, C-STORE.
    static let storage = StatusTable("Storage", [
        (0xB000, .warning, "coercion of data elements"),
        (0xB006, .warning, "elements discarded"),
        (0xB007, .warning, "data set does not match SOP class"),
    ], ranges: [
        (0xA700...0xA7FF, .failure, "refused: out of resources"),
        (0xA900...0xA9FF, .failure, "data set does not match SOP class"),
        (0xC000...0xCFFF, .failure, "cannot understand"),
    ], including: [annexC])

    /// Statuses the Query/Retrieve and Modality Worklist C-FIND tables share (PS3.4 C.4.1.1.4,
    /// K.4.1.1.4): refusal, identifier mismatch, Cancel, Pending and the CxxxH failures.
    private static func matching(_ name: String, _ codes: [(UInt16, DIMSEStatus.Category, String)] = []) -> StatusTable {
        StatusTable(name, [
            (0xA700, .failure, "refused: out of resources"),
            (0xA900, .failure, "identifier does not match SOP class"),
            (0xFE00, .cancel, "matching terminated due to cancel request"),
            (0xFF00, .pending, "matches are continuing, current match supplied, optional keys supported as required keys"),
            (0xFF01, .pending, "matches are continuing, one or more optional keys were not supported"),
        ] + codes, ranges: [
            (0xC000...0xCFFF, .failure, "unable to process"),
        ], including: [annexC])
    }

    /// PS3.4 Annex C.4.1.1.4, Table C.4-1: Query/Retrieve C-FIND (also Hanging Protocol,
    /// Color Palette, Implant Template, Defined Procedure Protocol queries).
    static let queryRetrieveFind = matching("Query/Retrieve", [
        (0xA710, .failure, "invalid prior record key"),
        (0xB001, .warning, "matching reached response limit, a subsequent request may return additional matches"),
    ])

    /// PS3.4 Annex K.4.1.1.4: Modality Worklist C-FIND.
    static let modalityWorklist = matching("Modality Worklist")

    /// PS3.4 Annex Q, Table Q.2-1: Relevant Patient Information Query C-FIND. Only C000H of
    /// the CxxxH range is defined, and no FF01H.
    static let relevantPatient = StatusTable("Relevant Patient Information Query", [
        (0x0000, .success, "matching is complete"),
        (0xA700, .failure, "refused: out of resources"),
        (0xA900, .failure, "identifier does not match SOP class"),
        (0xC000, .failure, "unable to process"),
        (0xC100, .failure, "more than one match found"),
        (0xC200, .failure, "unable to support requested template"),
        (0xFE00, .cancel, "matching terminated due to cancel request"),
        (0xFF00, .pending, "current match is supplied"),
    ], including: [annexC])

    /// Statuses C-MOVE and C-GET share (PS3.4 C.4.2.1.5, C.4.3.1.4, and Annex Y for frame-level
    /// retrieve); the two differ in the meanings of 0000H and B000H, and in C-MOVE's A801H.
    private static let retrieve = StatusTable("Query/Retrieve", [
        (0xA701, .failure, "refused: out of resources, unable to calculate number of matches"),
        (0xA702, .failure, "refused: out of resources, unable to perform sub-operations"),
        (0xA900, .failure, "identifier does not match SOP class"),
        (0xAA00, .failure, "none of the frames requested were found in the SOP instance"),
        (0xAA01, .failure, "unable to create new object for this SOP class"),
        (0xAA02, .failure, "unable to extract frames"),
        (0xAA03, .failure, "time-based request received for a non-time-based original SOP instance"),
        (0xAA04, .failure, "invalid request"),
        (0xFE00, .cancel, "sub-operations terminated due to cancel indication"),
        (0xFF00, .pending, "sub-operations are continuing"),
    ], ranges: [
        (0xC000...0xCFFF, .failure, "unable to process"),
    ], including: [annexC])

    /// PS3.4 Annex C.4.2.1.5, Table C.4-2: Query/Retrieve C-MOVE (and Annex Y, frame-level retrieve).
    static let queryRetrieveMove = StatusTable("Query/Retrieve", [
        (0x0000, .success, "sub-operations complete, no failures"),
        (0xA801, .failure, "refused: move destination unknown"),
        (0xB000, .warning, "sub-operations complete, one or more failures"),
    ], including: [retrieve])

    /// PS3.4 Annex C.4.3.1.4, Table C.4-3: Query/Retrieve C-GET (and Annex Y).
    static let queryRetrieveGet = StatusTable("Query/Retrieve", [
        (0x0000, .success, "sub-operations complete, no failures or warnings"),
        (0xB000, .warning, "sub-operations complete, one or more failures or warnings"),
    ], including: [retrieve])

    /// DIMSE-N services: the general statuses of PS3.7 Annex C, plus 0001H, the warning
    /// several N-service SOP classes define (PS3.4 Annex F MPPS, Annex CC UPS, Annex S Media Creation).
    static let normalized = StatusTable("PS3.4", [
        (0x0001, .warning, "requested optional attributes are not supported"),
    ], including: [annexC])
}
