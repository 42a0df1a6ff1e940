import DICOMCore

/// C-CANCEL-RQ (C-CANCEL-FIND-RQ, -GET-RQ and -MOVE-RQ share one command field),
/// PS3.7 §9.3.2.3, Table 9.3-3a. It has no response; the cancelled operation's final
/// response (usually 0xFE00) answers it.
public struct CCancelRequest: DIMSEMessage, CommandSetCoding {
    public static let commandField = CommandField.cCancelRequest
    /// The Message ID of the C-FIND, C-GET or C-MOVE request being cancelled.
    public var messageIDBeingRespondedTo: UInt16
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?

    public init(messageIDBeingRespondedTo: UInt16) {
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.commandDataSetType = CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        messageIDBeingRespondedTo = try r.uint16(CommandTag.messageIDBeingRespondedTo)
        commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        decodedCommandSet = commandSet
    }

    public var commandSet: Dataset { encodedElements }

    static let elements: [CommandElement<Self>] = [
        .uint16(CommandTag.messageIDBeingRespondedTo, \.messageIDBeingRespondedTo), .commandDataSetType,
    ]
    static var placeholder: Self { Self(messageIDBeingRespondedTo: 0) }
}
