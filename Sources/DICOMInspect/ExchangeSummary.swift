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
        let id = element?.string() ?? ""  // string() drops the padding
        let universal = id.isEmpty || id.allSatisfy { $0 == "*" }
        switch service {
        case .cStore: return id.isEmpty ? nil : .id(id)
        case .cFind: return universal ? .any : .id(id)
        default: return element == nil ? nil : universal ? .any : .id(id)
        }
    }

    /// The Move Destination (0000,0600) of a C-MOVE request (without its padding: DIMSE's reader trims it).
    public var moveDestination: String? {
        guard case .cMoveRequest(let rq) = request.command else { return nil }
        return rq.moveDestination
    }

    /// A retrieval's sub-operation counts (C-GET, C-MOVE), as its final response gives them
    /// (else its latest response); nil for other services.
    public var subOperations: SubOperationCounts? {
        (finalResponse ?? responses.last)?.command.subOperationCounts
    }
}
