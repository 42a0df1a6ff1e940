import DICOMCore

/// C-GET-RSP (PS3.7 Table 9.3-6) and C-MOVE-RSP (Table 9.3-8) carry the same fields: after
/// `responseElements`, Offending Element, Error Comment and the four sub-operation counts.
protocol SubOperationsResponse: ResponseCoding {
    var numberOfRemainingSuboperations: UInt16? { get set }
    var numberOfCompletedSuboperations: UInt16? { get set }
    var numberOfFailedSuboperations: UInt16? { get set }
    var numberOfWarningSuboperations: UInt16? { get set }
    var offendingElement: [Tag]? { get set }
    var decodedCommandSet: Dataset? { get set }
    init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String?,
         remaining: UInt16?, completed: UInt16?, failed: UInt16?, warning: UInt16?,
         hasDataSet: Bool, offendingElement: [Tag]?, errorComment: String?)
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

    /// The hand-written decoding of C-GET-RSP and C-MOVE-RSP (what `init(decoding:)` gives, without
    /// the element table), except that a missing or unusable Status (0000,0900) is reported before
    /// Command Data Set Type (0000,0800), as C-GET-RSP and C-MOVE-RSP decoding always has.
    init(subOperationsResponse commandSet: Dataset) throws(DIMSEError) {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        let (messageID, status, dataSetType) = try r.subOperationsResponseHeader()
        self.init(messageIDBeingRespondedTo: messageID, status: status,
                  affectedSOPClassUID: r.optionalString(CommandTag.affectedSOPClassUID),
                  remaining: r.optionalUInt16(CommandTag.numberOfRemainingSuboperations),
                  completed: r.optionalUInt16(CommandTag.numberOfCompletedSuboperations),
                  failed: r.optionalUInt16(CommandTag.numberOfFailedSuboperations),
                  warning: r.optionalUInt16(CommandTag.numberOfWarningSuboperations),
                  hasDataSet: false, offendingElement: r.optionalTags(CommandTag.offendingElement),
                  errorComment: r.optionalString(CommandTag.errorComment))
        commandDataSetType = dataSetType
        decodedCommandSet = commandSet
    }
}
