import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// Builds the machine-readable report of one association: the `analyze --format json`
/// contract, also used (same field names) by the proxy's JSON-lines events.
public struct AssociationJSON: Sendable {
    /// Include full data sets of C-STORE and other bulk messages (otherwise summarised).
    public var includeAllDataSets: Bool
    public init(includeAllDataSets: Bool = false) { self.includeAllDataSets = includeAllDataSets }

    public func render(index: Int, client: String, server: String, observer: AssociationObserver) -> JSONValue {
        let info = observer.info
        var obj: [(String, JSONValue)] = [
            ("index", .int(index)),
            ("client", .string(client)),
            ("server", .string(server)),
            ("callingAETitle", info.callingAETitle.map(JSONValue.string) ?? .null),
            ("calledAETitle", info.calledAETitle.map(JSONValue.string) ?? .null),
            ("startTime", (info.requestTime ?? observer.firstSeen).map { .string(iso8601($0)) } ?? .null),
            ("endTime", info.endTime.map { .string(iso8601($0)) } ?? .null),
            ("outcome", .string(outcomeName(info.outcome))),
            ("outcomeDescription", .string(info.outcome.description)),
            ("startedMidStream", .bool(info.startedMidStream)),
        ]
        if case .rejected(let rj) = info.outcome {
            obj.append(("reject", .object([("result", .int(rj.result.rawValue)), ("source", .int(rj.source.rawValue)),
                                          ("reason", .int(rj.reason)), ("description", .string(rj.description))])))
        } else {
            obj.append(("reject", .null))
        }
        if case .aborted(let a, let by) = info.outcome {
            obj.append(("abort", .object([("source", .int(a.source.rawValue)), ("reason", .int(a.reason.rawValue)),
                                         ("sentBy", .string(by.rawValue)), ("description", .string(a.description))])))
        } else {
            obj.append(("abort", .null))
        }
        obj.append(("maxPDULength", .object([
            ("requestor", info.maximumLength[.requestor].map { .int($0) } ?? .null),
            ("acceptor", info.maximumLength[.acceptor].map { .int($0) } ?? .null),
        ])))
        obj.append(("implementation", .object(PeerRole.allCases.map { role in
            (role.rawValue, .object([
                ("classUID", info.implementationClassUID[role].map(JSONValue.string) ?? .null),
                ("versionName", info.implementationVersionName[role].map(JSONValue.string) ?? .null),
            ]))
        })))
        obj.append(("presentationContexts", .array(info.contexts.values.sorted { $0.id < $1.id }.map { ctx in
            .object([
                ("id", .int(ctx.id)),
                ("abstractSyntax", .string(ctx.abstractSyntax)),
                ("abstractSyntaxName", UIDRegistry.name(for: ctx.abstractSyntax).map(JSONValue.string) ?? .null),
                ("proposedTransferSyntaxes", .array(ctx.proposedTransferSyntaxes.map(JSONValue.string))),
                ("result", ctx.result.map { .string(AssociationEventFormat.resultName($0)) } ?? (ctx.isInferred ? .string("inferred") : .null)),
                ("transferSyntax", ctx.transferSyntax.map(JSONValue.string) ?? .null),
                ("transferSyntaxInferred", .bool(ctx.isInferred)),
            ])
        })))
        obj.append(("exchanges", .array(observer.exchanges.map(exchange))))
        obj.append(("findings", .array(observer.findings.map(finding))))
        return .object(obj)
    }

    public func exchange(_ ex: Exchange) -> JSONValue {
        let c = ex.request.command
        var obj: [(String, JSONValue)] = [
            ("service", .string(ex.service?.rawValue ?? "unknown")),
            ("command", .string(c.commandField?.description ?? "0x" + String(c.rawCommandField, radix: 16))),
            ("messageID", .int(ex.messageID)),
            ("presentationContextID", .int(ex.request.presentationContextID)),
            ("sopClassUID", ex.sopClassUID.map(JSONValue.string) ?? .null),
            ("sopClassName", ex.sopClassUID.flatMap { UIDRegistry.name(for: $0) }.map(JSONValue.string) ?? .null),
            ("priority", priority(c).map(JSONValue.string) ?? .null),
            ("sentBy", .string(ex.request.sender.rawValue)),
        ]
        if let uid = c.commandSet[Tag(0x0000_1000)]?.string() {
            obj.append(("affectedSOPInstanceUID", .string(uid)))
        }
        obj.append(("request", dataSet(ex.request, service: ex.service)))
        obj.append(("responses", .array(ex.responses.map { r in
            var o: [(String, JSONValue)] = [
                ("status", r.status.map { .string(statusText($0.code)) } ?? .null),
                ("statusDescription", r.status.map { .string($0.description) } ?? .null),
                ("identifier", dataSet(r, service: ex.service)),
                ("time", .string(iso8601(r.time))),
                ("elapsedMs", .double(rounded((r.time - ex.request.time).milliseconds))),
            ]
            if let p = r.packet { o.append(("packet", .int(p))) }
            if r.dataSetLost { o.append(("identifierLost", .bool(true))) }
            return .object(o)
        })))
        obj.append(("matches", .int(ex.matchCount)))
        obj.append(("cancelled", .bool(ex.cancel != nil)))
        if let cancel = ex.cancel { obj.append(("cancelTime", .string(iso8601(cancel.time)))) }
        obj.append(("finalStatus", ex.finalResponse?.status.map { .string(statusText($0.code)) } ?? .null))
        obj.append(("finalStatusDescription", ex.finalResponse?.status.map { .string($0.description) } ?? .null))
        obj.append(("requestTime", .string(iso8601(ex.request.time))))
        obj.append(("firstResponseMs", ex.timeToFirstResponse.map { .double(rounded($0.milliseconds)) } ?? .null))
        obj.append(("durationMs", ex.duration.map { .double(rounded($0.milliseconds)) } ?? .null))
        if let p = ex.request.packet { obj.append(("packet", .int(p))) }
        return .object(obj)
    }

    /// Identifiers (C-FIND, C-GET, C-MOVE, N-*) in the DICOM JSON model; bulk data sets (C-STORE)
    /// summarised unless `includeAllDataSets`.
    func dataSet(_ m: ObservedMessage, service: DIMSEService?) -> JSONValue {
        guard let bytes = m.dataSetBytes else { return .null }
        guard let ds = m.dataSet else {
            return .object([("undecodable", .string(m.dataSetError?.description ?? "unknown transfer syntax")),
                            ("bytes", .int(bytes.readableBytes))])
        }
        if service == .cStore && !includeAllDataSets {
            return .object([("summary", .object([
                ("bytes", .int(bytes.readableBytes)),
                ("elements", .int(ds.count)),
                ("transferSyntax", m.transferSyntax.map { .string($0.uid) } ?? .null),
                ("patientID", ds[Tag(0x0010_0020)]?.string().map(JSONValue.string) ?? .null),
            ]))])
        }
        return DICOMJSONRenderer().render(ds)
    }

    public func finding(_ f: Finding) -> JSONValue {
        var o: [(String, JSONValue)] = [
            ("severity", .string(f.severity.rawValue)),
            ("code", .string(f.code.rawValue)),
            ("message", .string(f.message)),
        ]
        o.append(("packet", f.packet.map { .int($0) } ?? .null))
        if let t = f.time { o.append(("time", .string(iso8601(t)))) }
        if let s = f.sender { o.append(("sender", .string(s.rawValue))) }
        if let off = f.streamOffset { o.append(("streamOffset", .int(off))) }
        if let i = f.exchangeIndex { o.append(("exchange", .int(i))) }
        return .object(o)
    }

    func priority(_ c: DIMSECommand) -> String? {
        guard let p = c.commandSet[Tag(0x0000_0700)]?.integers?.first else { return nil }
        switch p {
        case 0: return "MEDIUM"
        case 1: return "HIGH"
        case 2: return "LOW"
        default: return "0x" + String(p, radix: 16)
        }
    }
}

/// `released`, `rejected`, `aborted` or `incomplete` (the contract's outcome values).
public func outcomeName(_ o: AssociationOutcome) -> String {
    switch o {
    case .released: return "released"
    case .rejected: return "rejected"
    case .aborted: return "aborted"
    case .negotiating, .established, .releaseRequested, .connectionClosed, .unknownStart: return "incomplete"
    }
}

/// `0xC100`: 0x and four upper-case hex digits.
public func statusText(_ code: UInt16) -> String {
    var out = TextBuffer(capacity: 6)
    out.append("0x")
    out.appendHex2(UInt8(truncatingIfNeeded: code >> 8), uppercase: true)
    out.appendHex2(UInt8(truncatingIfNeeded: code), uppercase: true)
    return out.string
}

func rounded(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }

/// `2026-01-01T00:00:00.000000Z` from nanoseconds since the epoch (proleptic Gregorian, UTC).
public func iso8601(_ t: Timestamp) -> String {
    let micros = t.nanoseconds / 1000
    var secs = micros / 1_000_000
    var frac = micros % 1_000_000
    if frac < 0 { frac += 1_000_000; secs -= 1 }
    var days = secs / 86400
    var rem = secs % 86400
    if rem < 0 { rem += 86400; days -= 1 }
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    // Each field is String(v) left-padded with zeros to its width (a negative year keeps its
    // sign inside the padding, as before).
    var out = TextBuffer(capacity: 27)
    out.appendDecimal(m <= 2 ? y + 1 : y, width: 4)
    out.append(UInt8(ascii: "-"))
    out.appendDecimal(m, width: 2)
    out.append(UInt8(ascii: "-"))
    out.appendDecimal(d, width: 2)
    out.append(UInt8(ascii: "T"))
    out.appendDecimal(rem / 3600, width: 2)
    out.append(UInt8(ascii: ":"))
    out.appendDecimal(rem % 3600 / 60, width: 2)
    out.append(UInt8(ascii: ":"))
    out.appendDecimal(rem % 60, width: 2)
    out.append(UInt8(ascii: "."))
    out.appendDecimal(frac, width: 6)
    out.append(UInt8(ascii: "Z"))
    return out.string
}
