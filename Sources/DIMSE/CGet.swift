import DICOMCore

/// C-GET-RQ, PS3.7 §9.3.3.1, Table 9.3-5. The Identifier follows as the data set.
public struct CGetRequest: DIMSERequest, PriorityRequest {
    public static let commandField = CommandField.cGetRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var priority: Priority
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, priority: Priority = .medium) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.priority = priority
        self.commandDataSetType = CommandDataSetType.dataSetPresent
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageID, priority, commandDataSetType) = try r.requestHeader()
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = priorityRequestElements
    static var placeholder: Self { Self(messageID: 0, affectedSOPClassUID: "") }
}

/// C-GET-RSP, PS3.7 §9.3.3.2, Table 9.3-6.
public struct CGetResponse: DIMSEResponse, SubOperationsResponse {
    public static let commandField = CommandField.cGetResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var status: UInt16
    public var numberOfRemainingSuboperations: UInt16?
    public var numberOfCompletedSuboperations: UInt16?
    public var numberOfFailedSuboperations: UInt16?
    public var numberOfWarningSuboperations: UInt16?
    public var offendingElement: [Tag]?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                remaining: UInt16? = nil, completed: UInt16? = nil, failed: UInt16? = nil, warning: UInt16? = nil,
                hasDataSet: Bool = false, offendingElement: [Tag]? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.status = status
        self.numberOfRemainingSuboperations = remaining
        self.numberOfCompletedSuboperations = completed
        self.numberOfFailedSuboperations = failed
        self.numberOfWarningSuboperations = warning
        self.offendingElement = offendingElement
        self.errorComment = errorComment
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        try self.init(subOperationsResponse: commandSet)
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = subOperationsResponseElements
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
