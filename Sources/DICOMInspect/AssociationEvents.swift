import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// The JSON-lines objects of `events.jsonl`, written by the proxy and by replay (moved here
/// from DICOMProxy so both tools share one format).
///
/// Every JSON-lines object has `association`, `time` and `type` (`association-start`, `pdu`,
/// `message`, `exchange`, `finding`, `association-end`); the other fields carry the names of
/// the `analyze --format json` contract (`AssociationJSON`), whose exchange and finding
/// objects are reused as they are.
public struct AssociationEventFormat: Sendable {
    public let associationID: String
    let json = AssociationJSON()

    public init(associationID: String) { self.associationID = associationID }

    public func object(type: String, time: Timestamp?, _ fields: [(String, JSONValue)]) -> JSONValue {
        .object([("association", .string(associationID)),
                 ("time", time.map { .string(iso8601($0)) } ?? .null),
                 ("type", .string(type))] + fields)
    }

    public func merged(type: String, time: Timestamp?, _ value: JSONValue) -> JSONValue {
        guard case .object(let fields) = value else { return object(type: type, time: time, [("value", value)]) }
        return object(type: type, time: time, fields.filter { $0.0 != "time" })
    }

    public func start(time: Timestamp, client: String, server: String, info: AssociationInfo) -> JSONValue {
        object(type: "association-start", time: time, [
            ("client", .string(client)),
            ("server", .string(server)),
            ("callingAETitle", info.callingAETitle.map(JSONValue.string) ?? .null),
            ("calledAETitle", info.calledAETitle.map(JSONValue.string) ?? .null),
        ])
    }

    /// `association-end`; `actionField` names the tool's own action field (`proxyAction`, `replayAction`), `action` its value.
    public func end(time: Timestamp, start: Timestamp, client: String, server: String?, observer: AssociationObserver,
                    reason: String?, actionField: String = "proxyAction") -> JSONValue {
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
            ("exchanges", .int(observer.exchangeCount)),
            ("findings", .int(observer.findings.count)),
        ]
        fields.append((actionField, reason.map(JSONValue.string) ?? .null))
        return object(type: "association-end", time: time, fields)
    }

    public func event(_ event: ObservationEvent, observer: AssociationObserver) -> JSONValue? {
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
                ("dataSetBytes", m.dataSetLength.map { .int($0) } ?? .null),
            ]
            if let ds = m.dataSet, m.commandField?.service != .cStore {
                fields.append(("identifier", DICOMJSONRenderer().render(ds)))
            }
            return object(type: "message", time: m.time, fields)
        case .exchangeEnded(let ex):
            // An exchange still open when the association ended is reported by its finding.
            guard ex.isComplete else { return nil }
            var value = json.exchange(ex)
            if case .object(let fields) = value {
                value = .object([("index", .int(ex.index))] + fields)
            }
            return merged(type: "exchange", time: ex.finalResponseTime ?? ex.request.time, value)
        case .finding(let f):
            return merged(type: "finding", time: f.time, json.finding(f))
        }
    }

    public func finding(_ f: Finding, rawBytes: ByteBuffer?) -> JSONValue {
        var value = merged(type: "finding", time: f.time, json.finding(f))
        if let rawBytes, case .object(var fields) = value {
            fields.append(("rawBytes", .string(hexString(rawBytes))))
            value = .object(fields)
        }
        return value
    }

    public func pduFields(_ pdu: PDU) -> [(String, JSONValue)] {
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
    public static func resultName(_ r: PresentationContextResult) -> String {
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

/// Bytes as lowercase hex digits, for `rawBytes` fields.
public func hexString(_ buffer: ByteBuffer) -> String {
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
