import DICOMCore

/// The sub-operation counts of a C-GET-RSP or C-MOVE-RSP: Number of Remaining, Completed, Failed
/// and Warning Sub-operations (0000,1020)-(0000,1023), PS3.7 Table 9.3-6 and 9.3-8; nil where the
/// response leaves one out.
public struct SubOperationCounts: Sendable, Hashable, CustomStringConvertible {
    public var remaining: UInt16?
    public var completed: UInt16?
    public var failed: UInt16?
    public var warning: UInt16?

    public init(remaining: UInt16? = nil, completed: UInt16?, failed: UInt16?, warning: UInt16?) {
        self.remaining = remaining
        self.completed = completed
        self.failed = failed
        self.warning = warning
    }

    /// What a final response says when the SCP attempted no sub-operation (a refusal): 0 completed,
    /// 0 failed, 0 warning, and no Number of Remaining (PS3.4 C.4.2.1.6: final responses other than
    /// Cancel leave it out).
    public static let noneAttempted = SubOperationCounts(completed: 0, failed: 0, warning: 0)

    /// `1 completed, 0 failed, 0 warning` (`?` for a count left out; remaining only when present).
    public var description: String {
        func n(_ v: UInt16?) -> String { v.map(String.init) ?? "?" }
        return (remaining.map { "\($0) remaining, " } ?? "") + "\(n(completed)) completed, \(n(failed)) failed, \(n(warning)) warning"
    }
}

extension DIMSECommand {
    /// The sub-operation counts of a C-GET-RSP or C-MOVE-RSP; nil for other commands.
    public var subOperationCounts: SubOperationCounts? {
        switch self {
        case .cGetResponse(let r): return r.subOperationCounts
        case .cMoveResponse(let r): return r.subOperationCounts
        default: return nil
        }
    }
}

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
    var subOperationCounts: SubOperationCounts {
        SubOperationCounts(remaining: numberOfRemainingSuboperations, completed: numberOfCompletedSuboperations,
                           failed: numberOfFailedSuboperations, warning: numberOfWarningSuboperations)
    }

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
