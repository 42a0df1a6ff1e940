import DICOMCore

/// C-STORE-RQ, PS3.7 §9.3.1.1, Table 9.3-1.
public struct CStoreRequest: DIMSERequest, PriorityRequest {
    public static let commandField = CommandField.cStoreRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    public var priority: Priority
    /// Move Originator Application Entity Title (0000,1030): set when the store is a C-MOVE sub-operation.
    public var moveOriginatorApplicationEntityTitle: String?
    /// Move Originator Message ID (0000,1031): the C-MOVE-RQ's Message ID, for a C-MOVE sub-operation.
    public var moveOriginatorMessageID: UInt16?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                priority: Priority = .medium, moveOriginatorApplicationEntityTitle: String? = nil,
                moveOriginatorMessageID: UInt16? = nil) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.priority = priority
        self.moveOriginatorApplicationEntityTitle = moveOriginatorApplicationEntityTitle
        self.moveOriginatorMessageID = moveOriginatorMessageID
        self.commandDataSetType = CommandDataSetType.dataSetPresent
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageID, priority, commandDataSetType) = try r.requestHeader()
        affectedSOPInstanceUID = try r.string(CommandTag.affectedSOPInstanceUID)
        moveOriginatorApplicationEntityTitle = r.optionalString(CommandTag.moveOriginatorApplicationEntityTitle)
        moveOriginatorMessageID = r.optionalUInt16(CommandTag.moveOriginatorMessageID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = priorityRequestElements + [
        .uid(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
        .optionalText(CommandTag.moveOriginatorApplicationEntityTitle, \.moveOriginatorApplicationEntityTitle, vr: .AE),
        .optionalUInt16(CommandTag.moveOriginatorMessageID, \.moveOriginatorMessageID),
    ]
    static var placeholder: Self { Self(messageID: 0, affectedSOPClassUID: "", affectedSOPInstanceUID: "") }
}

/// C-STORE-RSP, PS3.7 §9.3.1.2, Table 9.3-2.
public struct CStoreResponse: DIMSEResponse, ResponseCoding {
    public static let commandField = CommandField.cStoreResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var offendingElement: [Tag]?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, offendingElement: [Tag]? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.offendingElement = offendingElement
        self.errorComment = errorComment
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageIDBeingRespondedTo, commandDataSetType, status) = try r.responseHeader()
        offendingElement = r.optionalTags(CommandTag.offendingElement)
        errorComment = r.optionalString(CommandTag.errorComment)
        affectedSOPInstanceUID = r.optionalString(CommandTag.affectedSOPInstanceUID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = responseElements + [
        .optionalTags(CommandTag.offendingElement, \.offendingElement), .errorComment,
        .optionalUID(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
    ]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
