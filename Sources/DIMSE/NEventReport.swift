import DICOMCore

/// N-EVENT-REPORT-RQ, PS3.7 §10.3.1.1, Table 10.3-1. Event Information, if any, follows as the data set.
public struct NEventReportRequest: DIMSERequest, CommandSetCoding {
    public static let commandField = CommandField.nEventReportRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    public var eventTypeID: UInt16
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                eventTypeID: UInt16, hasDataSet: Bool = true) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.eventTypeID = eventTypeID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = [
        .uid(CommandTag.affectedSOPClassUID, \.affectedSOPClassUID), .messageID, .commandDataSetType,
        .uid(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
        .uint16(CommandTag.eventTypeID, \.eventTypeID),
    ]
    static var placeholder: Self {
        Self(messageID: 0, affectedSOPClassUID: "", affectedSOPInstanceUID: "", eventTypeID: 0)
    }
}

/// N-EVENT-REPORT-RSP, PS3.7 §10.3.1.2, Table 10.3-2. Event Reply, if any, follows as the data set.
public struct NEventReportResponse: DIMSEResponse, NormalizedResponse {
    public static let commandField = CommandField.nEventReportResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var eventTypeID: UInt16?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

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

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] =
        normalizedResponseElements + [.optionalUInt16(CommandTag.eventTypeID, \.eventTypeID)]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
