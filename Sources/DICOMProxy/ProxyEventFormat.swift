import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// Metadata keys the proxy sets on its log messages.
package typealias ProxyLogKey = DICOMLogKey

/// The proxy's own findings (same shape as the observer's, so they go to the same outputs).
extension Finding.Code {
    /// No `--route` for the called AE title and no default upstream: A-ASSOCIATE-RJ 1/1/7.
    package static let noRoute = Finding.Code(rawValue: "no-route")
    /// The calling AE title is not on the allow-list (or not from that address): A-ASSOCIATE-RJ 1/1/3.
    package static let callingAETitleNotAllowed = Finding.Code(rawValue: "calling-ae-not-allowed")
    /// The upstream refused or did not take the TCP connection: A-ASSOCIATE-RJ 2/3/1.
    package static let upstreamUnreachable = Finding.Code(rawValue: "upstream-unreachable")
    /// The upstream did not answer the A-ASSOCIATE-RQ within the connect timeout: A-ASSOCIATE-RJ 2/3/1.
    package static let upstreamNotAnswering = Finding.Code(rawValue: "upstream-not-answering")
    /// The SCU's first PDU was not an A-ASSOCIATE-RQ: A-ABORT 2/2.
    package static let unexpectedFirstPDU = Finding.Code(rawValue: "unexpected-first-pdu")
    /// No PDU either way within the idle timeout: A-ABORT 2/0 to both peers.
    package static let idleTimeout = Finding.Code(rawValue: "idle-timeout")
    /// Still open when the shutdown grace period ended: A-ABORT 2/0 to both peers.
    package static let shutdownAbort = Finding.Code(rawValue: "aborted-on-shutdown")
    /// With rewriting on, a message towards the SCP could not be rewritten: not forwarded, A-ABORT 2/0 to both peers.
    package static let cannotRewrite = Finding.Code(rawValue: "cannot-rewrite")
    /// With rewriting on, the SCP sent a value in a pseudonymized (or mapped) attribute that
    /// the proxy never issued: passed through unchanged.
    package static let unknownPseudonym = Finding.Code(rawValue: "unknown-pseudonym")
    /// With rewriting on, a message towards the SCU could not be rewritten (or mapped back) and went on unchanged.
    package static let rewriteProblem = Finding.Code(rawValue: "rewrite-problem")
    /// With rewriting on, a query key the SCP cannot match as sent (the rules empty or remove
    /// it, or a wildcard in a pseudonymized value) went as universal matching: the SCP may return more.
    package static let queryWidened = Finding.Code(rawValue: "query-widened")
    /// A peer closed its TCP connection while the association was open (no A-RELEASE, no A-ABORT):
    /// the close is passed on to the other peer, whose UL reports an A-P-ABORT.
    package static let peerClosedConnection = Finding.Code(rawValue: "peer-closed-connection")
    /// `--max-associations` associations were open: A-ASSOCIATE-RJ 2/3/2 (local-limit-exceeded).
    package static let associationLimit = Finding.Code(rawValue: "association-limit")
    /// A connection sent no complete A-ASSOCIATE-RQ within ARTIM (`--artim-timeout`), or had sent none when the
    /// proxy at its limit needed the place for a new connection: closed.
    package static let noAssociateRequest = Finding.Code(rawValue: "no-associate-request")
    /// With rewriting on, a peer's maximum PDU length is below `--min-max-pdu`: A-ASSOCIATE-RJ 1/1/1.
    package static let maximumPDULengthTooSmall = Finding.Code(rawValue: "max-pdu-too-small")
}

/// One-line texts for the console (the JSON-lines objects of `events.jsonl` are
/// `AssociationEventFormat`'s, in DICOMInspect, shared with replay).
enum ProxyEventFormat {
    // MARK: Console

    static func statusText(_ status: DIMSEStatus) -> String {
        let category = status.category.description
        let code = DICOMInspect.statusText(status.code)
        return status.meaning.lowercased() == category.lowercased() ? "\(code) \(category)" : "\(code) \(category): \(status.meaning)"
    }

    /// `C-FIND msg 1  patient 1234567  0x0000 Success  1 match  2.315 ms`; a retrieval says where to
    /// and its sub-operations: `C-MOVE msg 2  any patient  0x0000 Success  to STORESCP  3 completed, 0 failed, 0 warning`.
    /// The patient is the request's key (`any patient` for universal matching), never a response's
    /// value; with `redactingIdentifiers` a Patient ID is not shown.
    static func exchangeLine(_ ex: Exchange, redactingIdentifiers: Bool = false) -> String {
        var parts = ["\(ex.service?.rawValue ?? "?") msg \(ex.messageID)"]
        // Read once: it decodes the request's identifier.
        if let patient = ex.requestedPatient, patient == .any || !redactingIdentifiers { parts.append(patient.description) }
        parts.append(ex.finalResponse?.status.map(statusText) ?? "no final response")
        if let destination = ex.moveDestination { parts.append("to \(destination)") }
        if ex.service == .cFind {
            parts.append("\(ex.matchCount) match\(ex.matchCount == 1 ? "" : "es")")
        } else if let counts = ex.subOperations?.description {
            parts.append(counts)
        }
        if ex.cancel != nil { parts.append("cancelled") }
        if let d = ex.duration { parts.append(milliseconds(d) + " ms") }
        if let sop = ex.sopClassUID { parts.append("(\(UIDRegistry.name(for: sop) ?? sop))") }
        return parts.joined(separator: "  ")
    }


    static func milliseconds(_ d: Duration) -> String {
        AssociationLog.milliseconds(d)
    }

    /// One line per PDU for `--verbose`.
    static func pduLine(_ pdu: PDU, sender: PeerRole, length: Int) -> String {
        var line = "\(sender.arrow)  \(pdu.type) \(length) bytes"
        switch pdu {
        case .associateRequest(let rq):
            line += "  \"\(rq.fields.callingAETitle.value)\" -> \"\(rq.fields.calledAETitle.value)\", "
                + "\(rq.presentationContexts.count) presentation context\(rq.presentationContexts.count == 1 ? "" : "s")"
        case .associateAccept(let ac):
            let accepted = ac.presentationContexts.filter { $0.result == .acceptance }.count
            line += "  \(accepted) of \(ac.presentationContexts.count) presentation contexts accepted"
        case .associateReject(let rj):
            line += "  \(rj)"
        case .abort(let a):
            line += "  \(a)"
        case .dataTransfer(let p):
            line += ": " + p.items.map { "ctx \($0.presentationContextID) \($0.messageControlHeader) \($0.fragment.readableBytes) B" }
                .joined(separator: "; ")
        case .releaseRequest, .releaseResponse:
            break
        }
        return line
    }

    /// One line per DIMSE message for `--verbose`.
    static func messageLine(_ m: ObservedMessage) -> String {
        let c = m.command
        var line = "\(m.sender.arrow)  " + (c.commandField?.description ?? "command 0x" + String(c.rawCommandField, radix: 16))
        if let id = c.messageID { line += " msg \(id)" }
        if let id = c.messageIDBeingRespondedTo { line += " (to msg \(id))" }
        if let status = m.status { line += "  " + statusText(status) }
        if let length = m.dataSetLength { line += "  data set \(length) bytes" }
        return line
    }
}
