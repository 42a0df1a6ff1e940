import CoreMetrics
import DICOMInspect
import DICOMUL
import DIMSE
import Prometheus

/// What `proxy` and `serve` count, for `--metrics-listen`: associations by outcome, DIMSE exchanges by service and
/// final status class, a latency histogram per service, bytes per direction, findings by code, upstream failures,
/// rewrites and the mapping store's size. Recorded through swift-metrics into this instance's own Prometheus
/// registry (no global bootstrap: several servers in one process, as in the tests, keep their own figures).
///
/// Label values come from closed sets only (service names, status classes, finding codes, PS3.8 reject and abort
/// codes, directions): never a patient ID or a free AE title, so the number of series stays bounded.
public final class DICOMMetrics: Sendable {
    /// Metric names, one place (the README's operations section lists them).
    public enum Name {
        public static let associationsAccepted = "dicomtap_associations_accepted_total"
        public static let associationsRejected = "dicomtap_associations_rejected_total"
        public static let associationsAborted = "dicomtap_associations_aborted_total"
        public static let associationsRefused = "dicomtap_associations_refused_total"
        public static let associationsActive = "dicomtap_associations_active"
        public static let exchanges = "dicomtap_dimse_exchanges_total"
        public static let latency = "dicomtap_dimse_latency_seconds"
        public static let bytes = "dicomtap_pdu_bytes_total"
        public static let findings = "dicomtap_findings_total"
        public static let upstreamFailures = "dicomtap_upstream_connect_failures_total"
        public static let rewrites = "dicomtap_rewritten_values_total"
        public static let mappingStoreRecords = "dicomtap_mapping_store_records"
    }

    /// Why an association was refused by us before any peer saw it.
    public enum Refusal: String, Sendable, CaseIterable {
        case notAllowed = "not-allowed"
        case noRoute = "no-route"
        case limit = "limit"
        case upstreamUnreachable = "upstream-unreachable"
        case idle = "idle"
        /// With rewriting on, a peer's maximum PDU length below the proxy's `--min-max-pdu`.
        case maximumPDULengthTooSmall = "max-pdu-too-small"
    }

    /// Why a connection to the upstream SCP failed.
    public enum UpstreamFailure: String, Sendable, CaseIterable {
        case refused, timeout, other
    }

    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let active: Meter
    private let mappingStore: Meter
    /// Counted per PDU: made once, not looked up in the registry for every PDU.
    private let bytesFromRequestor: CoreMetrics.Counter
    private let bytesFromAcceptor: CoreMetrics.Counter
    private let accepted: CoreMetrics.Counter

    /// Latency buckets from 1 ms (a loopback C-ECHO) to 5 minutes (a large C-MOVE).
    public static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [Name.latency: Self.latencyBuckets]
        self.registry = registry
        self.factory = factory
        active = Meter(label: Name.associationsActive, dimensions: [], factory: factory)
        mappingStore = Meter(label: Name.mappingStoreRecords, dimensions: [], factory: factory)
        bytesFromRequestor = CoreMetrics.Counter(label: Name.bytes, dimensions: [("from", PeerRole.requestor.rawValue)], factory: factory)
        bytesFromAcceptor = CoreMetrics.Counter(label: Name.bytes, dimensions: [("from", PeerRole.acceptor.rawValue)], factory: factory)
        accepted = CoreMetrics.Counter(label: Name.associationsAccepted, dimensions: [], factory: factory)
        active.set(0)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    // MARK: Associations

    /// A connection became an association in progress (counted in `dicomtap_associations_active` until it ends).
    public func associationStarted() { active.increment(by: 1) }
    public func associationEnded() { active.decrement(by: 1) }

    /// We refused an association ourselves (allow-list, route, limits), whatever PDU carried the refusal.
    public func refused(_ reason: Refusal) {
        counter(Name.associationsRefused, [("reason", reason.rawValue)]).increment()
    }

    public func upstreamFailed(_ failure: UpstreamFailure) {
        counter(Name.upstreamFailures, [("reason", failure.rawValue)]).increment()
    }

    /// Values replaced by the rewriter (pseudonymization), per message.
    public func rewrote(_ count: Int) {
        guard count > 0 else { return }
        counter(Name.rewrites, []).increment(by: Int64(count))
    }

    public func mappingStoreSize(_ records: Int) { mappingStore.set(records) }

    // MARK: What the observer saw

    /// An A-ASSOCIATE-RJ, by its numbers (the SCP's, through `pdu`, or the proxy's own).
    public func rejected(_ rj: AssociateReject) {
        counter(Name.associationsRejected, [
            ("result", String(rj.result.rawValue)), ("source", String(rj.source.rawValue)), ("reason", String(rj.reason)),
        ]).increment()
    }

    /// Counts one PDU as it went over the wire: its bytes, and the negotiation's outcome it carries. Called where
    /// the PDU is at hand (the relay, the server's tap), so the observer need not emit PDU events for it.
    public func pdu(_ pdu: PDU, sender: PeerRole, length: Int) {
        (sender == .requestor ? bytesFromRequestor : bytesFromAcceptor).increment(by: Int64(length))
        switch pdu {
        case .associateAccept:
            accepted.increment()
        case .associateReject(let rj):
            rejected(rj)
        case .abort(let abort):
            counter(Name.associationsAborted, [("source", Self.abortSource(abort.source.rawValue))]).increment()
        default:
            break
        }
    }

    /// Counts what the observer concluded: each exchange that ended (service, final status class, latency) and
    /// each finding. PDU events are left to `pdu(_:sender:length:)`.
    public func record(_ event: ObservationEvent) {
        switch event {
        case .pdu, .message:
            break
        case .exchangeEnded(let exchange):
            let service = exchange.service?.rawValue ?? "unknown"
            let status = exchange.finalResponse?.status?.category.rawValue ?? "none"
            counter(Name.exchanges, [("service", service), ("status", status)]).increment()
            if let duration = exchange.duration {
                let (seconds, attoseconds) = duration.components
                CoreMetrics.Timer(label: Name.latency, dimensions: [("service", service)], factory: factory)
                    .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            }
        case .finding(let finding):
            counter(Name.findings, [("code", finding.code.rawValue)]).increment()
        }
    }

    private func counter(_ name: String, _ labels: [(String, String)]) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
    }

    /// PS3.8 Table 9-26: 0 service user, 2 service provider.
    static func abortSource(_ source: UInt8) -> String {
        switch source {
        case 0: return "service-user"
        case 2: return "service-provider"
        default: return "reserved"
        }
    }
}
