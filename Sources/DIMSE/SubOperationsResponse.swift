import DICOMCore

/// C-GET-RSP (PS3.7 Table 9.3-6) and C-MOVE-RSP (Table 9.3-8) carry the same fields: status,
/// the four sub-operation counts, Offending Element and Error Comment. Both decode and encode
/// them here.
protocol SubOperationsResponse: DIMSEResponse {
    var numberOfRemainingSuboperations: UInt16? { get }
    var numberOfCompletedSuboperations: UInt16? { get }
    var numberOfFailedSuboperations: UInt16? { get }
    var numberOfWarningSuboperations: UInt16? { get }
    var offendingElement: [Tag]? { get }
    var decodedCommandSet: Dataset? { get set }

    init(messageIDBeingRespondedTo: UInt16, status: UInt16, affectedSOPClassUID: String?,
         remaining: UInt16?, completed: UInt16?, failed: UInt16?, warning: UInt16?,
         hasDataSet: Bool, offendingElement: [Tag]?, errorComment: String?)
}

extension SubOperationsResponse {
    static func decodingSubOperationsResponse(_ commandSet: Dataset) throws(DIMSEError) -> Self {
        let r = try CommandSetReader(commandSet, expecting: Self.commandField)
        var response = Self(
            messageIDBeingRespondedTo: try r.uint16(CommandTag.messageIDBeingRespondedTo),
            status: try r.uint16(CommandTag.status),
            affectedSOPClassUID: r.optionalString(CommandTag.affectedSOPClassUID),
            remaining: r.optionalUInt16(CommandTag.numberOfRemainingSuboperations),
            completed: r.optionalUInt16(CommandTag.numberOfCompletedSuboperations),
            failed: r.optionalUInt16(CommandTag.numberOfFailedSuboperations),
            warning: r.optionalUInt16(CommandTag.numberOfWarningSuboperations),
            hasDataSet: false,
            offendingElement: r.optionalTags(CommandTag.offendingElement),
            errorComment: r.optionalString(CommandTag.errorComment))
        // The Command Data Set Type as sent (not only "none"/"present").
        response.commandDataSetType = try r.uint16(CommandTag.commandDataSetType)
        response.decodedCommandSet = commandSet
        return response
    }

    var subOperationsResponseCommandSet: Dataset {
        var b = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        b.set(CommandTag.affectedSOPClassUID, uid: affectedSOPClassUID)
        b.set(CommandTag.messageIDBeingRespondedTo, uint16: messageIDBeingRespondedTo)
        b.set(CommandTag.commandDataSetType, uint16: commandDataSetType)
        b.set(CommandTag.status, uint16: status)
        b.set(CommandTag.offendingElement, tags: offendingElement)
        b.set(CommandTag.errorComment, text: errorComment, vr: .LO)
        b.set(CommandTag.numberOfRemainingSuboperations, uint16: numberOfRemainingSuboperations)
        b.set(CommandTag.numberOfCompletedSuboperations, uint16: numberOfCompletedSuboperations)
        b.set(CommandTag.numberOfFailedSuboperations, uint16: numberOfFailedSuboperations)
        b.set(CommandTag.numberOfWarningSuboperations, uint16: numberOfWarningSuboperations)
        return b.finish()
    }
}
