import DICOMCore

/// N-ACTION-RQ, PS3.7 §10.3.4.1, Table 10.3-7. Action Information, if any, follows as the data set.
public struct NActionRequest: DIMSERequest, RequestedInstanceRequest {
    public static let commandField = CommandField.nActionRequest
    public var messageID: UInt16
    public var requestedSOPClassUID: String
    public var requestedSOPInstanceUID: String
    public var actionTypeID: UInt16
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String,
                actionTypeID: UInt16, hasDataSet: Bool = true) {
        self.messageID = messageID
        self.requestedSOPClassUID = requestedSOPClassUID
        self.requestedSOPInstanceUID = requestedSOPInstanceUID
        self.actionTypeID = actionTypeID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] =
        requestedInstanceElements + [.uint16(CommandTag.actionTypeID, \.actionTypeID)]
    static var placeholder: Self {
        Self(messageID: 0, requestedSOPClassUID: "", requestedSOPInstanceUID: "", actionTypeID: 0)
    }
}

/// N-ACTION-RSP, PS3.7 §10.3.4.2, Table 10.3-8. Action Reply, if any, follows as the data set.
public struct NActionResponse: DIMSEResponse, NormalizedResponse {
    public static let commandField = CommandField.nActionResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var actionTypeID: UInt16?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, actionTypeID: UInt16? = nil, hasDataSet: Bool = false,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.actionTypeID = actionTypeID
        self.errorID = errorID
        self.errorComment = errorComment
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] =
        normalizedResponseElements + [.optionalUInt16(CommandTag.actionTypeID, \.actionTypeID)]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
