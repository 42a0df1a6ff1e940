import DICOMCore
import DIMSE

/// The responses of an exchange, counted: every response adds to these as it comes, whether
/// the exchange keeps it or not (`Exchange.responses` holds at most the first
/// `maximumKeptResponses` and the latest), so the numbers an exchange reports stay exact.
public struct ResponseCounts: Sendable, Hashable {
    /// Responses received.
    public internal(set) var total = 0
    /// Pending responses (0xFF00, 0xFF01).
    public internal(set) var pending = 0
    /// Pending responses with a decodable identifier: the matches of a C-FIND.
    public internal(set) var matches = 0
    /// Responses that carry a data set (or announced one that was lost).
    public internal(set) var withDataSet = 0
    /// Responses by status class (`slot(_:)`); a response without a readable status is in none.
    private var categories: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)

    public init() {}

    /// Responses without a data set.
    public var withoutDataSet: Int { total - withDataSet }

    /// Responses of one status class.
    public func count(_ category: DIMSEStatus.Category) -> Int {
        switch category {
        case .success: categories.0
        case .pending: categories.1
        case .cancel: categories.2
        case .warning: categories.3
        case .failure: categories.4
        case .unknown: categories.5
        }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.total == b.total && a.pending == b.pending && a.matches == b.matches && a.withDataSet == b.withDataSet
            && DIMSEStatus.Category.allCases.allSatisfy { a.count($0) == b.count($0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(total)
        hasher.combine(pending)
        hasher.combine(matches)
        hasher.combine(withDataSet)
    }

    mutating func add(_ response: borrowing ObservedMessage) {
        total += 1
        if response.hasDataSet || response.dataSetLost { withDataSet += 1 }
        guard let category = response.status?.category else { return }
        // A counter per class, no array: this runs for every response the proxy relays.
        switch category {
        case .success: categories.0 += 1
        case .pending: categories.1 += 1
        case .cancel: categories.2 += 1
        case .warning: categories.3 += 1
        case .failure: categories.4 += 1
        case .unknown: categories.5 += 1
        }
        if category == .pending {
            pending += 1
            if response.hasDecodableDataSet { matches += 1 }
        }
    }
}

extension Exchange {
    public var finalResponse: ObservedMessage? {
        guard let last = responses.last, last.status?.category.isFinal ?? true else { return nil }
        return last
    }
    public var isComplete: Bool { finalResponse != nil }
    /// The pending responses kept (`responseCounts.pending` counts them all).
    public var pendingResponses: [ObservedMessage] { responses.filter { $0.status?.category == .pending } }
    /// Matches kept: pending responses with an identifier (a final response's data set is not a
    /// match, even when a peer sends one: see `Finding.Code.finalResponseWithDataSet`).
    /// `matchCount` counts them all.
    public var matches: [Dataset] { pendingResponses.compactMap(\.dataSet) }
    /// Whether the request or a kept response has a data set whose Patient ID (0010,0020) is
    /// `patientID` (the responses not kept were handed over as `.message` events as they came).
    public func mentions(patientID: String) -> Bool {
        if request.dataSet?[Tag.patientID]?.string() == patientID { return true }
        return responses.contains { $0.dataSet?[Tag.patientID]?.string() == patientID }
    }
    /// Matches returned, kept or not: pending responses with a decodable identifier.
    public var matchCount: Int { responseCounts.matches }

    public var firstResponseTime: Timestamp? { responses.first?.time }
    public var finalResponseTime: Timestamp? { finalResponse?.time }
    /// Request (last fragment) to final response.
    public var duration: Duration? { finalResponseTime.map { $0 - request.time } }
    public var timeToFirstResponse: Duration? { firstResponseTime.map { $0 - request.time } }

    /// Responses received, kept or not.
    public var responseCount: Int { responseCounts.total }

    /// Responses counted but not kept: they came between `responses[responses.count - 2]` and
    /// the latest, `responses.last` (`--max-kept-responses`).
    public var responsesNotKept: Int { responseCounts.total - responses.count }

    /// Where the responses not kept came: before `responses[notKeptPosition]` (nil when all are kept).
    public var notKeptPosition: Int? { responsesNotKept > 0 ? responses.count - 1 : nil }

    /// Counts a response and keeps it when it is among the first `limit` or is the latest (the
    /// latest replaces the one before it past `limit`).
    mutating func add(_ response: consuming ObservedMessage, keeping limit: Int) {
        responseCounts.add(response)
        if responses.count <= limit {
            responses.append(response)
        } else {
            responses[responses.count - 1] = response
        }
    }

    /// What the exchange holds in memory: messages kept (request, responses, cancel) and their
    /// command and data set bytes (for tests of the bound).
    package var retained: (messages: Int, bytes: Int) {
        var bytes = request.commandBytes.readableBytes + (request.dataSetBytes?.readableBytes ?? 0)
        for r in responses { bytes += r.commandBytes.readableBytes + (r.dataSetBytes?.readableBytes ?? 0) }
        if let cancel { bytes += cancel.commandBytes.readableBytes }
        return (1 + responses.count + (cancel == nil ? 0 : 1), bytes)
    }
}
