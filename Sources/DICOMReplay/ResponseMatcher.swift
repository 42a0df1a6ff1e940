import DICOMCore
import DICOMInspect
import DIMSE
import Foundation
import NIOCore

/// Which identifier elements decide that a new request is "the same" as a recorded one.
package struct MatchKeys: Sendable, Hashable, CustomStringConvertible {
    /// The tags compared; nil for the default: for C-STORE the SOP Instance UID, for other
    /// requests every top-level element that has a value in either identifier (the matching
    /// keys of a query; empty return keys do not count).
    package var tags: [Tag]?

    package init(tags: [Tag]? = nil) { self.tags = tags }

    /// Parses `--match` values: keywords or tags, comma separated or repeated
    /// (`PatientID,QueryRetrieveLevel`, `(0010,0020)`, `00100020`).
    package init(parsing values: [String]) throws(ReplayError) {
        var tags: [Tag] = []
        for value in values {
            for part in Self.split(value) where !part.isEmpty {
                guard let tag = Tag(parsing: part) else {
                    throw ReplayError(.invalidOption, "--match: '\(part)' is neither a data dictionary keyword nor a tag")
                }
                tags.append(tag)
            }
        }
        self.tags = tags.isEmpty ? nil : tags
    }

    /// Splits on commas outside parentheses, so `(0010,0020),PatientName` gives two keys.
    static func split(_ value: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for c in value where c != " " {
            switch c {
            case "(": depth += 1; current.append(c)
            case ")": depth -= 1; current.append(c)
            case "," where depth <= 0: parts.append(current); current = ""
            default: current.append(c)
            }
        }
        parts.append(current)
        return parts
    }

    package var description: String {
        guard let tags else { return "default (SOP class + non-empty identifier keys)" }
        return tags.map { DataDictionary.keyword(for: $0) ?? "\($0)" }.joined(separator: ",")
    }
}

/// Finds, for a request received by a replayed SCP, the recorded request it corresponds to:
/// same command, same SOP class, for a C-MOVE the same Move Destination (0000,0600), same
/// identifier keys (see `MatchKeys`). A pure value: the SCP keeps track of how often each
/// candidate list was used.
package struct ResponseMatcher: Sendable {
    /// A recorded request that can answer, with the association it comes from.
    package struct Candidate: Sendable {
        package var association: Int
        package var request: RecordedRequest
    }

    package let keys: MatchKeys
    let comparer = DatasetComparer()
    private var byService: [ServiceKey: [Candidate]] = [:]

    struct ServiceKey: Hashable, Sendable {
        var commandField: UInt16
        var sopClassUID: String
        /// A C-MOVE's Move Destination (leading and trailing spaces are not significant in an AE
        /// title); nil for other requests. A move to another AE is another request.
        var moveDestination: String?

        init(_ command: DIMSECommand) {
            commandField = command.rawCommandField
            sopClassUID = command.sopClassUID ?? ""
            if case .cMoveRequest(let move) = command {
                moveDestination = move.moveDestination.trimmingCharacters(in: .whitespaces)
            }
        }
    }

    package init(associations: [RecordedAssociation], keys: MatchKeys = MatchKeys()) {
        self.keys = keys
        for a in associations {
            for r in a.requestorRequests {
                byService[ServiceKey(r.message.command), default: []].append(Candidate(association: a.index, request: r))
            }
        }
    }

    /// The recorded requests matching a new one, in recorded order (empty when none).
    package func candidates(for command: DIMSECommand, identifier: Dataset?) -> [Candidate] {
        guard let list = byService[ServiceKey(command)] else { return [] }
        return list.filter { matches($0.request, command: command, identifier: identifier) }
    }

    /// The identifier keys of a request as text (`PatientID=1234567, QueryRetrieveLevel=PATIENT`), for findings;
    /// a C-MOVE's Move Destination first (`MoveDestination=STORESCP, PatientID=...`).
    package func describeKeys(command: DIMSECommand, identifier: Dataset?) -> String {
        let destination = ServiceKey(command).moveDestination.map { "MoveDestination=\($0)" }
        let tags = keyTags(command: command, recorded: nil, new: identifier)
        guard let identifier, !tags.isEmpty else { return destination.map { $0 + ", no identifier keys" } ?? "no identifier keys" }
        let cs = identifier.characterSet(inheriting: .default)
        return ([destination].compactMap { $0 } + tags.map { tag in
            let name = DataDictionary.keyword(for: tag) ?? "\(tag)"
            guard let e = identifier[tag] else { return name + " absent" }
            if case .sequence(let list) = e.value { return name + "=" + items(list.count) }
            return name + "=" + (e.strings(characterSet: cs).flatMap { if case .values(let v) = $0 { v.joined(separator: "\\") } else { nil } }
                ?? comparer.show(e, cs))
        }).joined(separator: ", ")
    }

    func matches(_ recorded: RecordedRequest, command: DIMSECommand, identifier: Dataset?) -> Bool {
        let tags = keyTags(command: command, recorded: recorded.message.dataSet, new: identifier)
        if tags.isEmpty { return true }
        return comparer.equal(restricted(recorded.message.dataSet, to: tags), restricted(identifier, to: tags))
    }

    private func keyTags(command: DIMSECommand, recorded: Dataset?, new: Dataset?) -> [Tag] {
        if let tags = keys.tags { return tags }
        if command.commandField == .cStoreRequest { return [Tag.sopInstanceUID] }
        var set = Set<Tag>()
        for ds in [recorded, new].compactMap({ $0 }) {
            for e in ds.elements where !e.tag.isGroupLength && e.tag != .specificCharacterSet && hasValue(e) {
                set.insert(e.tag)
            }
        }
        return set.sorted()
    }

    /// The data set with only `tags`; an element without a value counts as absent.
    private func restricted(_ ds: Dataset?, to tags: [Tag]) -> Dataset {
        var out = Dataset(encoding: ds?.encoding ?? .explicitLittleEndian)
        guard let ds else { return out }
        if let cs = ds[.specificCharacterSet] { out.set(cs) }
        for tag in tags {
            if let e = ds[tag], hasValue(e) { out.set(e) }
        }
        return out
    }

    private func hasValue(_ e: DataElement) -> Bool {
        switch e.value {
        case .bytes(let b): return b.readableBytesView.contains { $0 != 0x20 && $0 != 0x00 }
        case .fragments(let f): return !f.isEmpty
        case .bulk(let b): return b.length > 0
        case .sequence(let items): return items.contains { $0.dataset.elements.contains(where: hasValue) }
        }
    }
}

/// What a replayed SCP answers to a request that matches no recorded one.
package struct UnmatchedPolicy: Sendable, Hashable {
    /// The status to answer; nil for the default of the service.
    package var status: UInt16?
    package init(status: UInt16? = nil) { self.status = status }

    /// 0xC000 (Unable to process, PS3.4 C.4.1.1.4 and Annex Q) for the C- services and 0x0110
    /// (Processing failure, PS3.7 C.4.2) for the N- services.
    package func status(for field: CommandField?) -> UInt16 {
        if let status { return status }
        switch field?.service {
        case .nEventReport, .nGet, .nSet, .nAction, .nCreate, .nDelete: return StatusCode.processingFailure
        default: return StatusCode.unableToProcess
        }
    }
}

extension Finding.Code {
    /// A replayed SCP received a request that matches no recorded request.
    package static let unmatchedRequest = Finding.Code(rawValue: "unmatched-request")
    /// A replayed SCP matched a request whose recorded answer included sub-operations it cannot
    /// perform now: a C-GET whose recorded C-STOREs the SCU has no context for (0xA702), any C-MOVE
    /// (0xA801 when replay has no address for the Move Destination, else 0xA702). It answers the
    /// failure, with 0 sub-operations completed, instead of pretending.
    package static let subOperationsNotReplayed = Finding.Code(rawValue: "sub-operations-not-replayed")
}
