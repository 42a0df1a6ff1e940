import DICOMCore
import DIMSE

/// Rewriting recorded commands for a new association: only the fields a replay must change
/// (Message ID, Message ID Being Responded To); every other element of the recorded
/// command set is kept as it was (see `DIMSEMessage.commandSet`).
extension DIMSECommand {
    /// The request with Message ID (0000,0110) set to `id`; nil for a command that is not a request.
    package func renumbered(messageID id: UInt16) -> DIMSECommand? {
        func set<M: DIMSERequest>(_ m: M) -> M {
            var m = m
            m.messageID = id
            return m
        }
        switch self {
        case .cStoreRequest(let m): return .cStoreRequest(set(m))
        case .cGetRequest(let m): return .cGetRequest(set(m))
        case .cFindRequest(let m): return .cFindRequest(set(m))
        case .cMoveRequest(let m): return .cMoveRequest(set(m))
        case .cEchoRequest(let m): return .cEchoRequest(set(m))
        case .nEventReportRequest(let m): return .nEventReportRequest(set(m))
        case .nGetRequest(let m): return .nGetRequest(set(m))
        case .nSetRequest(let m): return .nSetRequest(set(m))
        case .nActionRequest(let m): return .nActionRequest(set(m))
        case .nCreateRequest(let m): return .nCreateRequest(set(m))
        case .nDeleteRequest(let m): return .nDeleteRequest(set(m))
        case .cStoreResponse, .cGetResponse, .cFindResponse, .cMoveResponse, .cEchoResponse, .cCancelRequest,
             .nEventReportResponse, .nGetResponse, .nSetResponse, .nActionResponse, .nCreateResponse, .nDeleteResponse,
             .unknown:
            return nil
        }
    }

    /// The response (or C-CANCEL-RQ) with Message ID Being Responded To (0000,0120) set to
    /// `id`; nil for a command that has none.
    package func responding(to id: UInt16) -> DIMSECommand? {
        func set<M: DIMSEResponse>(_ m: M) -> M {
            var m = m
            m.messageIDBeingRespondedTo = id
            return m
        }
        switch self {
        case .cCancelRequest(var m):
            m.messageIDBeingRespondedTo = id
            return .cCancelRequest(m)
        case .cStoreResponse(let m): return .cStoreResponse(set(m))
        case .cGetResponse(let m): return .cGetResponse(set(m))
        case .cFindResponse(let m): return .cFindResponse(set(m))
        case .cMoveResponse(let m): return .cMoveResponse(set(m))
        case .cEchoResponse(let m): return .cEchoResponse(set(m))
        case .nEventReportResponse(let m): return .nEventReportResponse(set(m))
        case .nGetResponse(let m): return .nGetResponse(set(m))
        case .nSetResponse(let m): return .nSetResponse(set(m))
        case .nActionResponse(let m): return .nActionResponse(set(m))
        case .nCreateResponse(let m): return .nCreateResponse(set(m))
        case .nDeleteResponse(let m): return .nDeleteResponse(set(m))
        case .cStoreRequest, .cGetRequest, .cFindRequest, .cMoveRequest, .cEchoRequest, .nEventReportRequest,
             .nGetRequest, .nSetRequest, .nActionRequest, .nCreateRequest, .nDeleteRequest, .unknown:
            return nil
        }
    }

    /// A C-STORE-RSP echoing `request`'s Affected SOP Instance UID (a recorded response
    /// answering a new request for another instance must name the new one).
    func echoingInstance(of request: DIMSECommand) -> DIMSECommand {
        guard case .cStoreResponse(var rsp) = self, case .cStoreRequest(let rq) = request else { return self }
        rsp.affectedSOPInstanceUID = rq.affectedSOPInstanceUID
        return .cStoreResponse(rsp)
    }
}
