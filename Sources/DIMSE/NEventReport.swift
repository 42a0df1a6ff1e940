import DICOMCore

/// N-EVENT-REPORT-RQ, PS3.7 §10.3.1.1, Table 10.3-1. Event Information, if any, follows as the data set.
public struct NEventReportRequest: DIMSERequest {
    public static let commandField = CommandField.nEventReportRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    public var eventTypeID: UInt16
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                eventTypeID: UInt16, hasDataSet: Bool = true) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.eventTypeID = eventTypeID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        affectedSOPClassUID = try r.string(CommandTag.affectedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        affectedSOPInstanceUID = try r.string(CommandTag.affectedSOPInstanceUID)
        eventTypeID = try r.uint16(CommandTag.eventTypeID)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageID, uint16: messageID)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.affectedSOPInstanceUID, uid: affectedSOPInstanceUID)
        b.set(CommandTag.eventTypeID, uint16: eventTypeID)
        return b.finish()
    }
}

/// N-EVENT-REPORT-RSP, PS3.7 §10.3.1.2, Table 10.3-2. Event Reply, if any, follows as the data set.
public struct NEventReportResponse: DIMSEResponse {
    public static let commandField = CommandField.nEventReportResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var eventTypeID: UInt16?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, eventTypeID: UInt16? = nil, hasDataSet: Bool = false,
                errorID: UInt16? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.eventTypeID = eventTypeID
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
        eventTypeID = r.optionalUInt16(CommandTag.eventTypeID)
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
        b.set(CommandTag.eventTypeID, uint16: eventTypeID)
        return b.finish()
    }
}
