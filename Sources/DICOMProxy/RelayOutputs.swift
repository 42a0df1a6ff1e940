import DICOMCore
import DICOMInspect
import DICOMMetrics
import enum DICOMNetwork.TLSHandshakeOutcome
import struct DICOMNetwork.TLSSessionInfo
import DICOMRewrite
import DICOMUL
import Logging
import NIOCore

/// One relayed association's outputs: its `AssociationLog` (observer, text log, `events.jsonl`),
/// the console lines (`logger`), and the name of its recording. What they may show of the
/// peers' bytes is `SecretMasking`'s to say. Confined to the relay's event loop.
final class RelayOutputs {
    let log: AssociationLog
    let logger: Logger
    private let configuration: ProxyConfiguration
    private let masking: SecretMasking
    private let recorder: AssociationRecorder?
    /// Peers that closed their connection while the association was open, reported once each.
    private var closedMidAssociation: Set<PeerRole> = []
    /// The TLS sessions of the legs that speak TLS (the recording holds their decrypted stream).
    private var tlsSessions: [PeerRole: TLSSessionInfo] = [:]
    /// The upstream leg is to speak TLS (known before its handshake ends).
    var upstreamTLS = false
    /// Counted as an active association in the metrics (from its A-ASSOCIATE-AC to the end).
    private var countedActive = false

    init(id: String, start: Timestamp, client: String, observer: AssociationObserver.Configuration, shared: ProxyShared,
         logger: Logger, recorder: AssociationRecorder?) {
        configuration = shared.configuration
        log = AssociationLog(id: id, start: start, client: client, observer: observer,
                             text: shared.configuration.textLogOptions, directory: shared.configuration.logDirectory,
                             events: shared.events, actionField: "proxyAction", pages: shared.pages) { problem in logger.info("\(problem)") }
        self.logger = logger
        masking = SecretMasking(shared.configuration)
        self.recorder = recorder
    }

    var info: AssociationInfo { log.info }

    // MARK: The association's course

    /// The A-ASSOCIATE-RQ arrived: routed to `upstream`, or refused (`refused`).
    func associationRequested(upstream: ProxyEndpoint?, refused: RelayCloseReason? = nil) {
        log.server = upstream.map { "\($0)" }
        let calling = info.callingAETitle ?? "?"
        let called = info.calledAETitle ?? "?"
        let via: String
        switch refused {
        case .callingAETitleNotAllowed?: via = "(not allowed)"
        case .associationLimit?: via = "(over the association limit)"
        case .maximumLengthTooSmall?: via = "(maximum PDU length too small)"
        default: via = upstream.map { "via \($0)" } ?? "via (no route)"
        }
        logger.info("ASSOCIATE  \(log.client)  \"\(calling)\" -> \"\(called)\"  \(via)")
        openFiles()
        log.writeStart()
    }

    /// Names and opens the text log and the recording (once the AE titles are known, or at the end).
    func openFiles() {
        guard !log.isNamed else { return }
        if let directory = configuration.recordDirectory {
            // A leg over TLS: the recording is its decrypted stream, and its name says so.
            let decrypted = !tlsSessions.isEmpty || upstreamTLS
            recorder?.open(directory: directory, stem: log.fileStem + (decrypted ? "-decrypted" : ""))
        }
        log.nameTextFile()
    }

    /// The association is over: what the connections' end shows, the END line, `association-end`.
    func finish(at end: Timestamp, closeReason: RelayCloseReason?) {
        emit(log.connectionClosed(at: end))
        // A connection that never sent an A-ASSOCIATE-RQ (closed by ARTIM, to make room, or by the client: port
        // scans, TCP health checks) leaves no text log, recording or page, only its events: files for it would grow
        // the log folder with every probe. Bytes that were not an A-ASSOCIATE-RQ are kept (their dump is the point).
        let withFiles: Bool
        switch closeReason {
        case .noAssociateRequest?: withFiles = false
        case nil: withFiles = info.requestTime != nil
        default: withFiles = true
        }
        if withFiles { openFiles() }
        let outcome: String?
        switch closeReason {
        case .noRoute?, .callingAETitleNotAllowed?, .upstreamUnreachable?, .upstreamNotAnswering?, .associationLimit?,
             .maximumLengthTooSmall?:
            outcome = "rejected by the proxy (\(closeReason?.code.rawValue ?? ""))"
        case .noAssociateRequest?:
            outcome = "closed by the proxy (\(closeReason?.code.rawValue ?? ""))"
        case .unexpectedFirstPDU?, .malformedPDU?, .idle?, .shutdown?, .cannotRewrite?:
            outcome = "aborted by the proxy (\(closeReason?.code.rawValue ?? ""))"
        case nil:
            outcome = nil
        }
        let line = log.end(at: end, outcome: outcome, reason: closeReason?.description, withFiles: withFiles)
        logger.info("\(line)")
        if countedActive {
            countedActive = false
            configuration.metrics?.associationEnded()
        }
    }

    /// A peer's connection closed while the association was open and the proxy was not closing it: says so.
    func noteCloseMidAssociation(by role: PeerRole) {
        guard !closedMidAssociation.contains(role) else { return }
        switch info.outcome {
        case .established, .releaseRequested:
            break
        case .negotiating, .rejected, .released, .aborted, .connectionClosed, .openAtCaptureEnd, .unknownStart:
            return
        }
        closedMidAssociation.insert(role)
        let who = role == .acceptor ? "the upstream SCP (\(log.server ?? "?"))" : "the SCU (\(log.client))"
        note(Finding(.peerClosedConnection, .warning,
                     "\(who) closed its connection in the middle of the association, without A-RELEASE or A-ABORT; "
                     + "the close is passed on to the \(role == .acceptor ? "SCU" : "upstream")",
                     time: Timestamp.wallClock(), sender: role))
    }

    // MARK: Observations and findings

    /// A PDU as the observer gets it (on the SCP's leg), in the metrics: its bytes, the outcome it carries, and the
    /// association active from its A-ASSOCIATE-AC.
    func count(_ observed: ObservedPDU, from role: PeerRole) {
        guard let metrics = configuration.metrics else { return }
        metrics.pdu(observed.pdu, sender: role, length: pduHeaderLength + observed.bodyLength)
        if case .associateAccept = observed.pdu, !countedActive {
            countedActive = true
            metrics.associationStarted()
        }
    }

    /// The proxy's own A-ASSOCIATE-RJ to the SCU, in rejected_total with its numbers as an SCP's is (not in the
    /// bytes of the SCP's leg: it never went there).
    func countOwnReject(_ rj: AssociateReject) {
        configuration.metrics?.rejected(rj)
    }

    /// The observer's events, to the text log, `events.jsonl` and the console.
    func emit(_ events: [ObservationEvent]) {
        log.write(events)
        for event in events {
            configuration.metrics?.record(event)
            switch event {
            case .pdu(let pdu, let sender, _, _, let length):
                logger.debug("\(ProxyEventFormat.pduLine(pdu, sender: sender, length: length))")
            case .message(let message, _):
                logger.debug("\(ProxyEventFormat.messageLine(message))")
                if message.dataSet != nil {
                    logger.trace("\(configuration.redactIdentifiers ? "    (data set not shown: --redact-identifiers)" : dataSetDump(message))")
                }
            case .exchangeEnded(let exchange):
                // One still open when the association ended is reported by its finding.
                if exchange.isComplete {
                    logger.info("\(ProxyEventFormat.exchangeLine(exchange, redactingIdentifiers: configuration.redactIdentifiers))")
                }
            case .finding(let finding):
                // Values a finding quotes ('...') may be identifiers: not on a redacted console.
                let message = configuration.redactIdentifiers ? redactingQuotedValues(finding.message) : finding.message
                if finding.severity >= .warning {
                    logger.info("!! \(finding.severity) \(finding.code): \(message)")
                } else {
                    logger.debug("\(finding.severity) \(finding.code): \(message)")
                }
            }
        }
    }

    private func dataSetDump(_ message: ObservedMessage) -> String {
        var options = AnnotatedDumpRenderer.Options(allDataSets: true)
        options.dataset = TextDumpRenderer.Options()
        let lines = AnnotatedDumpRenderer(options: options, origin: log.start).render(message, info: info)
        return lines.dropFirst().joined(separator: "\n")
    }

    /// A leg's TLS handshake ended: its session (version, suite, the peer's certificate) or the reason it failed, in
    /// words, to the console, the text log and `events.jsonl`.
    func tlsHandshake(_ outcome: TLSHandshakeOutcome, leg: PeerRole) {
        let peer = leg == .requestor ? "SCU \(log.client)" : "SCP \(log.server ?? "?")"
        let time = Timestamp.wallClock()
        switch outcome {
        case .established(let session):
            tlsSessions[leg] = session
            logger.info("TLS  \(peer): \(session)")
            log.writeLine("TLS \(peer): \(session)", at: time)
            log.writeEvent(log.format.tls(session, leg: leg, time: time))
        case .failed(let failure):
            logger.info("TLS  \(peer): handshake failed: \(failure.reason)")
            log.writeLine("TLS \(peer): handshake failed: \(failure.reason)", at: time)
            log.writeEvent(log.format.tlsFailure(failure.reason, leg: leg, peer: peer, time: time))
        }
    }

    /// A finding of the proxy's own, to every output.
    func note(_ finding: Finding, rawBytes: ByteBuffer? = nil) {
        log.write(finding, rawBytes: rawBytes)
        let hexLines = rawBytes.map { "\n" + hexDump($0).joined(separator: "\n") } ?? ""
        logger.info("!! \(finding.severity) \(finding.code): \(finding.message)\(hexLines)")
    }

    /// Why the proxy refused or ended the association, as its finding.
    func note(_ reason: RelayCloseReason) {
        count(reason)
        let time = Timestamp.wallClock()
        switch reason {
        case .noRoute: note(Finding(.noRoute, .error, reason.description, time: time))
        case .callingAETitleNotAllowed:
            note(Finding(.callingAETitleNotAllowed, .error, reason.description, time: time, sender: .requestor))
        case .upstreamUnreachable: note(Finding(.upstreamUnreachable, .error, reason.description, time: time))
        case .upstreamNotAnswering: note(Finding(.upstreamNotAnswering, .error, reason.description, time: time))
        case .unexpectedFirstPDU: note(Finding(.unexpectedFirstPDU, .error, reason.description, time: time, sender: .requestor))
        case .idle: note(Finding(.idleTimeout, .warning, reason.description, time: time))
        case .shutdown: note(Finding(.shutdownAbort, .warning, reason.description, time: time))
        case .cannotRewrite: note(Finding(.cannotRewrite, .error, reason.description, time: time, sender: .requestor))
        case .associationLimit: note(Finding(.associationLimit, .warning, reason.description, time: time))
        case .maximumLengthTooSmall(_, _, let from):
            note(Finding(.maximumPDULengthTooSmall, .error, reason.description, time: time, sender: from))
        case .noAssociateRequest:
            // One console line per connection (a flood of them is what this is about), the finding in the files.
            log.write(Finding(.noAssociateRequest, .warning, reason.description, time: time, sender: .requestor))
            logger.info("closed: \(reason)")
        case .malformedPDU:
            break  // reported with its bytes where it was found
        }
    }

    /// The proxy's refusals and upstream failures, in the metrics.
    private func count(_ reason: RelayCloseReason) {
        guard let metrics = configuration.metrics else { return }
        switch reason {
        case .noRoute: metrics.refused(.noRoute)
        case .callingAETitleNotAllowed: metrics.refused(.notAllowed)
        case .upstreamUnreachable(let why):
            metrics.refused(.upstreamUnreachable)
            metrics.upstreamFailed(why.contains("timed out") ? .timeout : why.contains("refused") ? .refused : .other)
        case .upstreamNotAnswering:
            metrics.refused(.upstreamUnreachable)
            metrics.upstreamFailed(.timeout)
        case .associationLimit: metrics.refused(.limit)
        case .noAssociateRequest: metrics.refused(.idle)
        case .maximumLengthTooSmall: metrics.refused(.maximumPDULengthTooSmall)
        case .unexpectedFirstPDU, .malformedPDU, .idle, .shutdown, .cannotRewrite:
            break
        }
    }

    /// The framer refused a PDU header (unknown PDU type or over the length bound): the finding,
    /// and its description as the outputs may show it (returned). With rewriting on, the SCU's
    /// bytes may hold original identifiers: only offsets and lengths are said, not the bytes
    /// (unless `logOriginals`).
    func cannotFrame(_ error: PDUDecodingError, from role: PeerRole) -> String {
        let text = masking.describe(error, from: role)
        let finding = Finding(.malformedPDU, .error, "cannot frame the \(role)'s stream: \(text)", time: Timestamp.wallClock(),
                              sender: role, streamOffset: error.offset)
        note(finding, rawBytes: error.rawBytes.flatMap { masking.shownBytes($0, from: role) })
        return text
    }

    /// The bytes of a PDU that does not decode, as far as the outputs may show them (`SecretMasking`).
    func logRawBytes(_ bytes: ByteBuffer, from role: PeerRole) {
        guard let bytes = masking.shownBytes(bytes, from: role) else { return }
        let dump = hexDump(bytes)
        log.writeText(["    raw bytes from the \(role):"] + dump.map { "    " + $0 })
        log.writeEvent(log.format.object(type: "raw-bytes", time: Timestamp.wallClock(), [
            ("sender", .string(role.rawValue)), ("bytes", .string(hexString(bytes))),
        ]))
        if configuration.redactIdentifiers {
            logger.info("malformed PDU from the \(role): \(bytes.readableBytes) bytes (their hex dump is in the text log only: --redact-identifiers)")
        } else {
            logger.info("malformed PDU from the \(role):\n\(dump.joined(separator: "\n"))")
        }
    }

    // MARK: Rewriting

    /// The rewriter's notes to the outputs. Originals only with `logOriginals`; otherwise only
    /// the values on the SCP's side.
    func report(_ result: AssociationRewriter.DataResult, from role: PeerRole, at now: Timestamp) {
        configuration.metrics?.rewrote(result.notes.count { [.rewritten, .removed, .restored, .added, .emptied].contains($0.kind) })
        for item in result.notes {
            let name = "\(item.path) \(item.attributeName)"
            switch item.kind {
            case .unknownPseudonym:
                note(Finding(.unknownPseudonym, .warning,
                             "\(name) '\(item.before)' from the SCP is not a value this proxy issued; passed through unchanged",
                             time: now, sender: .acceptor))
            case .notRestored:
                note(Finding(.rewriteProblem, .warning, "\(name) '\(item.before)' not mapped back: \(item.detail ?? "")",
                             time: now, sender: .acceptor))
            case .emptied:
                note(Finding(.rewriteProblem, .warning, "\(name) emptied on its way to the SCP: \(item.detail ?? "")",
                             time: now, sender: .requestor))
            case .widened:
                note(Finding(.queryWidened, .warning, "\(name): \(item.detail ?? "sent as universal matching")",
                             time: now, sender: .requestor))
            case .added:
                let line = "ADD \(name): \(item.after) (\(item.detail ?? ""))"
                logger.debug("\(line)")
                log.writeLine(line, at: now)
            case .rewritten, .removed, .restored:
                let verb = item.kind == .restored ? "RESTORE" : item.kind == .removed ? "REMOVE" : "REWRITE"
                let line: String
                if item.kind == .removed {
                    line = "\(verb) \(name)" + (configuration.logOriginals ? ": was '\(item.before)'" : "")
                } else if configuration.logOriginals {
                    line = "\(verb) \(name): '\(item.before)' -> '\(item.after)'"
                } else if item.kind == .restored {
                    line = "\(verb) \(name): '\(item.upstreamValue)' -> (original)"
                } else {
                    line = "\(verb) \(name): (original) -> '\(item.upstreamValue)'"
                }
                if configuration.logOriginals { logger.info("\(line)") } else { logger.debug("\(line)") }
                log.writeLine(line, at: now)
            }
        }
        for problem in result.problems {
            note(Finding(.rewriteProblem, .warning, "sent on unchanged: \(problem)", time: now, sender: role))
        }
    }
}
