import DICOMCore

/// N-SET-RQ, PS3.7 §10.3.3.1, Table 10.3-5. The Modification List follows as the data set.
public struct NSetRequest: DIMSERequest, RequestedInstanceRequest {
    public static let commandField = CommandField.nSetRequest
    public var messageID: UInt16
    public var requestedSOPClassUID: String
    public var requestedSOPInstanceUID: String
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String) {
        self.messageID = messageID
        self.requestedSOPClassUID = requestedSOPClassUID
        self.requestedSOPInstanceUID = requestedSOPInstanceUID
        self.commandDataSetType = CommandDataSetType.dataSetPresent
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = requestedInstanceElements
    static var placeholder: Self { Self(messageID: 0, requestedSOPClassUID: "", requestedSOPInstanceUID: "") }
}

/// N-SET-RSP, PS3.7 §10.3.3.2, Table 10.3-6. The Attribute List, if any, follows as the data set.
public struct NSetResponse: DIMSEResponse, NormalizedResponse {
    public static let commandField = CommandField.nSetResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var attributeIdentifierList: [Tag]?
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, hasDataSet: Bool = false, attributeIdentifierList: [Tag]? = nil,
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

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] =
        normalizedResponseElements + [.optionalTags(CommandTag.attributeIdentifierList, \.attributeIdentifierList)]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
