import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// What the observer reports as it goes, in order; renderers and the proxy's logs consume these.
public enum ObservationEvent: Sendable {
    /// A PDU, decoded. `length` is its size on the wire.
    case pdu(PDU, sender: PeerRole, time: Timestamp, streamOffset: Int, length: Int)
    /// A complete DIMSE message (command and data set reassembled).
    case message(ObservedMessage, exchangeIndex: Int?)
    /// An exchange ended: it got its final response, or the association ended with it open.
    /// The observer forgets it after this event (unless `keepsExchanges`): a consumer that
    /// wants it keeps it.
    case exchangeEnded(Exchange)
    case finding(Finding)
}

/// Watches one association from both directions and keeps what a user debugging it needs:
/// AE titles, proposed and accepted presentation contexts, max lengths, roles, the outcome,
/// every DIMSE exchange with its timing, and protocol findings. A pure value type: feed it
/// bytes (or PDUs) with the time they were seen; it returns events. The proxy, the capture
/// analyzer, replay and our SCU/SCP all observe associations through it.
///
/// It streams: each exchange is handed to the consumer when it ends (`.exchangeEnded`) and
/// then forgotten, and data sets are decoded as their fragments arrive (values at or over
/// `bulkThreshold` kept as references, never gathered). What it keeps is bounded by what is
/// still open: the negotiation, the open requests, counters, and at most `maximumFindings`
/// findings.
///
/// It is composed of parts with one job each, one file each: a `StreamFramer` per side
/// (PDUs out of bytes, resynchronisation, gaps), the `NegotiationTracker` (A-ASSOCIATE,
/// release, abort, P-DATA-TF against the negotiation), the DIMSE messages of each side
/// (`+Messages`: PDVs to messages, data sets decoded as they arrive), the `ExchangeTracker`
/// (requests paired with responses, open requests) running the `exchangeRules`
/// (`+FindingRules`), and the `FindingLog` they all report to.
public struct AssociationObserver: Sendable {
    public struct Configuration: Sendable {
        /// Largest PDU accepted by the framer (bounds memory per direction).
        public var maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength
        /// Options for decoding data sets (lenient by default: observing is not validating).
        /// `maxInflatedSize` bounds the inflated size of a deflated data set.
        public var decodingOptions: DecodingOptions = .lenient
        /// Limits of the message assembler (command set size; data sets are streamed, so their
        /// size costs no memory and is not bounded by default).
        public var assembler = MessageAssembler.Configuration(maximumDataSetLength: .max)
        /// Return `.pdu` and `.message` events (a renderer needs them; statistics and JSON,
        /// which read the ended exchanges and the findings, do not). Findings and ended
        /// exchanges are always returned.
        public var emitsEvents = true
        /// Keep the A-ASSOCIATE-RQ and -AC PDUs as decoded (`associateRequest`, `associateAccept`):
        /// replay negotiates from them. Off by default: `analyze` and the proxy only need `info`.
        public var keepsAssociationPDUs = false
        /// Build each data set as it arrives (`ObservedMessage.dataSet` stored, values at or over
        /// `bulkThreshold` as references). Off, data sets are only checked as they arrive (the
        /// same parser, nothing built: `dataSetError`, the findings and the transfer syntax are
        /// the same), and one of at most `keptDataSetLength` bytes is decoded on access: for
        /// consumers that read few data sets (`analyze --summary`).
        public var decodesDataSets = true
        /// Values at least this long are not kept in built data sets: a reference (tag, VR,
        /// length, offset) stands for them. `--bulk-threshold`.
        public var bulkThreshold = 1 << 16
        /// A message keeps its data set's bytes (`ObservedMessage.dataSetBytes`) when they are at
        /// most this long. Replay, which sends recorded data sets again, raises it.
        public var keptDataSetLength = 1 << 16
        /// Data sets longer than `keptDataSetLength` are written here (`ObservedMessage.dataSetSpooled`)
        /// for a consumer that needs their bytes later (replay): memory keeps where they are.
        public var spool: DataSetSpool?
        /// Also keep every ended exchange in `exchanges` (replay and tests, which want the whole
        /// association; memory then grows with it). Off, an exchange is only handed over.
        public var keepsExchanges = false
        /// Findings kept per association; past this a `findings-truncated` finding gives the count.
        public var maximumFindings = 1000
        /// Requests open at once per association; one more is reported (`too-many-open-requests`)
        /// and not followed.
        public var maximumOpenRequests = 4096
        /// Responses an open exchange keeps: the first this many and the latest (the final one);
        /// the others are counted (`Exchange.responseCounts`), handed over as `.message` events
        /// when `emitsEvents`, and not kept, with one `responses-truncated` finding per exchange.
        /// Replay, which sends every recorded response again, keeps them all (`Int.max`).
        public var maximumKeptResponses = 1000
        public init() {}
    }

    public let configuration: Configuration
    /// What was negotiated and how the association went.
    public var info: AssociationInfo { _read { yield negotiation.info } }
    /// The ended exchanges, when `configuration.keepsExchanges` (else empty).
    public var exchanges: [Exchange] { _read { yield exchangeTracker.kept } }
    /// Exchanges begun so far (each request opens one).
    public var exchangeCount: Int { exchangeTracker.count }
    /// The findings kept (at most `maximumFindings`, then one `findings-truncated`).
    public var findings: [Finding] { _read { yield findingLog.kept } }
    /// Findings reported but not kept (past `maximumFindings`).
    public var droppedFindings: Int { findingLog.dropped }
    /// The A-ASSOCIATE-RQ as decoded, when `configuration.keepsAssociationPDUs`.
    public var associateRequest: AssociateRequest? { negotiation.associateRequest }
    /// The A-ASSOCIATE-AC as decoded, when `configuration.keepsAssociationPDUs`.
    public var associateAccept: AssociateAccept? { negotiation.associateAccept }
    /// What the open exchanges hold: messages kept and their bytes (tests of the bound).
    package var retainedByOpenExchanges: (messages: Int, bytes: Int) { exchangeTracker.retainedByOpenExchanges }
    /// Number of PDUs seen from each side.
    public var pduCount: [PeerRole: Int] { [.requestor: pdus.requestor, .acceptor: pdus.acceptor] }
    /// Number of decoded PDUs of each type (both sides).
    public var pduTypeCounts: [PDUType: Int] {
        var out: [PDUType: Int] = [:]
        for type in PDUType.allCases where pdusByType[Int(type.rawValue)] > 0 { out[type] = pdusByType[Int(type.rawValue)] }
        return out
    }
    private var pdus = PerRole(0)
    private var pdusByType = [Int](repeating: 0, count: 8)
    /// Time of the first bytes seen (the association's start when its A-ASSOCIATE is missing).
    public private(set) var firstSeen: Timestamp?

    // The parts. Per-side state: plain stored pairs, not dictionaries (this is the per-packet path).
    private var framers: PerRole<StreamFramer>
    var negotiation: NegotiationTracker
    var exchangeTracker: ExchangeTracker
    var findingLog: FindingLog
    /// The DIMSE messages of each side (`+Messages`).
    var assemblers: PerRole<MessageAssembler>
    var firstFragmentTime = PerRole(FragmentStartTimes())
    /// Messages whose command arrived and whose data set is arriving, per sender.
    var inProgress = PerRole([MessageInProgress]())
    /// After a gap, fragments of the message that was cut are expected and not reported again.
    var afterGap = PerRole(false)

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        framers = PerRole(StreamFramer(maximumPDULength: configuration.maximumPDULength))
        negotiation = NegotiationTracker(keepsAssociationPDUs: configuration.keepsAssociationPDUs)
        exchangeTracker = ExchangeTracker(configuration: configuration, rules: Self.exchangeRules)
        findingLog = FindingLog(maximum: configuration.maximumFindings)
        var assembler = configuration.assembler
        assembler.streamsDataSets = true
        assemblers = PerRole(MessageAssembler(configuration: assembler))
    }

    // MARK: Input

    /// Bytes from one side's stream, in arbitrary pieces. Frames PDUs with the shared
    /// framing decoder; after a framing error it looks for the next plausible PDU header.
    public mutating func receive(_ bytes: ByteBuffer, from sender: PeerRole, at time: Timestamp,
                                 packet: Int? = nil) -> [ObservationEvent] {
        var events: [ObservationEvent] = []
        receive(bytes, from: sender, at: time, packet: packet, into: &events)
        return events
    }

    /// `receive(_:from:at:packet:)` appending its events to `events` (the capture analyzer
    /// reuses one array instead of allocating one per packet).
    public mutating func receive(_ bytes: ByteBuffer, from sender: PeerRole, at time: Timestamp,
                                 packet: Int?, into events: inout [ObservationEvent]) {
        findingLog.currentPacket = packet
        if firstSeen == nil { firstSeen = time }
        framers[sender].append(bytes)
        while true {
            switch framers[sender].next() {
            case .frame(let frame):
                receive(frame: frame, from: sender, at: time, into: &events)
            case .framingLost(let error, let offset):
                events.append(findingLog.record(Finding(.framingLost, .error,
                                                        "cannot frame the \(sender)'s stream: \(error); looking for the next PDU",
                                                        time: time, sender: sender, streamOffset: offset)))
            case .resynchronized(let type, let dropped, let offset):
                events.append(findingLog.record(Finding(.resynchronized, dropped == 0 ? .info : .warning,
                                                        dropped == 0 ? "framing resumed at a \(type) boundary"
                                                            : "resynchronised on a \(type) after skipping \(dropped) bytes",
                                                        time: time, sender: sender, streamOffset: offset)))
            case .needsMoreBytes:
                framers[sender].compact()
                return
            }
        }
    }

    /// Bytes of one side's stream are missing (lost packets, a snaplen-cut payload). When the
    /// gap falls inside a PDU whose header was seen, what came before the gap is used (the
    /// fixed fields and complete items of an A-ASSOCIATE; a command whose data set was cut is
    /// still recorded) and framing resumes right after that PDU; otherwise it resumes at the
    /// next plausible PDU header.
    public mutating func gap(from sender: PeerRole, length: Int, streamOffset: Int, at time: Timestamp,
                             packet: Int? = nil) -> [ObservationEvent] {
        findingLog.currentPacket = packet
        var events: [ObservationEvent] = []
        var note = ""
        let (cut, resumesInsidePDU) = framers[sender].gap(length: length, at: streamOffset)
        if let cut {
            pdus[sender] += 1
            pdusByType[Int(cut.type.rawValue)] += 1
            note = "; the \(cut.type) in progress has \(cut.received.readableBytes) of its \(pduHeaderLength + cut.bodyLength) bytes"
            if let partial = PDU.decodePrefix(type: cut.type, reserved: cut.reserved, body: cut.bodyPrefix) {
                events.append(.pdu(partial, sender: sender, time: time, streamOffset: cut.streamOffset,
                                   length: pduHeaderLength + cut.bodyLength))
                handle(partial, frameLength: cut.bodyLength, from: sender, at: time, streamOffset: cut.streamOffset,
                       into: &events)
            }
        }
        if let gapFinding = findingLog.record(Finding(.streamGap, .error,
                                     "\(length) bytes missing from the \(sender)'s stream at bytes \(streamOffset)–\(streamOffset + length - 1)"
                                     + note + (resumesInsidePDU ? "; decoding resumes after that PDU" : "; decoding resumes at the next PDU"),
                                     time: time, sender: sender, streamOffset: streamOffset)) {
            events.insert(gapFinding, at: 0)
        }
        // Messages whose command was complete and whose data set was cut are still recorded.
        _ = assemblers[sender].abandonInProgress()
        let cutMessages = inProgress[sender].sorted { $0.contextID < $1.contextID }
        inProgress[sender] = []
        for message in cutMessages {
            lost(message, .gap, from: sender, at: time, streamOffset: streamOffset, into: &events)
        }
        firstFragmentTime[sender] = FragmentStartTimes()
        afterGap[sender] = true
        return events
    }

    /// A framed PDU from one side (the capture analyzer and the proxy call this through `receive(_:from:at:)`).
    public mutating func receive(frame: PDUFrame, from sender: PeerRole, at time: Timestamp) -> [ObservationEvent] {
        var events: [ObservationEvent] = []
        receive(frame: frame, from: sender, at: time, into: &events)
        return events
    }

    private mutating func receive(frame: PDUFrame, from sender: PeerRole, at time: Timestamp,
                                  into events: inout [ObservationEvent]) {
        do throws(PDUDecodingError) {
            receive(try PDUDecoder.decode(frame), bodyLength: frame.body.readableBytes, streamOffset: frame.streamOffset,
                    from: sender, at: time, into: &events)
        } catch {
            if firstSeen == nil { firstSeen = time }
            pdus[sender] += 1
            events.append(findingLog.record(Finding(.malformedPDU, .error, "malformed \(frame.type) PDU: \(error)",
                                                    time: time, sender: sender, streamOffset: frame.streamOffset)))
        }
    }

    /// A PDU the caller has already framed and decoded (the proxy decodes each PDU to drive its
    /// relay; it hands the result over instead of having it decoded twice).
    public mutating func receive(_ pdu: PDU, frame: PDUFrame, from sender: PeerRole, at time: Timestamp) -> [ObservationEvent] {
        var events: [ObservationEvent] = []
        receive(pdu, bodyLength: frame.body.readableBytes, streamOffset: frame.streamOffset, from: sender, at: time, into: &events)
        return events
    }

    /// A PDU the caller built and sent itself without a contiguous frame (the rewriting proxy
    /// writes a P-DATA-TF as its headers and the fragment's own bytes): the body length and
    /// the offset in the sender's stream stand in for the frame.
    public mutating func receive(_ pdu: PDU, bodyLength: Int, streamOffset: Int, from sender: PeerRole,
                                 at time: Timestamp) -> [ObservationEvent] {
        var events: [ObservationEvent] = []
        receive(pdu, bodyLength: bodyLength, streamOffset: streamOffset, from: sender, at: time, into: &events)
        return events
    }

    private mutating func receive(_ pdu: PDU, bodyLength: Int, streamOffset: Int, from sender: PeerRole, at time: Timestamp,
                                  into events: inout [ObservationEvent]) {
        if firstSeen == nil { firstSeen = time }
        pdus[sender] += 1
        pdusByType[Int(pdu.type.rawValue)] += 1
        if configuration.emitsEvents {
            events.append(.pdu(pdu, sender: sender, time: time, streamOffset: streamOffset, length: pduHeaderLength + bodyLength))
        }
        handle(pdu, frameLength: bodyLength, from: sender, at: time, streamOffset: streamOffset, into: &events)
    }

    /// The transport closed (both directions), or with `captureEnded` the capture ended while it
    /// was open. A message whose command arrived and whose data set was still arriving is
    /// recorded with its data set cut off; open exchanges are reported unanswered.
    public mutating func connectionClosed(at time: Timestamp, captureEnded: Bool = false) -> [ObservationEvent] {
        findingLog.currentPacket = nil
        var events: [ObservationEvent] = []
        for role in PeerRole.allCases {
            let cut = inProgress[role].sorted { $0.contextID < $1.contextID }
            inProgress[role] = []
            for message in cut {
                lost(message, captureEnded ? .endOfCapture : .connectionClosed, from: role, at: time, streamOffset: 0, into: &events)
            }
        }
        negotiation.connectionClosed(at: time, captureEnded: captureEnded)
        exchangeTracker.reportUnanswered(at: time, findings: &findingLog, into: &events)
        for role in PeerRole.allCases where framers[role].buffer.readableBytes > 0 && !framers[role].framingLost {
            events.append(findingLog.record(Finding(.malformedPDU, .warning,
                                                    "the \(role)'s stream ended \(framers[role].buffer.readableBytes) bytes into a PDU",
                                                    time: time, sender: role)))
        }
        // The exchanges still open end with the association.
        exchangeTracker.endAll(at: time, findings: &findingLog, into: &events)
        for role in PeerRole.allCases { framers[role].dropBuffered() }
        findingLog.reportTruncation(at: time, into: &events)
        return events
    }

    // MARK: PDUs

    private mutating func handle(_ pdu: PDU, frameLength: Int, from sender: PeerRole, at time: Timestamp,
                                 streamOffset: Int, into events: inout [ObservationEvent]) {
        negotiation.receive(pdu, from: sender, at: time, streamOffset: streamOffset, findings: &findingLog, into: &events)
        if case .dataTransfer(let p) = pdu {
            handle(p, frameLength: frameLength, from: sender, at: time, streamOffset: streamOffset, into: &events)
        }
    }

    private mutating func handle(_ p: DataTransfer, frameLength: Int, from sender: PeerRole, at time: Timestamp,
                                 streamOffset: Int, into events: inout [ObservationEvent]) {
        negotiation.checkDataTransfer(frameLength: frameLength, from: sender, at: time, streamOffset: streamOffset,
                                      findings: &findingLog, into: &events)
        for pdv in p.items {
            let id = pdv.presentationContextID
            negotiation.checkContext(id, from: sender, at: time, streamOffset: streamOffset, findings: &findingLog, into: &events)
            if firstFragmentTime[sender][id] == nil { firstFragmentTime[sender][id] = time }
            do throws(DIMSEError) {
                if pdv.messageControlHeader.isCommand { afterGap[sender] = false }
                guard let output = try assemblers[sender].next(pdv) else { continue }
                assembled(output, from: sender, at: time, streamOffset: streamOffset, into: &events)
            } catch {
                firstFragmentTime[sender][id] = nil
                inProgress[sender].removeAll { $0.contextID == id }
                // The rest of a message cut by a gap: already reported by the gap finding.
                if afterGap[sender] && error.code == .dataSetFragmentBeforeCommand { continue }
                events.append(findingLog.record(Finding(.dimseAssemblyError, .error, "\(error)", time: time, sender: sender,
                                                        streamOffset: streamOffset)))
            }
        }
    }
}
