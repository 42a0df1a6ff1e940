import DICOMCore

/// C-FIND-RQ, PS3.7 §9.3.2.1, Table 9.3-3. The Identifier follows as the data set.
public struct CFindRequest: DIMSERequest, PriorityRequest {
    public static let commandField = CommandField.cFindRequest
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
        // Required elements in the order of `elements` (see `CommandSetReader`).
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageID, priority, commandDataSetType) = try r.requestHeader()
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = priorityRequestElements
    static var placeholder: Self { Self(messageID: 0, affectedSOPClassUID: "") }
}

/// C-FIND-RSP, PS3.7 §9.3.2.2, Table 9.3-4. A Pending response carries the matching
/// Identifier as its data set; the final response carries none.
public struct CFindResponse: DIMSEResponse, ResponseCoding {
    public static let commandField = CommandField.cFindResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var status: UInt16
    public var offendingElement: [Tag]?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                hasDataSet: Bool = false, offendingElement: [Tag]? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.status = status
        self.offendingElement = offendingElement
        self.errorComment = errorComment
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageIDBeingRespondedTo, commandDataSetType, status) = try r.responseHeader()
        offendingElement = r.optionalTags(CommandTag.offendingElement)
        errorComment = r.optionalString(CommandTag.errorComment)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] =
        responseElements + [.optionalTags(CommandTag.offendingElement, \.offendingElement), .errorComment]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
