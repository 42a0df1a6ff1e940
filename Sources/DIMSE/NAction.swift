import DICOMCore

/// N-ACTION-RQ, PS3.7 §10.3.4.1, Table 10.3-7. Action Information, if any, follows as the data set.
public struct NActionRequest: DIMSERequest {
    public static let commandField = CommandField.nActionRequest
    public var messageID: UInt16
    public var requestedSOPClassUID: String
    public var requestedSOPInstanceUID: String
    public var actionTypeID: UInt16
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String,
                actionTypeID: UInt16, hasDataSet: Bool = true) {
        self.messageID = messageID
        self.requestedSOPClassUID = requestedSOPClassUID
        self.requestedSOPInstanceUID = requestedSOPInstanceUID
        self.actionTypeID = actionTypeID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        requestedSOPClassUID = try r.string(CommandTag.requestedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        requestedSOPInstanceUID = try r.string(CommandTag.requestedSOPInstanceUID)
        actionTypeID = try r.uint16(CommandTag.actionTypeID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.requestedSOPClassUID, uid: requestedSOPClassUID)
        b.set(CommandTag.messageID, uint16: messageID)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.requestedSOPInstanceUID, uid: requestedSOPInstanceUID)
        b.set(CommandTag.actionTypeID, uint16: actionTypeID)
        return b.finish()
    }
}

/// N-ACTION-RSP, PS3.7 §10.3.4.2, Table 10.3-8. Action Reply, if any, follows as the data set.
public struct NActionResponse: DIMSEResponse {
    public static let commandField = CommandField.nActionResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var actionTypeID: UInt16?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

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

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        affectedSOPClassUID = r.optionalString(CommandTag.affectedSOPClassUID)
        messageIDBeingRespondedTo = try r.uint16(CommandTag.messageIDBeingRespondedTo)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        status = try r.uint16(CommandTag.status)
        errorComment = r.optionalString(CommandTag.errorComment)
        errorID = r.optionalUInt16(CommandTag.errorID)
        affectedSOPInstanceUID = r.optionalString(CommandTag.affectedSOPInstanceUID)
        actionTypeID = r.optionalUInt16(CommandTag.actionTypeID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageIDBeingRespondedTo, uint16: messageIDBeingRespondedTo)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.status, uint16: status)
        b.set(CommandTag.errorComment, text: errorComment, vr: .LO)
        b.set(CommandTag.errorID, uint16: errorID)
        b.set(CommandTag.affectedSOPInstanceUID, uid: affectedSOPInstanceUID)
        b.set(CommandTag.actionTypeID, uint16: actionTypeID)
        return b.finish()
    }
}
