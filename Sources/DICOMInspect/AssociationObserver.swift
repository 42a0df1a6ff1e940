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
        public init() {}
    }

    public let configuration: Configuration
    public internal(set) var info = AssociationInfo()
    /// The ended exchanges, when `configuration.keepsExchanges` (else empty).
    public internal(set) var exchanges: [Exchange] = []
    /// Exchanges begun so far (each request opens one).
    public internal(set) var exchangeCount = 0
    /// The findings kept (at most `maximumFindings`, then one `findings-truncated`).
    public internal(set) var findings: [Finding] = []
    /// Findings reported but not kept (past `maximumFindings`).
    public internal(set) var droppedFindings = 0
    /// The A-ASSOCIATE-RQ as decoded, when `configuration.keepsAssociationPDUs`.
    public private(set) var associateRequest: AssociateRequest?
    /// The A-ASSOCIATE-AC as decoded, when `configuration.keepsAssociationPDUs`.
    public private(set) var associateAccept: AssociateAccept?
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

    // Per-direction state: plain stored pairs, not dictionaries (this is the per-packet path).
    private var buffers = PerRole(ByteBuffer())
    private var framers: PerRole<PDUFrameDecoder>
    /// Bytes skipped while resynchronising, per direction (added to framer offsets).
    private var skipped = PerRole(0)
    private var framingLost = PerRole(false)
    var assemblers: PerRole<MessageAssembler>
    var firstFragmentTime = PerRole(FragmentStartTimes())
    /// Messages whose command arrived and whose data set is arriving, per sender.
    var inProgress = PerRole([MessageInProgress]())
    /// Open requests by (sender of the request, message ID) → exchange index.
    var open = OpenRequests()
    /// The exchanges still open, in the order they began.
    var openExchanges = OpenExchanges()
    private var releaseSent = PerRole(false)
    /// After a gap, fragments of the message that was cut are expected and not reported again.
    var afterGap = PerRole(false)
    /// Bytes still to discard after a gap inside a PDU (the rest of that PDU).
    private var pendingSkip = PerRole(0)
    /// Packet number of the bytes being processed (for findings and messages).
    var currentPacket: Int?
    /// `TransferSyntax` of each context whose transfer syntax is known (negotiated or inferred),
    /// looked up once per context instead of once per message; emptied when negotiation changes
    /// `info.contexts`. A few pairs searched linearly (at most 128 odd context IDs), not hashed per message.
    var transferSyntaxes: [(id: UInt8, syntax: TransferSyntax)] = []
    /// `info.maximumLength` and the accepted context IDs of `info.contexts`, kept beside them
    /// for the per-PDU checks (no dictionary lookup, no `NegotiatedContext` copy per PDV).
    private var maximumLength = PerRole<UInt32?>(nil)
    var acceptedContexts = ContextIDSet()


    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        framers = PerRole(PDUFrameDecoder(maximumPDULength: configuration.maximumPDULength))
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
        currentPacket = packet
        if firstSeen == nil { firstSeen = time }
        var buffer = buffers[sender]
        buffers[sender] = ByteBuffer()  // keeps `buffer` uniquely referenced, so appending does not copy
        var incoming = bytes
        if pendingSkip[sender] > 0 {
            let n = min(pendingSkip[sender], incoming.readableBytes)
            incoming.moveReaderIndex(forwardBy: n)
            pendingSkip[sender] -= n
        }
        if buffer.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer.writeBuffer(&incoming)
        }
        while true {
            if framingLost[sender] {
                guard resynchronize(&buffer, sender: sender, time: time, events: &events) else { break }
            }
            do throws(PDUDecodingError) {
                guard var frame = try framers[sender].decodeFrame(buffer: &buffer) else { break }
                frame.streamOffset += skipped[sender]
                receive(frame: frame, from: sender, at: time, into: &events)
            } catch {
                let offset = error.offset + skipped[sender]
                events.append(record(Finding(.framingLost, .error,
                                             "cannot frame the \(sender)'s stream: \(error); looking for the next PDU",
                                             time: time, sender: sender, streamOffset: offset)))
                framingLost[sender] = true
                // Skip the bad header byte so resynchronisation makes progress.
                buffer.moveReaderIndex(forwardBy: 1)
                skipped[sender] += 1
            }
        }
        if buffer.readableBytes == 0 {
            buffer = ByteBuffer()
        } else if buffer.readerIndex > 1 << 16 {
            buffer.discardReadBytes()
        }
        buffers[sender] = buffer
    }

    /// Bytes of one side's stream are missing (lost packets, a snaplen-cut payload). When the
    /// gap falls inside a PDU whose header was seen, what came before the gap is used (the
    /// fixed fields and complete items of an A-ASSOCIATE; a command whose data set was cut is
    /// still recorded) and framing resumes right after that PDU; otherwise it resumes at the
    /// next plausible PDU header.
    public mutating func gap(from sender: PeerRole, length: Int, streamOffset: Int, at time: Timestamp,
                             packet: Int? = nil) -> [ObservationEvent] {
        currentPacket = packet
        var events: [ObservationEvent] = []
        let buffered = buffers[sender]
        buffers[sender] = ByteBuffer()
        var note = ""
        var resumeInsidePDU = false
        if !framingLost[sender], buffered.readableBytes >= pduHeaderLength,
           let typeByte = buffered.getInteger(at: buffered.readerIndex, as: UInt8.self), let type = PDUType(rawValue: typeByte),
           let bodyLength = buffered.getInteger(at: buffered.readerIndex + 2, as: UInt32.self) {
            let pduEnd = streamOffset - buffered.readableBytes + pduHeaderLength + Int(bodyLength)
            pdus[sender] += 1
            pdusByType[Int(type.rawValue)] += 1
            note = "; the \(type) in progress has \(buffered.readableBytes) of its \(pduHeaderLength + Int(bodyLength)) bytes"
            let prefix = buffered.getSlice(at: buffered.readerIndex + pduHeaderLength,
                                           length: buffered.readableBytes - pduHeaderLength) ?? ByteBuffer()
            if let partial = PDU.decodePrefix(type: type, reserved: buffered.getInteger(at: buffered.readerIndex + 1, as: UInt8.self) ?? 0,
                                              body: prefix) {
                events.append(.pdu(partial, sender: sender, time: time, streamOffset: streamOffset - buffered.readableBytes,
                                   length: pduHeaderLength + Int(bodyLength)))
                handle(partial, frameLength: Int(bodyLength), from: sender, at: time,
                       streamOffset: streamOffset - buffered.readableBytes, into: &events)
            }
            if streamOffset + length <= pduEnd {
                // The rest of this PDU after the gap is skipped; the next PDU starts framing again.
                pendingSkip[sender] = pduEnd - (streamOffset + length)
                resumeInsidePDU = true
            }
        }
        skipped[sender] += buffered.readableBytes + length + pendingSkip[sender]
        framingLost[sender] = !resumeInsidePDU
        if let gapFinding = record(Finding(.streamGap, .error,
                                     "\(length) bytes missing from the \(sender)'s stream at bytes \(streamOffset)–\(streamOffset + length - 1)"
                                     + note + (resumeInsidePDU ? "; decoding resumes after that PDU" : "; decoding resumes at the next PDU"),
                                     time: time, sender: sender, streamOffset: streamOffset)) {
            events.insert(gapFinding, at: 0)
        }
        // Messages whose command was complete and whose data set was cut are still recorded.
        _ = assemblers[sender].abandonInProgress()
        let cut = inProgress[sender].sorted { $0.contextID < $1.contextID }
        inProgress[sender] = []
        for message in cut {
            lost(message, .gap, from: sender, at: time, streamOffset: streamOffset, into: &events)
        }
        firstFragmentTime[sender] = FragmentStartTimes()
        afterGap[sender] = true
        return events
    }

    /// Scans for a plausible PDU header (type 1–7, reserved 0, a length that fits the
    /// type), discarding what comes before it. Returns false when more bytes are needed.
    private mutating func resynchronize(_ buffer: inout ByteBuffer, sender: PeerRole, time: Timestamp,
                                        events: inout [ObservationEvent]) -> Bool {
        var dropped = 0
        while buffer.readableBytes >= pduHeaderLength {
            let i = buffer.readerIndex
            if let type = buffer.getInteger(at: i, as: UInt8.self).flatMap(PDUType.init(rawValue:)),
               buffer.getInteger(at: i + 1, as: UInt8.self) == 0,
               let length = buffer.getInteger(at: i + 2, as: UInt32.self),
               plausible(type: type, length: Int(length), at: i, in: buffer) {
                framingLost[sender] = false
                // The framer's own offset stays in step with the bytes it has seen.
                skipped[sender] += dropped
                events.append(record(Finding(.resynchronized, dropped == 0 ? .info : .warning,
                                             dropped == 0 ? "framing resumed at a \(type) boundary"
                                                 : "resynchronised on a \(type) after skipping \(dropped) bytes",
                                             time: time, sender: sender,
                                             streamOffset: framers[sender].streamOffset + skipped[sender])))
                return true
            }
            buffer.moveReaderIndex(forwardBy: 1)
            dropped += 1
        }
        skipped[sender] += dropped
        return false
    }

    private func plausible(type: PDUType, length: Int, at i: Int, in buffer: ByteBuffer) -> Bool {
        switch type {
        case .associateReject, .releaseRequest, .releaseResponse, .abort:
            return length == 4
        case .associateRequest, .associateAccept:
            return length >= 68 && length <= 1 << 16
        case .dataTransfer:
            guard length >= 6, length <= configuration.maximumPDULength else { return false }
            // The first PDV's length must fit inside the PDU and its context ID must be odd.
            guard let pdvLength = buffer.getInteger(at: i + 6, as: UInt32.self) else { return true }
            let contextID = buffer.getInteger(at: i + 10, as: UInt8.self) ?? 1
            return pdvLength >= 2 && Int(pdvLength) + 4 <= length && contextID & 1 == 1
        }
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
            events.append(record(Finding(.malformedPDU, .error, "malformed \(frame.type) PDU: \(error)",
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
        currentPacket = nil
        var events: [ObservationEvent] = []
        for role in PeerRole.allCases {
            let cut = inProgress[role].sorted { $0.contextID < $1.contextID }
            inProgress[role] = []
            for message in cut {
                lost(message, captureEnded ? .endOfCapture : .connectionClosed, from: role, at: time, streamOffset: 0, into: &events)
            }
        }
        if !info.outcome.isFinished {
            info.outcome = captureEnded ? .openAtCaptureEnd : .connectionClosed
        }
        info.endTime = info.endTime ?? time
        for (key, index) in open.sortedByExchange() {
            guard let ex = openExchanges[index] else { continue }
            events.append(record(Finding(.unansweredRequest, .warning,
                                         "\(ex.request.command.commandField?.description ?? "request") message \(key.messageID) "
                                         + "got no final response before the association ended",
                                         time: time, sender: key.sender, exchangeIndex: index)))
        }
        open.removeAll()
        for role in PeerRole.allCases where buffers[role].readableBytes > 0 && !framingLost[role] {
            events.append(record(Finding(.malformedPDU, .warning,
                                         "the \(role)'s stream ended \(buffers[role].readableBytes) bytes into a PDU",
                                         time: time, sender: role)))
        }
        // The exchanges still open end with the association.
        for ex in openExchanges.removeAll() { ended(ex, into: &events) }
        buffers = PerRole(ByteBuffer())
        if droppedFindings > 0 {
            let finding = Finding(.findingsTruncated, .warning,
                                  "\(droppedFindings) more finding\(droppedFindings == 1 ? "" : "s") not kept (at most \(configuration.maximumFindings) per association)",
                                  time: time)
            findings.append(finding)
            events.append(.finding(finding))
        }
        return events
    }

    // MARK: PDUs

    private mutating func handle(_ pdu: PDU, frameLength: Int, from sender: PeerRole, at time: Timestamp,
                                 streamOffset: Int, into events: inout [ObservationEvent]) {
        if info.outcome.isFinished {
            events.append(record(Finding(.unexpectedPDU, .warning, "\(pdu.type) after the association ended (\(info.outcome))",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        switch pdu {
        case .associateRequest(let rq):
            if sender != .requestor || info.requestTime != nil {
                events.append(record(Finding(.unexpectedPDU, .error, "A-ASSOCIATE-RQ from the \(sender)" +
                                             (info.requestTime != nil ? " after the association was requested" : ""),
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
            info.requestTime = time
            transferSyntaxes.removeAll()
            if configuration.keepsAssociationPDUs { associateRequest = rq }
            info.callingAETitle = rq.fields.callingAETitle.value
            info.calledAETitle = rq.fields.calledAETitle.value
            for case .presentationContextRequest(let pc) in rq.fields.items {
                info.contexts[pc.contextID] = NegotiatedContext(id: pc.contextID, abstractSyntax: pc.abstractSyntax ?? "",
                                                                proposedTransferSyntaxes: pc.transferSyntaxes)
            }
            noteUserInformation(rq.fields.userInformation, from: .requestor)
            acceptedContexts = acceptedContextIDs()
        case .associateAccept(let ac):
            if sender != .acceptor {
                events.append(record(Finding(.unexpectedPDU, .error, "A-ASSOCIATE-AC from the requestor",
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
            info.acceptTime = time
            transferSyntaxes.removeAll()
            if configuration.keepsAssociationPDUs { associateAccept = ac }
            info.outcome = .established
            for case .presentationContextAccept(let pc) in ac.fields.items {
                var ctx = info.contexts[pc.contextID] ?? NegotiatedContext(id: pc.contextID, abstractSyntax: "",
                                                                           proposedTransferSyntaxes: [])
                ctx.result = pc.result
                ctx.transferSyntax = pc.transferSyntax
                info.contexts[pc.contextID] = ctx
            }
            noteUserInformation(ac.fields.userInformation, from: .acceptor)
            acceptedContexts = acceptedContextIDs()
        case .associateReject(let rj):
            info.outcome = .rejected(rj)
            info.endTime = time
        case .dataTransfer(let p):
            handle(p, frameLength: frameLength, from: sender, at: time, streamOffset: streamOffset, into: &events)
        case .releaseRequest:
            releaseSent[sender] = true
            if case .releaseRequested = info.outcome {} else if !info.outcome.isFinished {
                info.outcome = .releaseRequested(by: sender)
            }
        case .releaseResponse:
            releaseSent[sender] = true
            info.outcome = .released
            info.endTime = time
        case .abort(let a):
            info.outcome = .aborted(a, by: sender)
            info.endTime = time
        }
    }

    /// The IDs of the accepted contexts of `info.contexts` (no intermediate arrays).
    private func acceptedContextIDs() -> ContextIDSet {
        var ids = ContextIDSet()
        for context in info.contexts.values where context.isAccepted { ids.insert(context.id) }
        return ids
    }

    private mutating func noteUserInformation(_ userInfo: UserInformationItem?, from role: PeerRole) {
        guard let userInfo else { return }
        for sub in userInfo.subItems {
            switch sub {
            case .maximumLength(let m):
                info.maximumLength[role] = m.maximumLength
                maximumLength[role] = m.maximumLength
            case .implementationClassUID(let u): info.implementationClassUID[role] = u.value
            case .implementationVersionName(let n): info.implementationVersionName[role] = n.value
            case .roleSelection(let r): info.roleSelection[role, default: [:]][r.sopClassUID.value] = r
            case .userIdentityRequest(let u): info.userIdentityType = u.identityType
            case .asynchronousOperationsWindow, .sopClassExtendedNegotiation, .sopClassCommonExtendedNegotiation,
                 .userIdentityAccept, .unknown:
                break
            }
        }
    }

    private mutating func handle(_ p: DataTransfer, frameLength: Int, from sender: PeerRole, at time: Timestamp,
                                 streamOffset: Int, into events: inout [ObservationEvent]) {
        if info.requestTime == nil && !info.startedMidStream {
            info.startedMidStream = true
            info.outcome = .unknownStart
            events.append(record(Finding(.startedMidAssociation, .info,
                                         "no A-ASSOCIATE in the stream: the association started before it; "
                                         + "transfer syntaxes are inferred from the data",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        } else if info.acceptTime == nil && !info.startedMidStream {
            events.append(record(Finding(.unexpectedPDU, .error, "P-DATA-TF before the association was accepted",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        if releaseSent[sender] {
            events.append(record(Finding(.dataAfterRelease, .error,
                                         "P-DATA-TF from the \(sender) after it sent A-RELEASE-\(sender == .requestor ? "RQ" : "RP")",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        // PS3.8 §9.3.1 / Annex D.1: a P-DATA-TF variable field may not exceed what the receiver announced.
        if let max = maximumLength[sender.other], max > 0, frameLength > Int(max) {
            events.append(record(Finding(.pduExceedsMaximumLength, .error,
                                         "P-DATA-TF of \(frameLength) bytes exceeds the \(sender.other)'s maximum length \(max)",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        for pdv in p.items {
            let id = pdv.presentationContextID
            if !info.startedMidStream, !acceptedContexts.contains(id) {
                events.append(record(Finding(.pdvOnUnacceptedContext, .error,
                                             "PDV on presentation context \(id), which was not accepted",
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
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
                events.append(record(Finding(.dimseAssemblyError, .error, "\(error)", time: time, sender: sender,
                                             streamOffset: streamOffset)))
            }
        }
    }

    /// Keeps a finding and returns its event; past `maximumFindings` it is only counted (no
    /// event either: a stream that makes a finding per PDU must not grow the consumer's output).
    mutating func record(_ finding: Finding) -> ObservationEvent? {
        guard findings.count < configuration.maximumFindings else {
            droppedFindings += 1
            return nil
        }
        var finding = finding
        if finding.packet == nil { finding.packet = currentPacket }
        findings.append(finding)
        return .finding(finding)
    }
}

