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
    /// An exchange got its final response.
    case exchangeCompleted(Int)
    case finding(Finding)
}

/// Watches one association from both directions and keeps what a user debugging it needs:
/// AE titles, proposed and accepted presentation contexts, max lengths, roles, the outcome,
/// every DIMSE exchange with its timing, and protocol findings. A pure value type: feed it
/// bytes (or PDUs) with the time they were seen; it returns events. The proxy, the capture
/// analyzer, replay and our SCU/SCP all observe associations through it.
public struct AssociationObserver: Sendable {
    public struct Configuration: Sendable {
        /// Largest PDU accepted by the framer (bounds memory per direction).
        public var maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength
        /// Options for decoding data sets (lenient by default: observing is not validating).
        public var decodingOptions: DecodingOptions = .lenient
        public var assembler = MessageAssembler.Configuration()
        /// Return `.pdu` and `.message` events (a renderer needs them; statistics and JSON,
        /// which read `exchanges` and `findings`, do not). Findings are always returned.
        public var emitsEvents = true
        /// Keep the A-ASSOCIATE-RQ and -AC PDUs as decoded (`associateRequest`, `associateAccept`):
        /// replay negotiates from them. Off by default: `analyze` and the proxy only need `info`.
        public var keepsAssociationPDUs = false
        /// Decode each data set when its message completes and keep it (`ObservedMessage.dataSet`
        /// is then stored). Off, the data set is only checked as it completes (the same decoder
        /// walks it without building elements, so `dataSetError`, the findings and the
        /// transfer syntax are the same) and `ObservedMessage.dataSet` decodes it on access:
        /// for consumers that read few data sets (`analyze`, whose statistics read none).
        public var decodesDataSets = true
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var info = AssociationInfo()
    public private(set) var exchanges: [Exchange] = []
    public private(set) var findings: [Finding] = []
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
    private var assemblers: PerRole<MessageAssembler>
    private var firstFragmentTime = PerRole(FragmentStartTimes())
    /// Open requests by (sender of the request, message ID) → exchange index.
    private var open = OpenRequests()
    private var releaseSent = PerRole(false)
    /// After a gap, fragments of the message that was cut are expected and not reported again.
    private var afterGap = PerRole(false)
    /// Bytes still to discard after a gap inside a PDU (the rest of that PDU).
    private var pendingSkip = PerRole(0)
    /// Packet number of the bytes being processed (for findings and messages).
    private var currentPacket: Int?
    /// `TransferSyntax` of each context whose transfer syntax is known (negotiated or inferred),
    /// looked up once per context instead of once per message; emptied when negotiation changes
    /// `info.contexts`. A few pairs searched linearly (at most 128 odd context IDs), not hashed per message.
    private var transferSyntaxes: [(id: UInt8, syntax: TransferSyntax)] = []
    /// `info.maximumLength` and the accepted context IDs of `info.contexts`, kept beside them
    /// for the per-PDU checks (no dictionary lookup, no `NegotiatedContext` copy per PDV).
    private var maximumLength = PerRole<UInt32?>(nil)
    private var acceptedContexts = ContextIDSet()


    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        framers = PerRole(PDUFrameDecoder(maximumPDULength: configuration.maximumPDULength))
        assemblers = PerRole(MessageAssembler(configuration: configuration.assembler))
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
        events.insert(record(Finding(.streamGap, .error,
                                     "\(length) bytes missing from the \(sender)'s stream at bytes \(streamOffset)–\(streamOffset + length - 1)"
                                     + note + (resumeInsidePDU ? "; decoding resumes after that PDU" : "; decoding resumes at the next PDU"),
                                     time: time, sender: sender, streamOffset: streamOffset)), at: 0)
        // Messages whose command was complete and whose data set was cut are still recorded.
        for cut in assemblers[sender].abandonInProgress() {
            let assembled = DIMSEMessageAssembly(presentationContextID: cut.presentationContextID, command: cut.command,
                                                 commandBytes: cut.commandBytes, dataSetBytes: nil)
            handle(assembled, from: sender, firstFragment: firstFragmentTime[sender][cut.presentationContextID] ?? time,
                   at: time, streamOffset: streamOffset, dataSetLost: true, into: &events)
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

    /// The transport closed (both directions). Open exchanges are reported unanswered.
    public mutating func connectionClosed(at time: Timestamp) -> [ObservationEvent] {
        currentPacket = nil
        var events: [ObservationEvent] = []
        if !info.outcome.isFinished {
            info.outcome = .connectionClosed
        }
        info.endTime = info.endTime ?? time
        for (key, index) in open.sortedByExchange() {
            let ex = exchanges[index]
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
                guard let assembled = try assemblers[sender].receive(pdv) else { continue }
                let first = firstFragmentTime[sender][id] ?? time
                firstFragmentTime[sender][id] = nil
                handle(assembled, from: sender, firstFragment: first, at: time, streamOffset: streamOffset, into: &events)
            } catch {
                firstFragmentTime[sender][id] = nil
                // The rest of a message cut by a gap: already reported by the gap finding.
                if afterGap[sender] && error.code == .dataSetFragmentBeforeCommand { continue }
                events.append(record(Finding(.dimseAssemblyError, .error, "\(error)", time: time, sender: sender,
                                             streamOffset: streamOffset)))
            }
        }
    }

    // MARK: DIMSE

    private mutating func transferSyntax(for contextID: UInt8, dataSet: ByteBuffer, time: Timestamp,
                                         sender: PeerRole, events: inout [ObservationEvent]) -> TransferSyntax? {
        if let known = transferSyntaxes.first(where: { $0.id == contextID }) { return known.syntax }
        if let uid = info.contexts[contextID]?.transferSyntax, let ts = TransferSyntax(uid: uid, lenient: true) {
            transferSyntaxes.append((contextID, ts))
            return ts
        }
        guard let inferred = TransferSyntaxInference.infer(dataSet) else { return nil }
        var ctx = info.contexts[contextID] ?? NegotiatedContext(id: contextID, abstractSyntax: "", proposedTransferSyntaxes: [])
        ctx.transferSyntax = inferred.uid
        ctx.isInferred = true
        info.contexts[contextID] = ctx
        transferSyntaxes.append((contextID, inferred))
        events.append(record(Finding(.transferSyntaxInferred, .info,
                                     "presentation context \(contextID): transfer syntax inferred as \(inferred.name) from the data",
                                     time: time, sender: sender)))
        return inferred
    }

    private mutating func handle(_ assembled: consuming DIMSEMessageAssembly, from sender: PeerRole, firstFragment: Timestamp,
                                 at time: Timestamp, streamOffset: Int, dataSetLost: Bool = false,
                                 into events: inout [ObservationEvent]) {
        // The message goes straight from `observe` into `file` (a temporary passed to a consuming
        // parameter): it is moved, never copied, on its way to its exchange.
        file(observe(assembled, from: sender, firstFragment: firstFragment, at: time, streamOffset: streamOffset,
                     dataSetLost: dataSetLost, into: &events),
             from: sender, at: time, streamOffset: streamOffset, into: &events)
    }

    /// The observed message for `assembled`, its data set checked (or decoded) in its context's transfer syntax.
    private mutating func observe(_ assembled: consuming DIMSEMessageAssembly, from sender: PeerRole, firstFragment: Timestamp,
                                  at time: Timestamp, streamOffset: Int, dataSetLost: Bool,
                                  into events: inout [ObservationEvent]) -> ObservedMessage {
        // Everything is worked out first and the message built by one initializer at the end:
        // a message built and then mutated field by field was copied whole on its way out.
        var transferSyntax: TransferSyntax?
        var decodedDataSet: Dataset?
        var deferredDataSet: (body: ByteBuffer, options: DecodingOptions)?
        var dataSetError: DICOMDecodingError?
        if let bytes = assembled.dataSetBytes {
            transferSyntax = self.transferSyntax(for: assembled.presentationContextID, dataSet: bytes, time: time,
                                                 sender: sender, events: &events)
            if let ts = transferSyntax {
                do throws(DICOMDecodingError) {
                    var body = bytes
                    if ts.isDeflated {
                        body = try Deflate.inflate(bytes, maxSize: configuration.decodingOptions.maxInflatedSize, offset: 0)
                    }
                    let decoder = DatasetDecoder(options: configuration.decodingOptions)
                    if configuration.decodesDataSets {
                        decodedDataSet = try decoder.decode(body, encoding: ts.encoding)
                    } else {
                        try decoder.validate(body, encoding: ts.encoding)
                        deferredDataSet = (body, configuration.decodingOptions)
                    }
                } catch {
                    dataSetError = error
                    events.append(record(Finding(.dataSetNotDecodable, .error,
                                                 "\(assembled.command.commandField?.description ?? "message") data set: \(error)",
                                                 time: time, sender: sender, streamOffset: streamOffset)))
                }
            }
        }
        return ObservedMessage(sender: sender, presentationContextID: assembled.presentationContextID,
                               command: assembled.command, commandBytes: assembled.commandBytes,
                               dataSetBytes: assembled.dataSetBytes, firstFragmentTime: firstFragment, time: time,
                               packet: currentPacket, dataSetLost: dataSetLost, transferSyntax: transferSyntax,
                               decodedDataSet: decodedDataSet, deferredDataSet: deferredDataSet, dataSetError: dataSetError)
    }

    /// Files a completed message: pairs it with its request or response, checks it, reports it.
    /// It is consumed: the exchange it goes to takes it without a copy (unless events are kept).
    private mutating func file(_ message: consuming ObservedMessage, from sender: PeerRole, at time: Timestamp,
                               streamOffset: Int, into events: inout [ObservationEvent]) {
        let field = message.commandField
        var exchangeIndex: Int?
        if case .cCancelRequest = message.command {
            let id = message.messageIDBeingRespondedTo ?? 0
            if let index = open[OpenKey(sender: sender, messageID: id)] {
                exchanges[index].cancel = message
                exchangeIndex = index
            } else {
                events.append(record(Finding(.responseToUnknownMessage, .warning,
                                             "C-CANCEL-RQ for message \(id), which has no open request", time: time,
                                             sender: sender, streamOffset: streamOffset)))
            }
        } else if field?.isRequest ?? false, let id = message.messageID {
            let key = OpenKey(sender: sender, messageID: id)
            if open[key] != nil {
                events.append(record(Finding(.duplicateMessageID, .error,
                                             "\(field!) reuses message ID \(id) while an earlier request with it is still open",
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
            let index = exchanges.count
            if configuration.emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
            exchanges.append(Exchange(index: index, request: consume message))
            open[key] = index
            checkRequest(index, time: time, into: &events)
            return
        } else if let field, field.isResponse {
            let id = message.messageIDBeingRespondedTo ?? 0
            let key = OpenKey(sender: sender.other, messageID: id)
            if let index = open[key] {
                exchangeIndex = index
                if configuration.emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
                let status = message.status
                exchanges[index].responses.append(consume message)
                checkResponse(index, status: status, time: time, into: &events)
                if status?.category.isFinal ?? true {
                    open[key] = nil
                    events.append(.exchangeCompleted(index))
                }
                return
            } else {
                events.append(record(Finding(.responseToUnknownMessage, .error,
                                             "\(field) responds to message \(id), which the \(sender.other) never sent (or was already answered)",
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
        } else {
            events.append(record(Finding(.commandNotDecodable, .warning,
                                         "command field 0x\(String(message.command.rawCommandField, radix: 16)) is not a DIMSE command",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        if configuration.emitsEvents { events.append(.message(message, exchangeIndex: exchangeIndex)) }
    }

    /// Checks the request of `exchanges[index]` (read in place: no copy of the exchange).
    private mutating func checkRequest(_ index: Int, time: Timestamp, into events: inout [ObservationEvent]) {
        guard exchanges[index].request.commandField == .cFindRequest,
              let sop = exchanges[index].sopClassUID, RelevantPatientInformationQuery.isSOPClass(sop),
              let identifier = exchanges[index].request.dataSet else { return }
        if identifier[RelevantPatientInformationQuery.contentTemplateSequence] == nil {
            events.append(record(Finding(.missingContentTemplateSequence, .error,
                                         "Relevant Patient Information query without Content Template Sequence (0040,A504): "
                                         + "the SCP should answer 0xA900 (PS3.4 Q.2.1.1.3)",
                                         time: time, sender: exchanges[index].request.sender, exchangeIndex: index)))
        }
    }

    /// Checks the response just appended to `exchanges[index]` (read in place), whose status is `status`.
    private mutating func checkResponse(_ index: Int, status: DIMSEStatus?, time: Timestamp,
                                        into events: inout [ObservationEvent]) {
        guard let status, let service = exchanges[index].service, let last = exchanges[index].responses.indices.last else { return }
        let sop = exchanges[index].sopClassUID
        let sender = exchanges[index].responses[last].sender
        // `status` was looked up for the response's own service and SOP class: when they are the
        // request's (always, but for a mismatched response) its `isDefined` is the answer.
        let response = (field: exchanges[index].responses[last].commandField, sop: exchanges[index].responses[last].sopClassUID)
        let defined = response.field?.service == service && response.sop == sop ? status.isDefined
            : status.isDefined(for: service, sopClassUID: sop)
        if !defined {
            events.append(record(Finding(.statusNotDefinedForService, .warning,
                                         "status \(status) is not defined for \(service)"
                                         + (sop.flatMap { UIDRegistry.name(for: $0) }.map { " (\($0))" } ?? ""),
                                         time: time, sender: sender, exchangeIndex: index)))
        }
        if service == .cFind {
            let isRPI = sop.map(RelevantPatientInformationQuery.isSOPClass) ?? false
            let hasDataSet = exchanges[index].responses[last].dataSetBytes != nil
            if status.category.isFinal && hasDataSet {
                events.append(record(Finding(.finalResponseWithDataSet, .warning,
                                             "final C-FIND-RSP (\(status.description)) carries a data set; "
                                             + "PS3.4 C.4.1.1.4 says only pending responses do. It is not counted as a match",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
            if status.category == .pending && !hasDataSet && !exchanges[index].responses[last].dataSetLost {
                events.append(record(Finding(.pendingResponseWithoutDataSet, .error,
                                             "pending C-FIND-RSP without an identifier",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
            if isRPI, status.category == .pending,
               exchanges[index].responses.reduce(0, { $0 + ($1.status?.category == .pending ? 1 : 0) }) == 2 {
                events.append(record(Finding(.multiplePendingResponses, .error,
                                             "more than one pending response to a Relevant Patient Information query: "
                                             + "PS3.4 Annex Q allows one match; with more the SCP must answer 0xC100",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
        }
    }

    private mutating func record(_ finding: Finding) -> ObservationEvent {
        var finding = finding
        if finding.packet == nil { finding.packet = currentPacket }
        findings.append(finding)
        return .finding(finding)
    }
}

/// Guesses the dataset encoding of a data set seen without its negotiation (a capture that
/// starts mid-association): deflated if it inflates, else explicit VR when the first
/// element carries a valid VR code, else implicit; little endian unless the group number
/// reads sensibly only as big endian.
public enum TransferSyntaxInference {
    public static func infer(_ bytes: ByteBuffer) -> TransferSyntax? {
        guard bytes.readableBytes >= 8 else { return bytes.readableBytes == 0 ? .implicitVRLittleEndian : nil }
        let candidates: [TransferSyntax] = [.explicitVRLittleEndian, .implicitVRLittleEndian, .explicitVRBigEndian]
        for ts in candidates where (try? DatasetDecoder(options: .lenient).validate(bytes, encoding: ts.encoding)) != nil {
            // Explicit VR bytes decode as implicit only by accident; the order above prefers explicit.
            return ts
        }
        if let inflated = try? Deflate.inflate(bytes, maxSize: 64 << 20, offset: 0),
           (try? DatasetDecoder(options: .lenient).validate(inflated, encoding: .explicitLittleEndian)) != nil {
            return .deflatedExplicitVRLittleEndian
        }
        return nil
    }
}

/// (sender of the request, message ID): the key of an open request.
struct OpenKey: Hashable, Sendable {
    var sender: PeerRole
    var messageID: UInt16
}

/// The open requests of an association, key → exchange index. A peer has one or a few
/// requests open at a time, so they are kept in an array searched linearly (no hashing per
/// message); past `linearLimit` entries (asynchronous operations, requests never answered)
/// a dictionary takes over so that lookups stay O(1).
struct OpenRequests: Sendable {
    private var entries: [(key: OpenKey, index: Int)] = []
    private var table: [OpenKey: Int]?
    static let linearLimit = 16

    init() {}

    subscript(key: OpenKey) -> Int? {
        get {
            if let table { return table[key] }
            return entries.first { $0.key == key }?.index
        }
        set {
            if table != nil {
                table![key] = newValue
                return
            }
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].index = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
                if entries.count > Self.linearLimit {
                    table = Dictionary(entries.map { ($0.key, $0.index) }, uniquingKeysWith: { _, new in new })
                    entries = []
                }
            }
        }
    }

    /// The open requests in the order of their exchanges.
    func sortedByExchange() -> [(key: OpenKey, index: Int)] {
        if let table { return table.map { (key: $0.key, index: $0.value) }.sorted { $0.index < $1.index } }
        return entries.sorted { $0.index < $1.index }
    }

    mutating func removeAll() {
        entries = []
        table = nil
    }
}

/// A set of presentation context IDs (0–255) as 256 bits.
struct ContextIDSet: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    init(_ ids: some Sequence<UInt8>) {
        for id in ids { insert(id) }
    }

    mutating func insert(_ id: UInt8) {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ id: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }
}

/// When the first fragment of the message in progress on each presentation context arrived:
/// a few pairs searched linearly (one context is in progress at a time in practice), not a
/// dictionary hashed three times per PDV.
struct FragmentStartTimes: Sendable {
    private var entries: [(id: UInt8, time: Timestamp)] = []

    subscript(id: UInt8) -> Timestamp? {
        get { entries.first { $0.id == id }?.time }
        set {
            if let i = entries.firstIndex(where: { $0.id == id }) {
                if let newValue { entries[i].time = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((id, newValue))
            }
        }
    }
}

/// A value for each peer: stored fields, no hashing on the per-packet path.
struct PerRole<Value: Sendable>: Sendable {
    var requestor: Value
    var acceptor: Value

    init(_ value: Value) {
        requestor = value
        acceptor = value
    }

    subscript(role: PeerRole) -> Value {
        get { role == .requestor ? requestor : acceptor }
        _modify {
            if role == .requestor { yield &requestor } else { yield &acceptor }
        }
        set {
            if role == .requestor { requestor = newValue } else { acceptor = newValue }
        }
    }
}
