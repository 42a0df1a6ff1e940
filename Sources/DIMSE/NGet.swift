import DICOMCore

/// N-GET-RQ, PS3.7 §10.3.2.1, Table 10.3-3. Never followed by a data set.
public struct NGetRequest: DIMSERequest {
    public static let commandField = CommandField.nGetRequest
    public var messageID: UInt16
    public var requestedSOPClassUID: String
    public var requestedSOPInstanceUID: String
    /// Attribute Identifier List (0000,1005): the attributes asked for; absent means all.
    public var attributeIdentifierList: [Tag]?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String,
                attributeIdentifierList: [Tag]? = nil) {
        self.messageID = messageID
        self.requestedSOPClassUID = requestedSOPClassUID
        self.requestedSOPInstanceUID = requestedSOPInstanceUID
        self.attributeIdentifierList = attributeIdentifierList
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        requestedSOPClassUID = try r.string(CommandTag.requestedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        requestedSOPInstanceUID = try r.string(CommandTag.requestedSOPInstanceUID)
        attributeIdentifierList = r.optionalTags(CommandTag.attributeIdentifierList)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.requestedSOPClassUID, uid: requestedSOPClassUID)
        b.set(CommandTag.messageID, uint16: messageID)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.requestedSOPInstanceUID, uid: requestedSOPInstanceUID)
        b.set(CommandTag.attributeIdentifierList, tags: attributeIdentifierList)
        return b.finish()
    }
}

/// N-GET-RSP, PS3.7 §10.3.2.2, Table 10.3-4. The Attribute List follows as the data set.
public struct NGetResponse: DIMSEResponse {
    public static let commandField = CommandField.nGetResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var attributeIdentifierList: [Tag]?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = true, attributeIdentifierList: [Tag]? = nil,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.attributeIdentifierList = attributeIdentifierList
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
        attributeIdentifierList = r.optionalTags(CommandTag.attributeIdentifierList)
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
        b.set(CommandTag.attributeIdentifierList, tags: attributeIdentifierList)
        return b.finish()
    }
}
