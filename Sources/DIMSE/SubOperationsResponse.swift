import DICOMCore

/// C-GET-RSP (PS3.7 Table 9.3-6) and C-MOVE-RSP (Table 9.3-8) carry the same fields: after
/// `responseElements`, Offending Element, Error Comment and the four sub-operation counts.
protocol SubOperationsResponse: ResponseCoding {
    var numberOfRemainingSuboperations: UInt16? { get set }
    var numberOfCompletedSuboperations: UInt16? { get set }
    var numberOfFailedSuboperations: UInt16? { get set }
    var numberOfWarningSuboperations: UInt16? { get set }
    var offendingElement: [Tag]? { get set }
}

extension SubOperationsResponse {
    static var subOperationsResponseElements: [CommandElement<Self>] {
        responseElements + [
            .optionalTags(CommandTag.offendingElement, \.offendingElement), .errorComment,
            .optionalUInt16(CommandTag.numberOfRemainingSuboperations, \.numberOfRemainingSuboperations),
            .optionalUInt16(CommandTag.numberOfCompletedSuboperations, \.numberOfCompletedSuboperations),
            .optionalUInt16(CommandTag.numberOfFailedSuboperations, \.numberOfFailedSuboperations),
            .optionalUInt16(CommandTag.numberOfWarningSuboperations, \.numberOfWarningSuboperations),
        ]
    }

    /// `init(decoding:)`, except that a missing or unusable Status (0000,0900) is reported before
    /// Command Data Set Type (0000,0800), as C-GET-RSP and C-MOVE-RSP decoding always has.
    init(decodingSubOperationsResponse commandSet: Dataset) throws(DIMSEError) {
        let reader = try CommandSetReader(commandSet, expecting: Self.commandField)
        _ = try reader.uint16(CommandTag.messageIDBeingRespondedTo)
        _ = try reader.uint16(CommandTag.status)
        try self.init(decoding: commandSet)
    }
}
