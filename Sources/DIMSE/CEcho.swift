import DICOMCore

/// C-ECHO-RQ, PS3.7 §9.3.5.1, Table 9.3-12.
public struct CEchoRequest: DIMSERequest, CommandSetCoding {
    public static let commandField = CommandField.cEchoRequest
    public var messageID: UInt16
    /// Affected SOP Class UID (0000,0002): the Verification SOP Class, 1.2.840.10008.1.1.
    public var affectedSOPClassUID: String
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    /// The Verification SOP Class UID (PS3.4 Annex A).
    public static let verificationSOPClassUID = "1.2.840.10008.1.1"

    public init(messageID: UInt16, affectedSOPClassUID: String = CEchoRequest.verificationSOPClassUID) {
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        affectedSOPClassUID = try r.string(CommandTag.affectedSOPClassUID)
        messageID = try r.uint16(CommandTag.messageID)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = [
        .uid(CommandTag.affectedSOPClassUID, \.affectedSOPClassUID), .messageID, .commandDataSetType,
    ]
    static var placeholder: Self { Self(messageID: 0) }
}

/// C-ECHO-RSP, PS3.7 §9.3.5.2, Table 9.3-13.
public struct CEchoResponse: DIMSEResponse, ResponseCoding {
    public static let commandField = CommandField.cEchoResponse
    public var messageIDBeingRespondedTo: UInt16
    public var affectedSOPClassUID: String?
    public var status: UInt16
    public var errorComment: String?
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16, status: UInt16 = 0x0000,
                affectedSOPClassUID: String? = CEchoRequest.verificationSOPClassUID, errorComment: String? = nil) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.status = status
        self.errorComment = errorComment
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        (affectedSOPClassUID, messageIDBeingRespondedTo, commandDataSetType, status) = try r.responseHeader()
        errorComment = r.optionalString(CommandTag.errorComment)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = responseElements + [.errorComment]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0) }
}
