import DICOMCore
import NIOCore

/// The command set of one DIMSE message type as typed fields (PS3.7 §9.3 and §10.3).
///
/// A message decoded with `init(commandSet:)` keeps the decoded dataset in
/// `decodedCommandSet`; `commandSet` gives it back unchanged while the fields still hold the
/// values it encodes, so an unmodified command re-encodes byte for byte. A changed field
/// rewrites only its own element (elements the type does not model are kept) and Command
/// Group Length is recomputed. A message built in code encodes from its fields, elements in
/// ascending tag order, UIDs padded with NUL and text with a space, as pynetdicom and dcmtk do.
public protocol DIMSEMessage: Sendable, Hashable {
    /// The Command Field (0000,0100) of this message type.
    static var commandField: CommandField { get }
    /// Decodes the fields; throws when a required element is absent or unusable, or when the
    /// command set's Command Field is not `Self.commandField`.
    init(commandSet: Dataset) throws(DIMSEError)
    /// The command set to send: the decoded one if nothing changed, else rebuilt from the fields.
    var commandSet: Dataset { get }
    /// The command set this message was decoded from; `nil` for a message built in code.
    var decodedCommandSet: Dataset? { get }
    /// Command Data Set Type (0000,0800): `CommandDataSetType.noDataSet` (0101H) or any other value.
    var commandDataSetType: UInt16 { get set }
}

/// A request that carries a Message ID (0000,0110). (C-CANCEL-RQ carries Message ID Being
/// Responded To instead and is not one.)
public protocol DIMSERequest: DIMSEMessage {
    var messageID: UInt16 { get set }
}

/// A response: Message ID Being Responded To (0000,0120), Status (0000,0900) and the
/// status fields every response may carry (PS3.7 Annex C).
public protocol DIMSEResponse: DIMSEMessage {
    var messageIDBeingRespondedTo: UInt16 { get set }
    var status: UInt16 { get set }
    var errorComment: String? { get set }
    /// Affected SOP Class UID (0000,0002), optional in responses.
    var affectedSOPClassUID: String? { get }
}

extension DIMSEMessage {
    public var commandField: CommandField { Self.commandField }

    /// Whether a data set follows the command (Command Data Set Type ≠ 0101H). Setting it
    /// to true keeps any non-0101H value already there, else uses 0001H.
    public var hasDataSet: Bool {
        get { commandDataSetType != CommandDataSetType.noDataSet }
        set {
            guard newValue != hasDataSet else { return }
            commandDataSetType = newValue ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
        }
    }

    /// The command set in Implicit VR Little Endian (PS3.7 §6.3.1).
    public func encodedCommandSet() throws(DIMSEError) -> ByteBuffer {
        try encodeCommandSet(commandSet, commandField: Self.commandField.rawValue)
    }
}

extension DIMSEResponse {
    /// The status looked up for this service and the response's Affected SOP Class UID.
    public var dimseStatus: DIMSEStatus {
        DIMSEStatus.lookup(status, service: Self.commandField.service, sopClassUID: affectedSOPClassUID)
    }

    /// The status looked up for this service and `sopClassUID` (e.g. the request's, when the
    /// response leaves Affected SOP Class UID out).
    public func dimseStatus(sopClassUID: String?) -> DIMSEStatus {
        DIMSEStatus.lookup(status, service: Self.commandField.service, sopClassUID: sopClassUID ?? affectedSOPClassUID)
    }
}

func encodeCommandSet(_ commandSet: Dataset, commandField: UInt16?) throws(DIMSEError) -> ByteBuffer {
    do {
        return try DatasetEncoder().encode(commandSet, encoding: .implicitLittleEndian)
    } catch {
        throw DIMSEError(.unencodable, error.detail, tag: error.tag, commandField: commandField, underlying: error)
    }
}

/// A DIMSE command: the command set of one message, typed by its Command Field
/// (model: postgres-nio `PostgresBackendMessage`). Command fields this library does not
/// know decode to `.unknown`, not to an error.
public enum DIMSECommand: Sendable, Hashable, CustomStringConvertible {
    case cStoreRequest(CStoreRequest)
    case cStoreResponse(CStoreResponse)
    case cGetRequest(CGetRequest)
    case cGetResponse(CGetResponse)
    case cFindRequest(CFindRequest)
    case cFindResponse(CFindResponse)
    case cMoveRequest(CMoveRequest)
    case cMoveResponse(CMoveResponse)
    case cEchoRequest(CEchoRequest)
    case cEchoResponse(CEchoResponse)
    case cCancelRequest(CCancelRequest)
    case nEventReportRequest(NEventReportRequest)
    case nEventReportResponse(NEventReportResponse)
    case nGetRequest(NGetRequest)
    case nGetResponse(NGetResponse)
    case nSetRequest(NSetRequest)
    case nSetResponse(NSetResponse)
    case nActionRequest(NActionRequest)
    case nActionResponse(NActionResponse)
    case nCreateRequest(NCreateRequest)
    case nCreateResponse(NCreateResponse)
    case nDeleteRequest(NDeleteRequest)
    case nDeleteResponse(NDeleteResponse)
    /// A Command Field value not defined in PS3.7 (or retired), kept with its command set.
    case unknown(commandField: UInt16, commandSet: Dataset)

    /// Decodes a command set's typed fields according to its Command Field (0000,0100).
    public init(commandSet: Dataset) throws(DIMSEError) {
        let raw = try DIMSECommand.rawCommandField(of: commandSet)
        guard let field = CommandField(rawValue: raw) else {
            self = .unknown(commandField: raw, commandSet: commandSet)
            return
        }
        switch field {
        case .cStoreRequest: self = .cStoreRequest(try CStoreRequest(commandSet: commandSet))
        case .cStoreResponse: self = .cStoreResponse(try CStoreResponse(commandSet: commandSet))
        case .cGetRequest: self = .cGetRequest(try CGetRequest(commandSet: commandSet))
        case .cGetResponse: self = .cGetResponse(try CGetResponse(commandSet: commandSet))
        case .cFindRequest: self = .cFindRequest(try CFindRequest(commandSet: commandSet))
        case .cFindResponse: self = .cFindResponse(try CFindResponse(commandSet: commandSet))
        case .cMoveRequest: self = .cMoveRequest(try CMoveRequest(commandSet: commandSet))
        case .cMoveResponse: self = .cMoveResponse(try CMoveResponse(commandSet: commandSet))
        case .cEchoRequest: self = .cEchoRequest(try CEchoRequest(commandSet: commandSet))
        case .cEchoResponse: self = .cEchoResponse(try CEchoResponse(commandSet: commandSet))
        case .cCancelRequest: self = .cCancelRequest(try CCancelRequest(commandSet: commandSet))
        case .nEventReportRequest: self = .nEventReportRequest(try NEventReportRequest(commandSet: commandSet))
        case .nEventReportResponse: self = .nEventReportResponse(try NEventReportResponse(commandSet: commandSet))
        case .nGetRequest: self = .nGetRequest(try NGetRequest(commandSet: commandSet))
        case .nGetResponse: self = .nGetResponse(try NGetResponse(commandSet: commandSet))
        case .nSetRequest: self = .nSetRequest(try NSetRequest(commandSet: commandSet))
        case .nSetResponse: self = .nSetResponse(try NSetResponse(commandSet: commandSet))
        case .nActionRequest: self = .nActionRequest(try NActionRequest(commandSet: commandSet))
        case .nActionResponse: self = .nActionResponse(try NActionResponse(commandSet: commandSet))
        case .nCreateRequest: self = .nCreateRequest(try NCreateRequest(commandSet: commandSet))
        case .nCreateResponse: self = .nCreateResponse(try NCreateResponse(commandSet: commandSet))
        case .nDeleteRequest: self = .nDeleteRequest(try NDeleteRequest(commandSet: commandSet))
        case .nDeleteResponse: self = .nDeleteResponse(try NDeleteResponse(commandSet: commandSet))
        }
    }

    /// Decodes command set bytes, always Implicit VR Little Endian (PS3.7 §6.3.1). Odd value
    /// lengths are tolerated (they re-encode as they came); any other malformation throws
    /// `commandSetNotDecodable` with the dataset decoder's error underneath.
    public init(decoding bytes: ByteBuffer) throws(DIMSEError) {
        let dataset: Dataset
        do {
            dataset = try DatasetDecoder(options: .lenient).decode(bytes, encoding: .implicitLittleEndian)
        } catch {
            throw DIMSEError(.commandSetNotDecodable, error.description, tag: error.tag, underlying: error)
        }
        try self.init(commandSet: dataset)
    }

    /// The Command Field (0000,0100) value of a command set.
    static func rawCommandField(of commandSet: Dataset) throws(DIMSEError) -> UInt16 {
        guard let element = commandSet[CommandTag.commandField] else {
            throw DIMSEError(.missingElement, "every command set requires (0000,0100) CommandField", tag: CommandTag.commandField)
        }
        guard let raw = CommandValue.uint16(element) else {
            throw DIMSEError(.invalidElementValue, "a US value needs 2 bytes, the element has \(element.valueLength ?? 0)",
                             tag: CommandTag.commandField)
        }
        return raw
    }

    /// The typed message, or nil for `.unknown`.
    public var message: (any DIMSEMessage)? {
        switch self {
        case .cStoreRequest(let m): return m
        case .cStoreResponse(let m): return m
        case .cGetRequest(let m): return m
        case .cGetResponse(let m): return m
        case .cFindRequest(let m): return m
        case .cFindResponse(let m): return m
        case .cMoveRequest(let m): return m
        case .cMoveResponse(let m): return m
        case .cEchoRequest(let m): return m
        case .cEchoResponse(let m): return m
        case .cCancelRequest(let m): return m
        case .nEventReportRequest(let m): return m
        case .nEventReportResponse(let m): return m
        case .nGetRequest(let m): return m
        case .nGetResponse(let m): return m
        case .nSetRequest(let m): return m
        case .nSetResponse(let m): return m
        case .nActionRequest(let m): return m
        case .nActionResponse(let m): return m
        case .nCreateRequest(let m): return m
        case .nCreateResponse(let m): return m
        case .nDeleteRequest(let m): return m
        case .nDeleteResponse(let m): return m
        case .unknown: return nil
        }
    }

    /// The Command Field value, known or not.
    public var rawCommandField: UInt16 {
        if case .unknown(let raw, _) = self { return raw }
        return commandField?.rawValue ?? 0
    }

    /// The Command Field, or nil for `.unknown`. A switch, not `message` (which boxes the
    /// message in an existential): the assembler and the observer ask for every message.
    public var commandField: CommandField? {
        switch self {
        case .cStoreRequest: return .cStoreRequest
        case .cStoreResponse: return .cStoreResponse
        case .cGetRequest: return .cGetRequest
        case .cGetResponse: return .cGetResponse
        case .cFindRequest: return .cFindRequest
        case .cFindResponse: return .cFindResponse
        case .cMoveRequest: return .cMoveRequest
        case .cMoveResponse: return .cMoveResponse
        case .cEchoRequest: return .cEchoRequest
        case .cEchoResponse: return .cEchoResponse
        case .cCancelRequest: return .cCancelRequest
        case .nEventReportRequest: return .nEventReportRequest
        case .nEventReportResponse: return .nEventReportResponse
        case .nGetRequest: return .nGetRequest
        case .nGetResponse: return .nGetResponse
        case .nSetRequest: return .nSetRequest
        case .nSetResponse: return .nSetResponse
        case .nActionRequest: return .nActionRequest
        case .nActionResponse: return .nActionResponse
        case .nCreateRequest: return .nCreateRequest
        case .nCreateResponse: return .nCreateResponse
        case .nDeleteRequest: return .nDeleteRequest
        case .nDeleteResponse: return .nDeleteResponse
        case .unknown: return nil
        }
    }

    /// The command set this command was decoded from (see `DIMSEMessage.decodedCommandSet`):
    /// what was received, without rebuilding it; nil for a command built in code.
    public var decodedCommandSet: Dataset? {
        switch self {
        case .cStoreRequest(let m): return m.decodedCommandSet
        case .cStoreResponse(let m): return m.decodedCommandSet
        case .cGetRequest(let m): return m.decodedCommandSet
        case .cGetResponse(let m): return m.decodedCommandSet
        case .cFindRequest(let m): return m.decodedCommandSet
        case .cFindResponse(let m): return m.decodedCommandSet
        case .cMoveRequest(let m): return m.decodedCommandSet
        case .cMoveResponse(let m): return m.decodedCommandSet
        case .cEchoRequest(let m): return m.decodedCommandSet
        case .cEchoResponse(let m): return m.decodedCommandSet
        case .cCancelRequest(let m): return m.decodedCommandSet
        case .nEventReportRequest(let m): return m.decodedCommandSet
        case .nEventReportResponse(let m): return m.decodedCommandSet
        case .nGetRequest(let m): return m.decodedCommandSet
        case .nGetResponse(let m): return m.decodedCommandSet
        case .nSetRequest(let m): return m.decodedCommandSet
        case .nSetResponse(let m): return m.decodedCommandSet
        case .nActionRequest(let m): return m.decodedCommandSet
        case .nActionResponse(let m): return m.decodedCommandSet
        case .nCreateRequest(let m): return m.decodedCommandSet
        case .nCreateResponse(let m): return m.decodedCommandSet
        case .nDeleteRequest(let m): return m.decodedCommandSet
        case .nDeleteResponse(let m): return m.decodedCommandSet
        case .unknown(_, let commandSet): return commandSet
        }
    }

    /// The command set as it would be sent (see `DIMSEMessage.commandSet`).
    public var commandSet: Dataset {
        switch self {
        case .cStoreRequest(let m): return m.commandSet
        case .cStoreResponse(let m): return m.commandSet
        case .cGetRequest(let m): return m.commandSet
        case .cGetResponse(let m): return m.commandSet
        case .cFindRequest(let m): return m.commandSet
        case .cFindResponse(let m): return m.commandSet
        case .cMoveRequest(let m): return m.commandSet
        case .cMoveResponse(let m): return m.commandSet
        case .cEchoRequest(let m): return m.commandSet
        case .cEchoResponse(let m): return m.commandSet
        case .cCancelRequest(let m): return m.commandSet
        case .nEventReportRequest(let m): return m.commandSet
        case .nEventReportResponse(let m): return m.commandSet
        case .nGetRequest(let m): return m.commandSet
        case .nGetResponse(let m): return m.commandSet
        case .nSetRequest(let m): return m.commandSet
        case .nSetResponse(let m): return m.commandSet
        case .nActionRequest(let m): return m.commandSet
        case .nActionResponse(let m): return m.commandSet
        case .nCreateRequest(let m): return m.commandSet
        case .nCreateResponse(let m): return m.commandSet
        case .nDeleteRequest(let m): return m.commandSet
        case .nDeleteResponse(let m): return m.commandSet
        case .unknown(_, let commandSet): return commandSet
        }
    }

    /// Command Data Set Type (0000,0800); nil only for an unknown command without one.
    public var commandDataSetType: UInt16? {
        switch self {
        case .cStoreRequest(let m): return m.commandDataSetType
        case .cStoreResponse(let m): return m.commandDataSetType
        case .cGetRequest(let m): return m.commandDataSetType
        case .cGetResponse(let m): return m.commandDataSetType
        case .cFindRequest(let m): return m.commandDataSetType
        case .cFindResponse(let m): return m.commandDataSetType
        case .cMoveRequest(let m): return m.commandDataSetType
        case .cMoveResponse(let m): return m.commandDataSetType
        case .cEchoRequest(let m): return m.commandDataSetType
        case .cEchoResponse(let m): return m.commandDataSetType
        case .cCancelRequest(let m): return m.commandDataSetType
        case .nEventReportRequest(let m): return m.commandDataSetType
        case .nEventReportResponse(let m): return m.commandDataSetType
        case .nGetRequest(let m): return m.commandDataSetType
        case .nGetResponse(let m): return m.commandDataSetType
        case .nSetRequest(let m): return m.commandDataSetType
        case .nSetResponse(let m): return m.commandDataSetType
        case .nActionRequest(let m): return m.commandDataSetType
        case .nActionResponse(let m): return m.commandDataSetType
        case .nCreateRequest(let m): return m.commandDataSetType
        case .nCreateResponse(let m): return m.commandDataSetType
        case .nDeleteRequest(let m): return m.commandDataSetType
        case .nDeleteResponse(let m): return m.commandDataSetType
        case .unknown(_, let commandSet):
            return commandSet[CommandTag.commandDataSetType].flatMap(CommandValue.uint16)
        }
    }

    /// Whether a data set follows: Command Data Set Type present and ≠ 0101H.
    public var hasDataSet: Bool {
        guard let type = commandDataSetType else { return false }
        return type != CommandDataSetType.noDataSet
    }

    /// Message ID (0000,0110) of a request.
    public var messageID: UInt16? { (message as? any DIMSERequest)?.messageID }

    /// Message ID Being Responded To (0000,0120) of a response or a C-CANCEL-RQ.
    public var messageIDBeingRespondedTo: UInt16? {
        if case .cCancelRequest(let m) = self { return m.messageIDBeingRespondedTo }
        return (message as? any DIMSEResponse)?.messageIDBeingRespondedTo
    }

    /// Status (0000,0900) of a response.
    public var status: UInt16? { (message as? any DIMSEResponse)?.status }

    /// Affected SOP Class UID (0000,0002), else Requested SOP Class UID (0000,0003).
    public var sopClassUID: String? {
        let set = commandSet
        return (set[CommandTag.affectedSOPClassUID] ?? set[CommandTag.requestedSOPClassUID]).flatMap(CommandValue.string)
    }

    /// The response's status looked up for its service and SOP class; nil for requests.
    public var dimseStatus: DIMSEStatus? {
        guard let status, let field = commandField else { return nil }
        return DIMSEStatus.lookup(status, service: field.service, sopClassUID: sopClassUID)
    }

    /// The command set in Implicit VR Little Endian.
    public func encodedCommandSet() throws(DIMSEError) -> ByteBuffer {
        try encodeCommandSet(commandSet, commandField: rawCommandField)
    }

    /// `C-FIND-RQ id=7`, `C-FIND-RSP to=7 0xFF00 Pending`.
    public var description: String {
        var s = CommandField.name(of: rawCommandField)
        if let messageID { s += " id=\(messageID)" }
        if let messageIDBeingRespondedTo { s += " to=\(messageIDBeingRespondedTo)" }
        if let dimseStatus { s += " 0x\(hex4(dimseStatus.code)) \(dimseStatus.category)" }
        return s
    }
}
