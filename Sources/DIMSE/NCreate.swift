import DICOMCore

/// N-CREATE-RQ, PS3.7 §10.3.5.1, Table 10.3-9. The Attribute List, if any, follows as the data set.
public struct NCreateRequest: DIMSERequest {
    public static let commandField = CommandField.nCreateRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    /// Affected SOP Instance UID (0000,1000): optional; when absent the SCP assigns one and returns it.
    public var affectedSOPInstanceUID: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String? = nil,
                hasDataSet: Bool = true) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        affectedSOPClassUID = try r.string(CommandTag.affectedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        affectedSOPInstanceUID = r.optionalString(CommandTag.affectedSOPInstanceUID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageID, uint16: messageID)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.affectedSOPInstanceUID, uid: affectedSOPInstanceUID)
        return b.finish()
    }
}

/// N-CREATE-RSP, PS3.7 §10.3.5.2, Table 10.3-10. The Attribute List, if any, follows as the data set.
public struct NCreateResponse: DIMSEResponse {
    public static let commandField = CommandField.nCreateResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = false,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
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
        return b.finish()
    }
}
