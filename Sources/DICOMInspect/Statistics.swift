import DIMSE

/// Totals over many associations: associations by outcome, exchanges by service and final
/// status, and response time per service (count, min, median, p95, max), the way Wireshark's
/// Service Response Time statistics present other protocols.
public struct AnalysisStatistics: Sendable {
    public private(set) var associationsByOutcome: [String: Int] = [:]
    /// Service -> final status ("0xC100", or "incomplete") -> number of exchanges.
    public var exchangesByServiceAndStatus: [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for (key, n) in exchangeCounts { out[key.service, default: [:]][key.statusText, default: 0] += n }
        return out
    }
    public private(set) var responseTimesMs: [String: [Double]] = [:]
    public private(set) var findingsByCode: [String: Int] = [:]
    /// Exchanges by service and final status code, counted without making the status text
    /// per exchange (`exchangesByServiceAndStatus` makes it once per pair).
    private var exchangeCounts: [ServiceStatus: Int] = [:]
    /// Meaning of each (service, status) as the service and SOP class define it: the one of the
    /// association added last in start order (`order`), whatever order the adds came in.
    private var meanings: [ServiceStatus: (order: Int, meaning: String)] = [:]
    public private(set) var associations = 0

    struct ServiceStatus: Hashable {
        var service: String
        /// The final status code; nil for an exchange without a final response.
        var code: UInt16?
        var statusText: String { code.map(DICOMInspect.statusText) ?? "incomplete" }
    }

    public init() {}

    /// Adds one exchange as it ends; `order` is its association's place in start order (the
    /// association index), so associations added from several threads total the same as in start order.
    public mutating func add(_ ex: Exchange, order: Int) {
        let service = ex.service?.rawValue ?? "unknown"
        let final = ex.finalResponse
        let key = ServiceStatus(service: service, code: final?.status?.code)
        exchangeCounts[key, default: 0] += 1
        if let status = final?.status, order >= meanings[key]?.order ?? Int.min {
            meanings[key] = (order, status.meaning)
        }
        if let final { responseTimesMs[service, default: []].append((final.time - ex.request.time).milliseconds) }
    }

    /// Adds an association that ended (its outcome and findings); its exchanges are added as they end.
    public mutating func add(associationOf observer: AssociationObserver) {
        associations += 1
        associationsByOutcome[outcomeName(observer.info.outcome), default: 0] += 1
        for f in observer.findings { findingsByCode[f.code.rawValue, default: 0] += 1 }
    }

    /// Adds the totals of `other` (one association's, made on another thread).
    public mutating func merge(_ other: AnalysisStatistics) {
        associations += other.associations
        for (k, n) in other.associationsByOutcome { associationsByOutcome[k, default: 0] += n }
        for (k, n) in other.exchangeCounts { exchangeCounts[k, default: 0] += n }
        for (k, m) in other.meanings where m.order >= meanings[k]?.order ?? Int.min { meanings[k] = m }
        for (k, times) in other.responseTimesMs { responseTimesMs[k, default: []] += times }
        for (k, n) in other.findingsByCode { findingsByCode[k, default: 0] += n }
    }

    /// Adds one association whose exchanges the observer kept (`keepsExchanges`).
    public mutating func add(_ observer: AssociationObserver, order: Int? = nil) {
        let order = order ?? associations + 1
        for ex in observer.exchanges { add(ex, order: order) }
        add(associationOf: observer)
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    public func renderText() -> String {
        var out = "Associations: \(associations)\n"
        for (outcome, n) in associationsByOutcome.sorted(by: { $0.key < $1.key }) {
            out += "  \(pad(outcome, 12)) \(n)\n"
        }
        out += "\nExchanges by service and final status:\n"
        var meaningByText: [String: String] = [:]
        for (key, meaning) in meanings { meaningByText[key.service + " " + key.statusText] = meaning.meaning }
        for (service, statuses) in exchangesByServiceAndStatus.sorted(by: { $0.key < $1.key }) {
            for (status, n) in statuses.sorted(by: { $0.key < $1.key }) {
                let meaning = meaningByText[service + " " + status] ?? ""
                out += "  \(pad(service, 15)) \(pad(status, 11)) \(pad(String(n), 6)) \(meaning)\n"
            }
        }
        out += "\nService response time (ms, request to final response):\n"
        out += "  \(pad("service", 15)) \(pad("count", 7)) \(pad("min", 10)) \(pad("median", 10)) \(pad("p95", 10)) max\n"
        for (service, times) in responseTimesMs.sorted(by: { $0.key < $1.key }) {
            let s = times.sorted()
            out += "  \(pad(service, 15)) \(pad(String(s.count), 7)) \(pad(ms(s.first ?? 0), 10)) "
                + "\(pad(ms(Self.percentile(s, 50)), 10)) \(pad(ms(Self.percentile(s, 95)), 10)) \(ms(s.last ?? 0))\n"
        }
        if !findingsByCode.isEmpty {
            out += "\nFindings:\n"
            for (code, n) in findingsByCode.sorted(by: { $0.key < $1.key }) { out += "  \(pad(code, 36)) \(n)\n" }
        }
        return out
    }

    func ms(_ v: Double) -> String {
        let r = (v * 1000).rounded() / 1000
        return String(r)
    }

    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
}
