import DICOMCore
import DIMSE

/// What one association says about retrievals, small enough to keep for every association of a
/// capture: its C-MOVE and C-GET requests (with their outcome), and its C-STORE-RQs grouped by
/// Move Originator Application Entity Title and Message ID (0000,1030/1031), PS3.7 Table 9.3-1.
/// `RetrievalLinker` joins them across associations at the end.
public struct RetrievalSummary: Sendable {
    public struct Request: Sendable {
        public var association: Int
        public var exchange: Int
        public var service: DIMSEService
        public var messageID: UInt16
        public var requestTime: Timestamp
        public var finalTime: Timestamp?
        public var finalStatus: DIMSEStatus?
        public var subOperations: SubOperationCounts?
        /// Move Destination (0000,0600) of a C-MOVE.
        public var destination: String?
        /// The requesting association's calling and called AE titles (set by `finish`).
        public var originator = ""
        public var scp = ""
        /// C-GET: the C-STORE-RQs (without Move Originator fields) of its own association between the
        /// request and the final response, and how many of them failed.
        public var ownStores = 0
        public var ownFailed = 0
    }

    /// C-STORE-RQs of one association that name the same C-MOVE as their originator.
    public struct Carried: Sendable {
        public var originator: String
        public var messageID: UInt16
        public var stores = 0
        public var failed = 0
        public var first: Timestamp
        public var last: Timestamp
    }

    public var association: Int
    public var callingAETitle = ""
    public var calledAETitle = ""
    public var start = Timestamp(nanoseconds: 0)
    public var end = Timestamp(nanoseconds: 0)
    public private(set) var requests: [Request] = []
    public private(set) var carried: [Carried] = []
    /// C-STORE-RQs without Move Originator fields (linked by AE titles and timing only).
    public private(set) var plainStores = 0
    /// Requests and originator groups past the bound, counted only.
    public private(set) var dropped = 0
    /// Whether the association is in the output (a filter may leave it out; its links still count).
    public var shown = true
    static let maximumEntries = 1000

    /// C-STORE-RQs without originator fields that no C-GET of this association has claimed yet: their
    /// times, at most `maximumEntries`; older ones fold into `unclaimedRun` (first, last, count, failed).
    /// Emptied by `finish`: what is kept of an ended association stays small.
    private var unclaimed: [(time: Timestamp, failed: Bool)] = []
    private var unclaimedRun: (first: Timestamp, last: Timestamp, count: Int, failed: Int)?

    public init(association: Int) { self.association = association }

    public var isEmpty: Bool { requests.isEmpty && carried.isEmpty && plainStores == 0 }

    public mutating func add(_ ex: Exchange) {
        switch ex.request.command {
        case .cMoveRequest, .cGetRequest:
            guard requests.count < Self.maximumEntries else { dropped += 1; return }
            let final = ex.finalResponse
            var request = Request(association: association, exchange: ex.index, service: ex.service ?? .cMove,
                                  messageID: ex.messageID, requestTime: ex.request.time, finalTime: final?.time,
                                  finalStatus: final?.status, subOperations: ex.subOperations,
                                  destination: ex.moveDestination)
            if request.service == .cGet { claimStores(for: &request) }
            requests.append(request)
        case .cStoreRequest(let rq):
            let failed = (ex.finalResponse?.status?.category ?? .failure) == .failure ? 1 : 0
            guard let ae = rq.moveOriginatorApplicationEntityTitle, let id = rq.moveOriginatorMessageID else {
                plainStores += 1
                keepUnclaimed(ex.request.time, failed: failed == 1)
                return
            }
            if let i = carried.lastIndex(where: { $0.originator == ae && $0.messageID == id }) {
                carried[i].stores += 1
                carried[i].failed += failed
                carried[i].first = min(carried[i].first, ex.request.time)
                carried[i].last = max(carried[i].last, ex.request.time)
            } else if carried.count < Self.maximumEntries {
                carried.append(Carried(originator: ae, messageID: id, stores: 1, failed: failed,
                                       first: ex.request.time, last: ex.request.time))
            } else {
                dropped += 1
            }
        default:
            return
        }
    }

    private mutating func keepUnclaimed(_ time: Timestamp, failed: Bool) {
        if unclaimed.count >= Self.maximumEntries {
            // The older half into the run at once (amortised: not one shift per store).
            let older = unclaimed.prefix(Self.maximumEntries / 2)
            var run = unclaimedRun ?? (older[0].time, older[0].time, 0, 0)
            for store in older {
                run.first = min(run.first, store.time)
                run.last = max(run.last, store.time)
                run.count += 1
                run.failed += store.failed ? 1 : 0
            }
            unclaimedRun = run
            unclaimed.removeFirst(older.count)
        }
        unclaimed.append((time, failed))
    }

    /// A C-GET's sub-operations: the unclaimed C-STORE-RQs of this association sent between its request and
    /// its final response (one clock: no slack), claimed so that a later C-GET does not count them again.
    /// Its C-STOREs ended before it did (the SCP sends the final C-GET-RSP after their C-STORE-RSPs).
    private mutating func claimStores(for request: inout Request) {
        func inside(_ t: Timestamp) -> Bool {
            t >= request.requestTime && (request.finalTime.map { t <= $0 } ?? true)
        }
        if let run = unclaimedRun, inside(run.first), inside(run.last) {
            request.ownStores += run.count
            request.ownFailed += run.failed
            unclaimedRun = nil
        }
        unclaimed.removeAll { store in
            guard inside(store.time) else { return false }
            request.ownStores += 1
            request.ownFailed += store.failed ? 1 : 0
            return true
        }
    }

    /// The association's AE titles and span, once it ended.
    public mutating func finish(calling: String?, called: String?, start: Timestamp, end: Timestamp) {
        callingAETitle = calling ?? ""
        calledAETitle = called ?? ""
        self.start = start
        self.end = end
        unclaimed = []
        unclaimedRun = nil
        for i in requests.indices {
            requests[i].originator = callingAETitle
            requests[i].scp = calledAETitle
        }
    }
}

/// A C-MOVE or C-GET and the association(s) its C-STORE sub-operations travelled on.
public struct RetrievalLink: Sendable {
    public enum Evidence: String, Sendable {
        /// The C-STORE-RQs name the C-MOVE (Move Originator AE Title and Message ID).
        case moveOriginator = "move-originator"
        /// An association from the SCP to the Move Destination during the C-MOVE, its C-STORE-RQs without originator fields.
        case timing = "ae-titles-and-timing"
        /// C-GET: the sub-operations travel on the C-GET's own association.
        case sameAssociation = "same-association"
    }

    public struct Carrier: Sendable {
        public var association: Int
        public var stores: Int
        public var failed: Int
        public var evidence: Evidence
    }

    public var request: RetrievalSummary.Request
    public var carriers: [Carrier]
    /// What a reader should take from it, in words.
    public var verdict: String
    public var isLinked: Bool { !carriers.isEmpty }
    /// A C-MOVE refused with 0xA801 (Move Destination unknown) and no association to the destination seen.
    public var destinationUnknown: Bool { request.finalStatus?.code == Self.moveDestinationUnknown && carriers.isEmpty }
    public static let moveDestinationUnknown: UInt16 = 0xA801
}

/// Joins retrieval requests to the associations that carried their sub-operations: a pass over
/// the small `RetrievalSummary` of each association, never over the associations themselves.
public enum RetrievalLinker {
    /// How far before the request or after the final response a sub-operation may be seen
    /// (capture clocks of two interfaces, a final response sent before the last store's answer).
    static let slack = Duration.seconds(2)

    /// A request by its association and exchange.
    struct Key: Hashable {
        var association: Int
        var exchange: Int
        init(_ rq: RetrievalSummary.Request) { (association, exchange) = (rq.association, rq.exchange) }
    }

    public static func link(_ summaries: [RetrievalSummary]) -> [RetrievalLink] {
        let all = summaries.sorted { $0.association < $1.association }
        let carriers = assign(all)
        var links: [RetrievalLink] = []
        for s in all {
            for rq in s.requests {
                links.append(link(rq, carriers: carriers[Key(rq)] ?? [], own: s))
            }
        }
        return links
    }

    /// Each association's sub-operations go to one C-MOVE: the C-STORE-RQs that name a C-MOVE (Move Originator
    /// AE Title and Message ID) to the best of the C-MOVEs with that title and ID in time (movescu numbers every
    /// association's first C-MOVE 1, so one SCU's C-MOVEs a second apart share them); then associations of
    /// C-STOREs without those fields to the best C-MOVE to their called AE title in time, among those still
    /// unlinked. Best: to the sub-association's called AE title, started before the stores, closest in time.
    static func assign(_ all: [RetrievalSummary]) -> [Key: [RetrievalLink.Carrier]] {
        var byOriginator: [String: [RetrievalSummary.Request]] = [:]
        var moves: [RetrievalSummary.Request] = []
        for s in all {
            for rq in s.requests where rq.service == .cMove {
                byOriginator["\(rq.originator.trimmingSpaces)\u{0}\(rq.messageID)", default: []].append(rq)
                moves.append(rq)
            }
        }
        var out: [Key: [RetrievalLink.Carrier]] = [:]
        for s in all {
            for c in s.carried {
                let candidates = (byOriginator["\(c.originator.trimmingSpaces)\u{0}\(c.messageID)"] ?? [])
                    .filter { $0.association != s.association && within(c.first, $0) }
                guard let best = candidates.min(by: { rank($0, at: c.first, to: s) < rank($1, at: c.first, to: s) }) else { continue }
                out[Key(best), default: []].append(.init(association: s.association, stores: c.stores, failed: c.failed,
                                                         evidence: .moveOriginator))
            }
        }
        for s in all where s.plainStores > 0 {
            let candidates = moves.filter { rq in
                out[Key(rq)] == nil && rq.association != s.association && sameAE(rq.destination, s.calledAETitle) && within(s.start, rq)
            }
            guard let best = candidates.min(by: { rank($0, at: s.start, to: s) < rank($1, at: s.start, to: s) }) else { continue }
            out[Key(best), default: []].append(.init(association: s.association, stores: s.plainStores, failed: 0, evidence: .timing))
        }
        return out
    }

    /// Lower is better: a C-MOVE to the carrier's called AE title, started before `time`, closest to it.
    static func rank(_ rq: RetrievalSummary.Request, at time: Timestamp, to carrier: RetrievalSummary) -> (Int, Int, Int64) {
        let gap = time.nanoseconds - rq.requestTime.nanoseconds
        return (sameAE(rq.destination, carrier.calledAETitle) ? 0 : 1, gap >= 0 ? 0 : 1, Int64(clamping: gap.magnitude))
    }

    static func within(_ t: Timestamp, _ rq: RetrievalSummary.Request) -> Bool {
        guard t - rq.requestTime >= .zero - slack else { return false }
        guard let end = rq.finalTime else { return true }
        return t - end <= slack
    }

    static func sameAE(_ a: String?, _ b: String) -> Bool {
        guard let a else { return false }
        return a.trimmingSpaces == b.trimmingSpaces
    }

    static func link(_ rq: RetrievalSummary.Request, carriers assigned: [RetrievalLink.Carrier], own: RetrievalSummary) -> RetrievalLink {
        var carriers: [RetrievalLink.Carrier] = []
        if rq.service == .cGet {
            let n = rq.ownStores
            if n > 0 { carriers.append(.init(association: own.association, stores: n, failed: rq.ownFailed, evidence: .sameAssociation)) }
            let verdict = n > 0 ? "sub-operations on the same association (C-STORE-RQs from the SCP during the C-GET)"
                : "no C-STORE sub-operation seen on its association during the C-GET"
            return RetrievalLink(request: rq, carriers: carriers, verdict: verdict)
        }
        carriers = assigned
        let destination = rq.destination ?? "(no destination)"
        let verdict: String
        if !carriers.isEmpty {
            let list = carriers.map { "association \($0.association) (\($0.stores) C-STORE\($0.stores == 1 ? "" : "s"))" }
            verdict = "sub-operations to \(destination) on " + list.joined(separator: ", ")
                + (carriers.allSatisfy { $0.evidence == .moveOriginator } ? "" : ", matched by AE titles and timing")
        } else if rq.finalStatus?.code == RetrievalLink.moveDestinationUnknown {
            verdict = "refused, Move Destination unknown (0xA801): no association to \(destination) was seen; "
                + "the SCP does not know this AE title (configure it there, with host and port)"
        } else if (rq.subOperations?.completed ?? 0) > 0 || (rq.subOperations?.failed ?? 0) > 0 {
            verdict = "no association to \(destination) was seen in the capture (its sub-operations went elsewhere or were not captured)"
        } else {
            verdict = "no association to \(destination) was seen"
        }
        return RetrievalLink(request: rq, carriers: carriers, verdict: verdict)
    }

    /// `--summary`'s lines: counts of C-MOVEs linked, refused for an unknown destination, not linked; C-GETs.
    public static func summaryText(_ links: [RetrievalLink]) -> String {
        guard !links.isEmpty else { return "" }
        let moves = links.filter { $0.request.service == .cMove }
        let gets = links.filter { $0.request.service == .cGet }
        var out = "\nRetrievals across associations:\n"
        if !moves.isEmpty {
            let linked = moves.filter(\.isLinked).count
            let unknown = moves.filter(\.destinationUnknown).count
            out += "  C-MOVE          \(moves.count)   linked to their sub-operations' association \(linked), "
                + "refused 0xA801 with no association to the destination \(unknown), "
                + "not linked otherwise \(moves.count - linked - unknown)\n"
        }
        if !gets.isEmpty {
            out += "  C-GET           \(gets.count)   with sub-operations on their own association \(gets.filter(\.isLinked).count)\n"
        }
        return out
    }

    /// The text dump's closing section: one line per retrieval.
    public static func text(_ links: [RetrievalLink]) -> String {
        guard !links.isEmpty else { return "" }
        var out = "=== Retrievals across associations\n"
        for l in links {
            let rq = l.request
            let status = rq.finalStatus.map { statusText($0.code) } ?? "no final response"
            out += "  association \(rq.association) \(rq.service.rawValue) msg \(rq.messageID) \"\(rq.originator)\" -> \"\(rq.scp)\""
                + (rq.destination.map { " to \"\($0)\"" } ?? "") + ", \(status): \(l.verdict)\n"
        }
        return out + "\n"
    }
}

extension String {
    /// Without leading and trailing spaces (AE titles are space-padded on the wire).
    fileprivate var trimmingSpaces: Substring {
        guard let first = firstIndex(where: { $0 != " " }), let last = lastIndex(where: { $0 != " " }) else { return "" }
        return self[first...last]
    }
}
