import DICOMCore

/// Error Comment (0000,0902) is LO: at most 64 characters.
public enum ErrorComment {
    public static let maximumLength = 64

    /// `comment` as sent: comments are written to fit; one longer (a long value from the request in
    /// it) is cut after a word and marked `...` (in the middle of a word only when its first 61
    /// characters have no space).
    public static func fitting(_ comment: String) -> String {
        guard comment.count > maximumLength else { return comment }
        let head = comment.prefix(maximumLength - 3)
        let cut = head.lastIndex(of: " ").map { head[..<$0] } ?? head
        return cut + "..."
    }
}

extension DIMSECommand {
    /// A response to `self` (a request) with `status` and no data set: what an SCP answers a request it
    /// cannot serve (0x0211 unrecognized operation, 0x0122 SOP class not supported, a replayed SCP's
    /// unmatched request...). Error Comment cut to 64 characters. A C-GET-RSP or C-MOVE-RSP carries
    /// `subOperations` (Number of Completed, Failed, Warning Sub-operations) when given. Nil for commands
    /// that are not requests.
    public func failureResponse(status: UInt16, comment: String? = nil, subOperations: SubOperationCounts? = nil) -> DIMSECommand? {
        guard let id = messageID else { return nil }
        let sop = sopClassUID
        let comment = comment.map(ErrorComment.fitting)
        switch self {
        case .cStoreRequest(let rq):
            return .cStoreResponse(CStoreResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop,
                                                  affectedSOPInstanceUID: rq.affectedSOPInstanceUID, errorComment: comment))
        case .cFindRequest:
            return .cFindResponse(CFindResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop,
                                                errorComment: comment))
        case .cGetRequest:
            return .cGetResponse(CGetResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop,
                                              remaining: subOperations?.remaining, completed: subOperations?.completed,
                                              failed: subOperations?.failed, warning: subOperations?.warning, errorComment: comment))
        case .cMoveRequest:
            return .cMoveResponse(CMoveResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop,
                                                remaining: subOperations?.remaining, completed: subOperations?.completed,
                                                failed: subOperations?.failed, warning: subOperations?.warning, errorComment: comment))
        case .cEchoRequest:
            return .cEchoResponse(CEchoResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .nEventReportRequest:
            return .nEventReportResponse(NEventReportResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .nGetRequest:
            return .nGetResponse(NGetResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop, hasDataSet: false))
        case .nSetRequest:
            return .nSetResponse(NSetResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .nActionRequest:
            return .nActionResponse(NActionResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .nCreateRequest:
            return .nCreateResponse(NCreateResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .nDeleteRequest:
            return .nDeleteResponse(NDeleteResponse(messageIDBeingRespondedTo: id, status: status, affectedSOPClassUID: sop))
        case .cStoreResponse, .cGetResponse, .cFindResponse, .cMoveResponse, .cEchoResponse, .cCancelRequest,
             .nEventReportResponse, .nGetResponse, .nSetResponse, .nActionResponse, .nCreateResponse, .nDeleteResponse,
             .unknown:
            return nil
        }
    }
}
