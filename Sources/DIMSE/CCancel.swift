import DICOMCore

/// C-CANCEL-RQ (C-CANCEL-FIND-RQ, -GET-RQ and -MOVE-RQ share one command field),
/// PS3.7 §9.3.2.3, Table 9.3-3a. It has no response; the cancelled operation's final
/// response (usually 0xFE00) answers it.
public struct CCancelRequest: DIMSEMessage {
    public static let commandField = CommandField.cCancelRequest
    /// The Message ID of the C-FIND, C-GET or C-MOVE request being cancelled.
    public var messageIDBeingRespondedTo: UInt16
    public var commandDataSetType: UInt16
    public private(set) var decodedCommandSet: Dataset?

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

    public var commandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.messageIDBeingRespondedTo, uint16: messageIDBeingRespondedTo)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        return b.finish()
    }
}
