import DICOMCore
import DIMSE

/// What an exchange's one-line summary says beyond its status (`analyze`'s exchange lines, the
/// proxy's log): the patient the request asks about, and a retrieval's destination and sub-operations.
extension Exchange {
    /// The patient a request is about, as the request says it.
    public enum RequestedPatient: Equatable, Sendable, CustomStringConvertible {
        /// The request's Patient ID key (as sent: it may hold wildcards, e.g. `12*`).
        case id(String)
        /// A query or retrieval without a Patient ID, or with universal matching (empty, `*`).
        case any

        public var description: String {
            switch self {
            case .id(let id): return "patient \(id)"
            case .any: return "any patient"
            }
        }
    }

    /// The patient the request is about, from the request's own identifier (never a response's):
    /// a C-FIND gives `.any` when the key is absent, empty or only `*`; a C-GET or C-MOVE `.any`
    /// only for such a key (a study-level retrieval without one names no patient: nil); a C-STORE
    /// its data set's Patient ID. nil for other services and when the identifier cannot be read.
    public var requestedPatient: RequestedPatient? {
        guard let service, [.cFind, .cGet, .cMove, .cStore].contains(service), let identifier = request.dataSet else {
            return nil
        }
        let element = identifier[Tag.patientID]
        let id = element?.string()?.trimmingTrailingSpaces ?? ""
        let universal = id.isEmpty || id.allSatisfy { $0 == "*" }
        switch service {
        case .cStore: return id.isEmpty ? nil : .id(id)
        case .cFind: return universal ? .any : .id(id)
        default: return element == nil ? nil : universal ? .any : .id(id)
        }
    }

    /// The Move Destination (0000,0600) of a C-MOVE request.
    public var moveDestination: String? {
        guard case .cMoveRequest(let rq) = request.command else { return nil }
        return rq.moveDestination.trimmingTrailingSpaces
    }

    /// A retrieval's sub-operation counts (C-GET, C-MOVE), as its final response gives them
    /// (else its latest response).
    public struct SubOperations: Equatable, Sendable {
        public var remaining: Int?
        public var completed: Int?
        public var failed: Int?
        public var warning: Int?

        /// `3 completed, 1 failed, 0 warning` (the counts the response has).
        public var description: String {
            [(completed, "completed"), (failed, "failed"), (warning, "warning"), (remaining, "remaining")]
                .compactMap { count, name in count.map { "\($0) \(name)" } }
                .joined(separator: ", ")
        }
    }

    public var subOperations: SubOperations? {
        guard let response = finalResponse ?? responses.last else { return nil }
        switch response.command {
        case .cGetResponse(let r):
            return SubOperations(remaining: r.numberOfRemainingSuboperations.map(Int.init),
                                 completed: r.numberOfCompletedSuboperations.map(Int.init),
                                 failed: r.numberOfFailedSuboperations.map(Int.init),
                                 warning: r.numberOfWarningSuboperations.map(Int.init))
        case .cMoveResponse(let r):
            return SubOperations(remaining: r.numberOfRemainingSuboperations.map(Int.init),
                                 completed: r.numberOfCompletedSuboperations.map(Int.init),
                                 failed: r.numberOfFailedSuboperations.map(Int.init),
                                 warning: r.numberOfWarningSuboperations.map(Int.init))
        default:
            return nil
        }
    }
}

private extension String {
    /// AE titles and LO values are padded with spaces to an even length.
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
