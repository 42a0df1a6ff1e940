import DICOMCore

/// N-DELETE-RQ, PS3.7 §10.3.6.1, Table 10.3-11. Never followed by a data set.
public struct NDeleteRequest: DIMSERequest, RequestedInstanceRequest {
    public static let commandField = CommandField.nDeleteRequest
    public var messageID: UInt16
    public var requestedSOPClassUID: String
    public var requestedSOPInstanceUID: String
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String) {
        self.messageID = messageID
        self.requestedSOPClassUID = requestedSOPClassUID
        self.requestedSOPInstanceUID = requestedSOPInstanceUID
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = requestedInstanceElements
    static var placeholder: Self { Self(messageID: 0, requestedSOPClassUID: "", requestedSOPInstanceUID: "") }
}

/// N-DELETE-RSP, PS3.7 §10.3.6.2, Table 10.3-12. Never followed by a data set.
public struct NDeleteResponse: DIMSEResponse, NormalizedResponse {
    public static let commandField = CommandField.nDeleteResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var affectedSOPInstanceUID: String?
    public var status: UInt16
    public var errorID: UInt16?
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String? = nil,
                affectedSOPInstanceUID: String? = nil, errorID: UInt16? = nil, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.status = status
        self.errorID = errorID
        self.errorComment = errorComment
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = normalizedResponseElements
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0, status: 0) }
}
