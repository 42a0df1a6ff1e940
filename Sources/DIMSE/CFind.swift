import DICOMCore

/// C-FIND-RQ, PS3.7 §9.3.2.1, Table 9.3-3. The Identifier follows as the data set.
public struct CFindRequest: DIMSERequest {
    public static let commandField = CommandField.cFindRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var priority: Priority
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, priority: Priority = .medium) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.priority = priority
        self.commandDataSetType = CommandDataSetType.dataSetPresent
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        affectedSOPClassUID = try r.string(CommandTag.affectedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        priority = try r.priority()
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageID, uint16: messageID)
        b.set(CommandTag.priority, uint16: priority.rawValue)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        return b.finish()
    }
}

/// C-FIND-RSP, PS3.7 §9.3.2.2, Table 9.3-4. A Pending response carries the matching
/// Identifier as its data set; the final response carries none.
public struct CFindResponse: DIMSEResponse {
    public static let commandField = CommandField.cFindResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var status: UInt16
    public var offendingElement: [Tag]?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

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
        affectedSOPClassUID = r.optionalString(CommandTag.affectedSOPClassUID)
        messageIDBeingRespondedTo = try r.uint16(CommandTag.messageIDBeingRespondedTo)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        status = try r.uint16(CommandTag.status)
        offendingElement = r.optionalTags(CommandTag.offendingElement)
        errorComment = r.optionalString(CommandTag.errorComment)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageIDBeingRespondedTo, uint16: messageIDBeingRespondedTo)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.status, uint16: status)
        b.set(CommandTag.offendingElement, tags: offendingElement)
        b.set(CommandTag.errorComment, text: errorComment, vr: .LO)
        return b.finish()
    }
}
