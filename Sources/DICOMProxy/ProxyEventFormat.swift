import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// The proxy's own findings (same shape as the observer's, so they go to the same outputs).
extension Finding.Code {
    /// No `--route` for the called AE title and no default upstream: A-ASSOCIATE-RJ 1/1/7.
    public static let noRoute = Finding.Code(rawValue: "no-route")
    /// The upstream refused or did not take the TCP connection: A-ASSOCIATE-RJ 2/3/1.
    public static let upstreamUnreachable = Finding.Code(rawValue: "upstream-unreachable")
    /// The upstream did not answer the A-ASSOCIATE-RQ within the connect timeout: A-ASSOCIATE-RJ 2/3/1.
    public static let upstreamNotAnswering = Finding.Code(rawValue: "upstream-not-answering")
    /// The SCU's first PDU was not an A-ASSOCIATE-RQ: A-ABORT 2/2.
    public static let unexpectedFirstPDU = Finding.Code(rawValue: "unexpected-first-pdu")
    /// No PDU either way within the idle timeout: A-ABORT 2/0 to both peers.
    public static let idleTimeout = Finding.Code(rawValue: "idle-timeout")
    /// Still open when the shutdown grace period ended: A-ABORT 2/0 to both peers.
    public static let shutdownAbort = Finding.Code(rawValue: "aborted-on-shutdown")
    /// With rewriting on, a message towards the SCP could not be rewritten: not forwarded, A-ABORT 2/0 to both peers.
    public static let cannotRewrite = Finding.Code(rawValue: "cannot-rewrite")
    /// With rewriting on, the SCP sent a value in a pseudonymized (or mapped) attribute that
    /// the proxy never issued: passed through unchanged.
    public static let unknownPseudonym = Finding.Code(rawValue: "unknown-pseudonym")
    /// With rewriting on, a message towards the SCU could not be rewritten (or mapped back) and went on unchanged.
    public static let rewriteProblem = Finding.Code(rawValue: "rewrite-problem")
}

/// One-line texts for the console and the JSON-lines objects of `events.jsonl`.
///
/// Every JSON-lines object has `association`, `time` and `type` (`association-start`, `pdu`,
/// `message`, `exchange`, `finding`, `association-end`); the other fields carry the names of
/// the `analyze --format json` contract (`AssociationJSON`), whose exchange and finding
/// objects are reused as they are.
struct ProxyEventFormat {
    let associationID: String
    let json = AssociationJSON()

    // MARK: Console

    static func statusText(_ status: DIMSEStatus) -> String {
        let category = status.category.description
        let code = DICOMInspect.statusText(status.code)
        return status.meaning.lowercased() == category.lowercased() ? "\(code) \(category)" : "\(code) \(category): \(status.meaning)"
    }

    /// The patient an exchange is about: the request's Patient ID, else the first match's.
    static func patientID(_ exchange: Exchange) -> String? {
        let tag = Tag(0x0010_0020)
        if let id = exchange.request.dataSet?[tag]?.string(), !id.isEmpty { return id }
        for response in exchange.responses {
            if let id = response.dataSet?[tag]?.string(), !id.isEmpty { return id }
        }
        return nil
    }

    /// `C-FIND msg 1  patient 1234567  0x0000 Success  1 match  2.315 ms`.
    static func exchangeLine(_ ex: Exchange) -> String {
        var parts = ["\(ex.service?.rawValue ?? "?") msg \(ex.messageID)"]
        if let id = patientID(ex) { parts.append("patient \(id)") }
        parts.append(ex.finalResponse?.status.map(statusText) ?? "no final response")
        if ex.service == .cFind || ex.service == .cGet || ex.service == .cMove {
            parts.append("\(ex.matches.count) match\(ex.matches.count == 1 ? "" : "es")")
        }
        if ex.cancel != nil { parts.append("cancelled") }
        if let d = ex.duration { parts.append(milliseconds(d) + " ms") }
        if let sop = ex.sopClassUID { parts.append("(\(UIDRegistry.name(for: sop) ?? sop))") }
        return parts.joined(separator: "  ")
    }

    static func milliseconds(_ d: Duration) -> String {
        let ms = (d.milliseconds * 1000).rounded() / 1000
        return String(ms)
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
        if let bytes = m.dataSetBytes { line += "  data set \(bytes.readableBytes) bytes" }
        return line
    }

    // MARK: JSON lines

    func object(type: String, time: Timestamp?, _ fields: [(String, JSONValue)]) -> JSONValue {
        .object([("association", .string(associationID)),
                 ("time", time.map { .string(iso8601($0)) } ?? .null),
                 ("type", .string(type))] + fields)
    }

    func merged(type: String, time: Timestamp?, _ value: JSONValue) -> JSONValue {
        guard case .object(let fields) = value else { return object(type: type, time: time, [("value", value)]) }
        return object(type: type, time: time, fields.filter { $0.0 != "time" })
    }

    func start(time: Timestamp, client: String, server: String, info: AssociationInfo) -> JSONValue {
        object(type: "association-start", time: time, [
            ("client", .string(client)),
            ("server", .string(server)),
            ("callingAETitle", info.callingAETitle.map(JSONValue.string) ?? .null),
            ("calledAETitle", info.calledAETitle.map(JSONValue.string) ?? .null),
        ])
    }

    func end(time: Timestamp, start: Timestamp, client: String, server: String?, observer: AssociationObserver,
             reason: String?) -> JSONValue {
        let info = observer.info
        var fields: [(String, JSONValue)] = [
            ("client", .string(client)),
            ("server", server.map(JSONValue.string) ?? .null),
            ("callingAETitle", info.callingAETitle.map(JSONValue.string) ?? .null),
            ("calledAETitle", info.calledAETitle.map(JSONValue.string) ?? .null),
            ("startTime", .string(iso8601(start))),
            ("endTime", .string(iso8601(time))),
            ("durationMs", .double(((time - start).milliseconds * 1000).rounded() / 1000)),
            ("outcome", .string(outcomeName(info.outcome))),
            ("outcomeDescription", .string(info.outcome.description)),
            ("exchanges", .int(observer.exchanges.count)),
            ("findings", .int(observer.findings.count)),
        ]
        fields.append(("proxyAction", reason.map(JSONValue.string) ?? .null))
        return object(type: "association-end", time: time, fields)
    }

    func event(_ event: ObservationEvent, observer: AssociationObserver) -> JSONValue? {
        switch event {
        case .pdu(let pdu, let sender, let time, let offset, let length):
            return object(type: "pdu", time: time, [
                ("sender", .string(sender.rawValue)),
                ("pduType", .string(pdu.type.description)),
                ("length", .int(length)),
                ("streamOffset", .int(offset)),
            ] + pduFields(pdu))
        case .message(let m, let index):
            var fields: [(String, JSONValue)] = [
                ("sender", .string(m.sender.rawValue)),
                ("command", .string(m.command.commandField?.description ?? "0x" + String(m.command.rawCommandField, radix: 16))),
                ("presentationContextID", .int(m.presentationContextID)),
                ("messageID", m.command.messageID.map { .int($0) } ?? .null),
                ("messageIDBeingRespondedTo", m.command.messageIDBeingRespondedTo.map { .int($0) } ?? .null),
                ("sopClassUID", m.sopClassUID.map(JSONValue.string) ?? .null),
                ("status", m.status.map { .string(DICOMInspect.statusText($0.code)) } ?? .null),
                ("statusDescription", m.status.map { .string($0.description) } ?? .null),
                ("exchange", index.map { .int($0) } ?? .null),
                ("dataSetBytes", m.dataSetBytes.map { .int($0.readableBytes) } ?? .null),
            ]
            if let ds = m.dataSet, m.commandField?.service != .cStore {
                fields.append(("identifier", DICOMJSONRenderer().render(ds)))
            }
            return object(type: "message", time: m.time, fields)
        case .exchangeCompleted(let index):
            guard observer.exchanges.indices.contains(index) else { return nil }
            let ex = observer.exchanges[index]
            var value = json.exchange(ex)
            if case .object(let fields) = value {
                value = .object([("index", .int(index))] + fields)
            }
            return merged(type: "exchange", time: ex.finalResponseTime ?? ex.request.time, value)
        case .finding(let f):
            return merged(type: "finding", time: f.time, json.finding(f))
        }
    }

    func finding(_ f: Finding, rawBytes: ByteBuffer?) -> JSONValue {
        var value = merged(type: "finding", time: f.time, json.finding(f))
        if let rawBytes, case .object(var fields) = value {
            fields.append(("rawBytes", .string(hex(rawBytes))))
            value = .object(fields)
        }
        return value
    }

    func pduFields(_ pdu: PDU) -> [(String, JSONValue)] {
        switch pdu {
        case .associateRequest(let rq):
            return [
                ("callingAETitle", .string(rq.fields.callingAETitle.value)),
                ("calledAETitle", .string(rq.fields.calledAETitle.value)),
                ("maxPDULength", rq.fields.maximumLength.map { .int($0) } ?? .null),
                ("presentationContexts", .array(rq.presentationContexts.map { pc in
                    .object([
                        ("id", .int(pc.contextID)),
                        ("abstractSyntax", pc.abstractSyntax.map(JSONValue.string) ?? .null),
                        ("abstractSyntaxName", pc.abstractSyntax.flatMap { UIDRegistry.name(for: $0) }.map(JSONValue.string) ?? .null),
                        ("proposedTransferSyntaxes", .array(pc.transferSyntaxes.map(JSONValue.string))),
                    ])
                })),
            ]
        case .associateAccept(let ac):
            return [
                ("callingAETitle", .string(ac.fields.callingAETitle.value)),
                ("calledAETitle", .string(ac.fields.calledAETitle.value)),
                ("maxPDULength", ac.fields.maximumLength.map { .int($0) } ?? .null),
                ("presentationContexts", .array(ac.presentationContexts.map { pc in
                    .object([
                        ("id", .int(pc.contextID)),
                        ("result", .string(Self.resultName(pc.result))),
                        ("transferSyntax", pc.transferSyntax.map(JSONValue.string) ?? .null),
                    ])
                })),
            ]
        case .associateReject(let rj):
            return [("reject", .object([("result", .int(rj.result.rawValue)), ("source", .int(rj.source.rawValue)),
                                       ("reason", .int(rj.reason)), ("description", .string(rj.description))]))]
        case .abort(let a):
            return [("abort", .object([("source", .int(a.source.rawValue)), ("reason", .int(a.reason.rawValue)),
                                      ("description", .string(a.description))]))]
        case .dataTransfer(let p):
            return [("pdvs", .array(p.items.map { pdv in
                .object([
                    ("presentationContextID", .int(pdv.presentationContextID)),
                    ("command", .bool(pdv.messageControlHeader.isCommand)),
                    ("last", .bool(pdv.messageControlHeader.isLastFragment)),
                    ("bytes", .int(pdv.fragment.readableBytes)),
                ])
            }))]
        case .releaseRequest, .releaseResponse:
            return []
        }
    }

    /// The presentation context result names of the analyze contract (PS3.8 Table 9-18).
    static func resultName(_ r: PresentationContextResult) -> String {
        switch r.rawValue {
        case 0: return "acceptance"
        case 1: return "user-rejection"
        case 2: return "no-reason"
        case 3: return "abstract-syntax-not-supported"
        case 4: return "transfer-syntaxes-not-supported"
        default: return "unknown-\(r.rawValue)"
        }
    }
}

func hex(_ buffer: ByteBuffer) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(buffer.readableBytes * 2)
    buffer.withUnsafeReadableBytes { bytes in
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
    }
    return String(decoding: out, as: UTF8.self)
}
