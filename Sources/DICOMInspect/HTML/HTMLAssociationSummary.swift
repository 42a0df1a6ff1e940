import DICOMCore
import DICOMUL
import DIMSE

/// What the HTML report keeps of one association while its events come: small rows, never the
/// messages. Each ended exchange becomes a row (its arrows: the request, the responses with a run
/// of pending ones as one arrow, the cancel); runs of alike exchanges (same service, sender and
/// final status: a study's 2,000 C-STOREs) become one band with counts and a latency sparkline;
/// past `maximumRows` every further exchange joins one band. So memory is bounded by the
/// association's variety, not its length.
public struct HTMLAssociationSummary: Sendable {
    /// What an arrow of the ladder stands for (its colour class and its words).
    public enum ArrowKind: String, Sendable {
        case association, reject, abort, release, request, cancel
        case success, pending, warning, failure, unknown
        case stray

        init(_ category: DIMSEStatus.Category?) {
            switch category {
            case .success?: self = .success
            case .pending?: self = .pending
            case .cancel?: self = .cancel
            case .warning?: self = .warning
            case .failure?: self = .failure
            case .unknown?, nil: self = .unknown
            }
        }
    }

    /// One arrow (or a run of alike arrows, `count` of them).
    public struct Arrow: Sendable {
        public var time: Timestamp
        public var sender: PeerRole
        public var kind: ArrowKind
        public var label: String
        /// Written beside the arrow (status meaning, latency).
        public var note: String?
        public var count = 1
        /// A DIMSE message (else a PDU of the association: A-ASSOCIATE, A-RELEASE, A-ABORT).
        public var isMessage: Bool
    }

    /// One exchange, as its table row and ladder arrows show it.
    public struct ExchangeRow: Sendable {
        public var index: Int
        public var service: String
        public var messageID: UInt16
        public var sopClass: String?
        public var sender: PeerRole
        public var requestTime: Timestamp
        public var arrows: [Arrow]
        public var finalStatus: DIMSEStatus?
        public var errorComment: String?
        public var patient: String?
        /// The request identifier's Patient's Name (0010,0010), when not empty.
        public var patientName: String?
        public var matches: Int?
        public var subOperations: SubOperationCounts?
        public var moveDestination: String?
        /// A C-STORE sub-operation of a C-MOVE: Move Originator AE Title and Message ID (0000,1030/1031).
        public var moveOriginator: (ae: String, messageID: UInt16)?
        public var cancelled: Bool
        public var latency: Duration?
        public var messages: Int
    }

    /// A run of alike exchanges, collapsed.
    public struct Band: Sendable {
        public var service: String
        public var sender: PeerRole
        public var finalStatus: DIMSEStatus?
        /// The rows past `maximumRows`, of any service.
        public var isMixed = false
        /// The exchanges are cancelled ones.
        public var cancelled = false
        public var count = 0
        public var messages = 0
        public var firstMessageID: UInt16
        public var lastMessageID: UInt16
        public var start: Timestamp
        public var end: Timestamp
        public var patients: [String] = []
        public var morePatients = false
        public var latencies = LatencySamples()
        public var matches = 0
    }

    public enum Row: Sendable {
        case exchange(ExchangeRow)
        case band(Band)

        public var time: Timestamp {
            switch self {
            case .exchange(let r): return r.requestTime
            case .band(let b): return b.start
            }
        }
    }

    /// A finding where it happened (for the ladder).
    public struct Marker: Sendable {
        public var time: Timestamp
        public var severity: Finding.Severity
        public var code: String
        public var message: String
    }

    /// Exchanges shown as their own rows before every further one joins one band.
    public var maximumRows = 500
    /// A run of alike exchanges longer than this is collapsed into a band.
    public var collapseAfter = 3
    public var maximumMarkers = 60
    public var maximumStrayArrows = 60
    /// A-ASSOCIATE, A-RELEASE and A-ABORT arrows kept (a hostile peer could send many).
    public var maximumPDUArrows = 60
    /// No Patient ID or Patient's Name is kept (`(redacted)`), and values that findings and Error
    /// Comments quote ('...') are not kept either: the proxy's `--redact-identifiers`.
    public var redactsIdentifiers = false

    public private(set) var pduArrows: [Arrow] = []
    public private(set) var rows: [Row] = []
    public private(set) var markers: [Marker] = []
    public private(set) var strayArrows: [Arrow] = []
    /// DIMSE messages seen in exchanges (each arrow's `count` adds up to this).
    public private(set) var exchangeMessages = 0
    public private(set) var exchangeCount = 0
    public private(set) var patients: [String] = []
    public private(set) var services: [String] = []

    public init() {}

    public mutating func observe(_ event: ObservationEvent) {
        switch event {
        case .pdu(let pdu, let sender, let time, _, _):
            guard let arrow = Self.arrow(for: pdu, sender: sender, time: time),
                  pduArrows.count < maximumPDUArrows else { return }
            pduArrows.append(arrow)
        case .message(let m, let exchangeIndex):
            guard exchangeIndex == nil, strayArrows.count < maximumStrayArrows else { return }
            strayArrows.append(Arrow(time: m.time, sender: m.sender, kind: .stray,
                                     label: m.command.commandField?.description ?? "unknown command",
                                     note: "not part of a known exchange", isMessage: true))
        case .exchangeEnded(let ex):
            add(ex)
        case .finding(let f):
            guard let time = f.time, markers.count < maximumMarkers else { return }
            markers.append(Marker(time: time, severity: f.severity, code: f.code.rawValue,
                                  message: redactsIdentifiers ? redactingQuotedValues(f.message) : f.message))
        }
    }

    static func arrow(for pdu: PDU, sender: PeerRole, time: Timestamp) -> Arrow? {
        func a(_ kind: ArrowKind, _ label: String, _ note: String? = nil) -> Arrow {
            Arrow(time: time, sender: sender, kind: kind, label: label, note: note, isMessage: false)
        }
        switch pdu {
        case .associateRequest: return a(.association, "A-ASSOCIATE-RQ")
        case .associateAccept: return a(.association, "A-ASSOCIATE-AC", "accepted")
        case .associateReject(let rj): return a(.reject, "A-ASSOCIATE-RJ", "rejected: \(rj.reasonDescription)")
        case .releaseRequest: return a(.release, "A-RELEASE-RQ")
        case .releaseResponse: return a(.release, "A-RELEASE-RP")
        case .abort(let ab): return a(.abort, "A-ABORT", ab.description)
        case .dataTransfer: return nil
        }
    }

    mutating func add(_ ex: Exchange) {
        exchangeCount += 1
        var row = Self.row(ex)
        if redactsIdentifiers {
            if row.patient != nil && row.patient != "any patient" { row.patient = "(redacted)" }
            row.patientName = nil
            // Free text an SCP wrote (it may name the patient): said to be there, not shown.
            row.errorComment = row.errorComment.map { _ in "(redacted)" }
        }
        exchangeMessages += row.messages
        let service = row.service
        if !services.contains(service) { services.append(service) }
        if let p = row.patient, !patients.contains(p), patients.count < 20 { patients.append(p) }

        // Rows and bands alike count: runs of a few alike exchanges would otherwise make bands without end.
        if rows.count >= maximumRows {
            if case .band(var band) = rows.last, band.isMixed {
                rows.removeLast()
                band.add(row)
                rows.append(.band(band))
            } else {
                var band = Band(row)
                band.isMixed = true
                rows.append(.band(band))
            }
            return
        }
        if case .band(var band) = rows.last, !band.isMixed, band.accepts(row) {
            rows.removeLast()
            band.add(row)
            rows.append(.band(band))
            return
        }
        // The alike rows just before this one: past `collapseAfter`, they and this one become a band.
        var alike = 0
        for previous in rows.reversed() {
            guard case .exchange(let r) = previous, Band.key(r) == Band.key(row) else { break }
            alike += 1
        }
        if alike >= collapseAfter {
            let members = rows.suffix(alike).compactMap { row -> ExchangeRow? in
                if case .exchange(let r) = row { return r } else { return nil }
            }
            rows.removeLast(alike)
            var band = Band(members[0])
            for r in members.dropFirst() + [row] { band.add(r) }
            rows.append(.band(band))
        } else {
            rows.append(.exchange(row))
        }
    }

    static func row(_ ex: Exchange) -> ExchangeRow {
        let service = ex.service?.rawValue ?? "unknown"
        var arrows: [Arrow] = []
        let request = ex.request.command.commandField?.description ?? "unknown command"
        arrows.append(Arrow(time: ex.request.time, sender: ex.request.sender, kind: .request,
                            label: "\(request) msg \(ex.messageID)", note: nil, isMessage: true))
        for (k, r) in ex.responses.enumerated() {
            if k == ex.notKeptPosition {
                // The responses past --max-kept-responses: counted, not kept; shown as one arrow.
                // At the time of the last kept one before them (they came between it and `r`).
                let n = ex.responsesNotKept
                arrows.append(Arrow(time: arrows.last?.time ?? r.time, sender: r.sender, kind: .pending,
                                    label: "\(n) more response\(n == 1 ? "" : "s")",
                                    note: "counted, not kept: raise --max-kept-responses to see them", count: n, isMessage: false))
            }
            let kind = ArrowKind(r.status?.category)
            let code = r.status.map { statusText($0.code) } ?? ""
            let words = (r.status?.category.description ?? "no status") + " " + code
            if kind == .pending, var last = arrows.last, last.kind == .pending, last.sender == r.sender, last.note == nil {
                last.count += 1
                last.time = r.time
                last.label = "\(last.count) × \(r.command.commandField?.description ?? "RSP") \(words)"
                arrows[arrows.count - 1] = last
                continue
            }
            arrows.append(Arrow(time: r.time, sender: r.sender, kind: kind,
                                label: "\(r.command.commandField?.description ?? "RSP") \(words)",
                                note: nil, isMessage: true))
        }
        if let cancel = ex.cancel {
            arrows.append(Arrow(time: cancel.time, sender: cancel.sender, kind: .cancel,
                                label: "C-CANCEL-RQ msg \(ex.messageID)", note: nil, isMessage: true))
            // A cancel comes before the final response: keep the arrows in time order.
            arrows.sort { $0.time < $1.time }
        }
        let final = ex.finalResponse
        if let d = ex.duration, let i = arrows.lastIndex(where: { $0.time == final?.time && $0.kind != .request }) {
            arrows[i].note = "\(formatMilliseconds(d.milliseconds)) ms"
        }
        var originator: (String, UInt16)?
        if case .cStoreRequest(let rq) = ex.request.command, let ae = rq.moveOriginatorApplicationEntityTitle,
           let id = rq.moveOriginatorMessageID {
            originator = (ae, id)
        }
        let patient: String? = switch ex.requestedPatient {
        case .id(let id)?: id
        case .any?: "any patient"
        case nil: nil
        }
        return ExchangeRow(
            index: ex.index, service: service, messageID: ex.messageID,
            sopClass: ex.sopClassUID.map { UIDRegistry.name(for: $0) ?? $0 }, sender: ex.request.sender,
            requestTime: ex.request.time, arrows: arrows, finalStatus: final?.status,
            errorComment: final?.command.commandSet[CommandTag.errorComment]?.string(),
            patient: patient, patientName: patient == nil ? nil : nonEmpty(ex.request.dataSet?[Tag.patientName]?.string()),
            matches: ex.service == .cFind ? ex.matchCount : nil,
            subOperations: ex.subOperations, moveDestination: ex.moveDestination, moveOriginator: originator,
            cancelled: ex.cancel != nil, latency: ex.duration,
            messages: 1 + ex.responseCount + (ex.cancel == nil ? 0 : 1))
    }
}

extension HTMLAssociationSummary.Band {
    struct Key: Equatable {
        var service: String
        var sender: PeerRole
        var status: UInt16?
        var cancelled: Bool
    }

    static func key(_ r: HTMLAssociationSummary.ExchangeRow) -> Key {
        Key(service: r.service, sender: r.sender, status: r.finalStatus?.code, cancelled: r.cancelled)
    }

    init(_ r: HTMLAssociationSummary.ExchangeRow) {
        self.init(service: r.service, sender: r.sender, finalStatus: r.finalStatus, cancelled: r.cancelled,
                  firstMessageID: r.messageID, lastMessageID: r.messageID, start: r.requestTime, end: r.requestTime)
        add(r)
    }

    func accepts(_ r: HTMLAssociationSummary.ExchangeRow) -> Bool {
        Self.key(r) == Key(service: service, sender: sender, status: finalStatus?.code, cancelled: cancelled)
    }

    mutating func add(_ r: HTMLAssociationSummary.ExchangeRow) {
        if count == 0 {
            firstMessageID = r.messageID
            start = r.requestTime
        }
        count += 1
        messages += r.messages
        lastMessageID = r.messageID
        start = min(start, r.requestTime)
        end = max(end, r.arrows.last?.time ?? r.requestTime)
        matches += r.matches ?? 0
        if let d = r.latency { latencies.add(d.milliseconds) }
        if let p = r.patient, !patients.contains(p) {
            if patients.count < 3 { patients.append(p) } else { morePatients = true }
        }
    }
}

/// Latencies of a band: count, min, max, mean, and at most `capacity` points for the sparkline
/// (when full, neighbours are averaged in pairs and each point stands for twice as many).
public struct LatencySamples: Sendable {
    public private(set) var count = 0
    public private(set) var minimum = Double.infinity
    public private(set) var maximum = 0.0
    public private(set) var sum = 0.0
    public private(set) var points: [Double] = []
    private var pending: (sum: Double, n: Int) = (0, 0)
    private var perPoint = 1
    let capacity = 120

    public init() {}

    public mutating func add(_ ms: Double) {
        count += 1
        minimum = Swift.min(minimum, ms)
        maximum = Swift.max(maximum, ms)
        sum += ms
        pending.sum += ms
        pending.n += 1
        guard pending.n == perPoint else { return }
        points.append(pending.sum / Double(pending.n))
        pending = (0, 0)
        if points.count == capacity {
            points = stride(from: 0, to: points.count, by: 2).map { (points[$0] + points[$0 + 1]) / 2 }
            perPoint *= 2
        }
    }

    public var mean: Double { count == 0 ? 0 : sum / Double(count) }
}

/// `message` with every value it quotes ('1234567') shown as '(redacted)': what a finding or an
/// Error Comment quotes may be an identifier.
package func redactingQuotedValues(_ message: String) -> String {
    var out = ""
    var inQuote = false
    for c in message {
        if c == "'" {
            out += inQuote ? "(redacted)'" : "'"
            inQuote.toggle()
        } else if !inQuote {
            out.append(c)
        }
    }
    // An unterminated quote: what follows it is not shown.
    return out
}

func nonEmpty(_ s: String?) -> String? {
    guard let s, !s.isEmpty else { return nil }
    return s
}

/// `12.345`: milliseconds with at most three decimals.
package func formatMilliseconds(_ ms: Double) -> String {
    let r = (ms * 1000).rounded() / 1000
    return String(r)
}
