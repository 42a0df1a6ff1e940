import DICOMCore

/// N-CREATE-RQ, PS3.7 §10.3.5.1, Table 10.3-9. The Attribute List, if any, follows as the data set.
public struct NCreateRequest: DIMSERequest, CommandSetCoding {
    public static let commandField = CommandField.nCreateRequest
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    /// Affected SOP Instance UID (0000,1000): optional; when absent the SCP assigns one and returns it.
    public var affectedSOPInstanceUID: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String? = nil,
                hasDataSet: Bool = true) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = [
        .uid(CommandTag.affectedSOPClassUID, \.affectedSOPClassUID), .messageID, .commandDataSetType,
        .optionalUID(CommandTag.affectedSOPInstanceUID, \.affectedSOPInstanceUID),
    ]
    static var placeholder: Self { Self(messageID: 0, affectedSOPClassUID: "") }
}

/// N-CREATE-RSP, PS3.7 §10.3.5.2, Table 10.3-10. The Attribute List, if any, follows as the data set.
public struct NCreateResponse: DIMSEResponse, NormalizedResponse {
    public static let commandField = CommandField.nCreateResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

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

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = normalizedResponseElements
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
