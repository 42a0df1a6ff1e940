import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// Builds the machine-readable report of one association: the `analyze --format json`
/// contract, also used (same field names) by the proxy's JSON-lines events.
public struct AssociationJSON: Sendable {
    /// Include full data sets of C-STORE and other bulk messages (otherwise summarised).
    public var includeAllDataSets: Bool
    /// The capture the association was read from (`analyze`); not written when nil (the proxy's events).
    public var input: String?
    public init(includeAllDataSets: Bool = false) { self.includeAllDataSets = includeAllDataSets }

    /// The association's object, its exchanges those the observer kept (`keepsExchanges`).
    public func render(index: Int, client: String, server: String, observer: AssociationObserver) -> JSONValue {
        var tree = JSONTreeBuilder()
        write(index: index, client: client, server: server, observer: observer, onlyService: nil, into: &tree)
        return tree.result
    }

    /// Appends `render(index:client:server:observer:).serialized(indent:)` to `out`, written
    /// directly without building the tree; with `onlyService` (e.g. "C-FIND") the `exchanges`
    /// array holds only that service's exchanges.
    package func write(index: Int, client: String, server: String, observer: AssociationObserver,
                       onlyService: String? = nil, indent: Int, into out: inout TextBuffer) {
        var writer = JSONTextWriter(indent: indent)
        swap(&writer.out, &out)
        write(index: index, client: client, server: server, observer: observer, onlyService: onlyService, into: &writer)
        swap(&writer.out, &out)
    }

    /// As `write(index:client:server:observer:onlyService:indent:into:)`, the exchanges given as
    /// JSON written beforehand, each as it ended (`exchangeFragment`), in the order they began.
    package func write(index: Int, client: String, server: String, observer: AssociationObserver,
                       exchanges: [TextBuffer], indent: Int, into out: inout TextBuffer) {
        var writer = JSONTextWriter(indent: indent)
        swap(&writer.out, &out)
        write(index: index, client: client, server: server, observer: observer, into: &writer) { w in
            for fragment in exchanges { w.rawMember(fragment) }
        }
        swap(&writer.out, &out)
    }

    /// One exchange's object, written for `write(index:client:server:observer:exchanges:indent:into:)`.
    package func exchangeFragment(_ ex: Exchange, indent: Int) -> TextBuffer {
        var writer = JSONTextWriter(indent: indent, fragmentAtLevel: 2)
        write(ex, into: &writer)
        return writer.out
    }

    /// The events of the association's object, with the exchanges the observer kept.
    package func write<W: JSONWriter>(index: Int, client: String, server: String, observer: AssociationObserver,
                                      onlyService: String?, into w: inout W) {
        write(index: index, client: client, server: server, observer: observer, into: &w) { w in
            // Read in place (a filtered copy would retain every message of the exchanges).
            for i in observer.exchanges.indices where onlyService == nil || observer.exchanges[i].service?.rawValue == onlyService {
                write(observer.exchanges[i], into: &w)
            }
        }
    }

    /// The events of the association's object (the one description of the contract); `exchanges`
    /// writes the members of its `exchanges` array.
    package func write<W: JSONWriter>(index: Int, client: String, server: String, observer: AssociationObserver,
                                      into w: inout W, exchanges: (inout W) -> Void) {
        let info = observer.info
        w.beginObject()
        w.key("index"); w.int(index)
        if let input { w.key("input"); w.string(input) }
        w.key("client"); w.string(client)
        w.key("server"); w.string(server)
        w.key("callingAETitle"); w.string(info.callingAETitle)
        w.key("calledAETitle"); w.string(info.calledAETitle)
        w.key("startTime"); w.string((info.requestTime ?? observer.firstSeen).map(iso8601))
        w.key("endTime"); w.string(info.endTime.map(iso8601))
        w.key("outcome"); w.string(outcomeName(info.outcome))
        w.key("outcomeDescription"); w.string(info.outcome.description)
        w.key("startedMidStream"); w.bool(info.startedMidStream)
        w.key("reject")
        if case .rejected(let rj) = info.outcome {
            w.beginObject()
            w.key("result"); w.int(Int(rj.result.rawValue))
            w.key("source"); w.int(Int(rj.source.rawValue))
            w.key("reason"); w.int(Int(rj.reason))
            w.key("description"); w.string(rj.description)
            w.endObject()
        } else {
            w.null()
        }
        w.key("abort")
        if case .aborted(let a, let by) = info.outcome {
            w.beginObject()
            w.key("source"); w.int(Int(a.source.rawValue))
            w.key("reason"); w.int(Int(a.reason.rawValue))
            w.key("sentBy"); w.string(by.rawValue)
            w.key("description"); w.string(a.description)
            w.endObject()
        } else {
            w.null()
        }
        w.key("maxPDULength")
        w.beginObject()
        w.key("requestor"); w.int(info.maximumLength[.requestor].map { Int($0) })
        w.key("acceptor"); w.int(info.maximumLength[.acceptor].map { Int($0) })
        w.endObject()
        w.key("implementation")
        w.beginObject()
        for role in PeerRole.allCases {
            w.key(string: role.rawValue)
            w.beginObject()
            w.key("classUID"); w.string(info.implementationClassUID[role])
            w.key("versionName"); w.string(info.implementationVersionName[role])
            w.endObject()
        }
        w.endObject()
        w.key("presentationContexts")
        w.beginArray()
        for ctx in info.contexts.values.sorted(by: { $0.id < $1.id }) {
            w.beginObject()
            w.key("id"); w.int(Int(ctx.id))
            w.key("abstractSyntax"); w.string(ctx.abstractSyntax.isEmpty ? nil : ctx.abstractSyntax)
            w.key("abstractSyntaxName"); w.string(UIDRegistry.name(for: ctx.abstractSyntax))
            w.key("proposedTransferSyntaxes")
            w.beginArray()
            for ts in ctx.proposedTransferSyntaxes { w.string(ts) }
            w.endArray()
            w.key("result")
            if let result = ctx.result {
                w.string(AssociationEventFormat.resultName(result))
            } else if ctx.isInferred {
                w.string("inferred")
            } else {
                w.null()
            }
            w.key("transferSyntax"); w.string(ctx.transferSyntax)
            w.key("transferSyntaxInferred"); w.bool(ctx.isInferred)
            w.endObject()
        }
        w.endArray()
        w.key("exchanges")
        w.beginArray()
        exchanges(&w)
        w.endArray()
        w.key("findings")
        w.beginArray()
        for f in observer.findings { write(f, into: &w) }
        w.endArray()
        w.endObject()
    }

    public func exchange(_ ex: Exchange) -> JSONValue {
        var tree = JSONTreeBuilder()
        write(ex, into: &tree)
        return tree.result
    }

    /// The events of `exchange(ex)`.
    package func write<W: JSONWriter>(_ ex: Exchange, into w: inout W) {
        let c = ex.request.command
        w.beginObject()
        w.key("service"); w.string(ex.service?.rawValue ?? "unknown")
        w.key("command"); w.string(c.commandField?.description ?? "0x" + String(c.rawCommandField, radix: 16))
        w.key("messageID"); w.int(Int(ex.messageID))
        w.key("presentationContextID"); w.int(Int(ex.request.presentationContextID))
        w.key("sopClassUID"); w.string(ex.sopClassUID)
        w.key("sopClassName"); w.string(ex.sopClassUID.flatMap { UIDRegistry.name(for: $0) })
        // `commandSet` is made anew on each call: once here.
        let commandSet = c.commandSet
        w.key("priority"); w.string(priority(commandSet))
        w.key("sentBy"); w.string(ex.request.sender.rawValue)
        if let uid = commandSet[CommandTag.affectedSOPInstanceUID]?.string() {
            w.key("affectedSOPInstanceUID"); w.string(uid)
        }
        w.key("request"); dataSet(ex.request, service: ex.service, into: &w)
        w.key("responses")
        w.beginArray()
        var descriptions = StatusDescriptions()
        for i in ex.responses.indices { write(response: ex.responses[i], of: ex, descriptions: &descriptions, into: &w) }
        w.endArray()
        if ex.responsesNotKept > 0 {
            // Past --max-kept-responses: the list holds the first responses and the latest; these count them all.
            w.key("responseCount"); w.int(ex.responseCount)
            w.key("responsesNotKept"); w.int(ex.responsesNotKept)
            w.key("pendingResponses"); w.int(ex.responseCounts.pending)
        }
        w.key("matches"); w.int(ex.matchCount)
        if let destination = ex.moveDestination { w.key("moveDestination"); w.string(destination) }
        if let counts = ex.subOperations {
            w.key("subOperations")
            w.beginObject()
            w.key("completed"); w.int(counts.completed.map(Int.init))
            w.key("failed"); w.int(counts.failed.map(Int.init))
            w.key("warning"); w.int(counts.warning.map(Int.init))
            w.key("remaining"); w.int(counts.remaining.map(Int.init))
            w.endObject()
        }
        w.key("cancelled"); w.bool(ex.cancel != nil)
        if let cancel = ex.cancel { w.key("cancelTime"); w.string { iso8601(cancel.time, into: &$0) } }
        w.key("finalStatus"); w.string(ex.finalResponse?.status.map { statusText($0.code) })
        w.key("finalStatusDescription"); w.string(ex.finalResponse?.status.map { descriptions.text($0) })
        w.key("requestTime"); w.string { iso8601(ex.request.time, into: &$0) }
        w.key("firstResponseMs"); w.double(ex.timeToFirstResponse.map { rounded($0.milliseconds) })
        w.key("durationMs"); w.double(ex.duration.map { rounded($0.milliseconds) })
        if let p = ex.request.packet { w.key("packet"); w.int(p) }
        w.endObject()
    }

    func write<W: JSONWriter>(response r: borrowing ObservedMessage, of ex: borrowing Exchange,
                              descriptions: inout StatusDescriptions, into w: inout W) {
        w.beginObject()
        w.key("status"); w.string(r.status.map { statusText($0.code) })
        w.key("statusDescription"); w.string(r.status.map { descriptions.text($0) })
        w.key("identifier"); dataSet(r, service: ex.service, into: &w)
        w.key("time"); w.string { iso8601(r.time, into: &$0) }
        w.key("elapsedMs"); w.double(rounded((r.time - ex.request.time).milliseconds))
        if let p = r.packet { w.key("packet"); w.int(p) }
        if let loss = r.dataSetLoss {
            w.key("identifierLost"); w.bool(true)
            if loss != .gap { w.key("identifierLostBy"); w.string(loss.rawValue) }
        }
        w.endObject()
    }

    /// `DIMSEStatus.description`, made once for a run of equal statuses (an exchange's pending
    /// responses, its final status written twice).
    struct StatusDescriptions {
        var last: (status: DIMSEStatus, text: String)?

        mutating func text(_ status: DIMSEStatus) -> String {
            if let last, last.status == status { return last.text }
            let text = status.description
            last = (status, text)
            return text
        }
    }

    /// Identifiers (C-FIND, C-GET, C-MOVE, N-*) in the DICOM JSON model; bulk data sets (C-STORE)
    /// summarised unless `includeAllDataSets`.
    func dataSet(_ m: ObservedMessage, service: DIMSEService?) -> JSONValue {
        var tree = JSONTreeBuilder()
        dataSet(m, service: service, into: &tree)
        return tree.result
    }

    func dataSet<W: JSONWriter>(_ m: ObservedMessage, service: DIMSEService?, into w: inout W) {
        guard let length = m.dataSetLength else { w.null(); return }
        guard let ds = m.dataSet else {
            w.beginObject()
            w.key("undecodable"); w.string(m.dataSetError?.description ?? "unknown transfer syntax")
            w.key("bytes"); w.int(length)
            w.endObject()
            return
        }
        if service == .cStore && !includeAllDataSets {
            w.beginObject()
            w.key("summary")
            w.beginObject()
            w.key("bytes"); w.int(length)
            w.key("elements"); w.int(ds.count)
            w.key("transferSyntax"); w.string(m.transferSyntax?.uid)
            w.key("patientID"); w.string(ds[Tag.patientID]?.string())
            w.endObject()
            w.endObject()
            return
        }
        w.dataset(ds, characterSet: .default)
    }

    public func finding(_ f: Finding) -> JSONValue {
        var tree = JSONTreeBuilder()
        write(f, into: &tree)
        return tree.result
    }

    /// The events of `finding(f)`.
    package func write<W: JSONWriter>(_ f: Finding, into w: inout W) {
        w.beginObject()
        w.key("severity"); w.string(f.severity.rawValue)
        w.key("code"); w.string(f.code.rawValue)
        w.key("message"); w.string(f.message)
        w.key("packet"); w.int(f.packet)
        if let t = f.time { w.key("time"); w.string { iso8601(t, into: &$0) } }
        if let s = f.sender { w.key("sender"); w.string(s.rawValue) }
        if let off = f.streamOffset { w.key("streamOffset"); w.int(off) }
        if let i = f.exchangeIndex { w.key("exchange"); w.int(i) }
        w.endObject()
    }

    /// The Priority (0000,0700) of a command set, as the contract names it.
    func priority(_ commandSet: Dataset) -> String? {
        guard let p = commandSet[CommandTag.priority]?.integers?.first else { return nil }
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
    case .negotiating, .established, .releaseRequested, .connectionClosed, .openAtCaptureEnd, .unknownStart: return "incomplete"
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
    var out = TextBuffer(capacity: 27)
    iso8601(t, into: &out)
    return out.string
}

/// `iso8601(t)`, appended to `out`.
package func iso8601(_ t: Timestamp, into out: inout TextBuffer) {
    let micros = t.nanoseconds / 1000
    var secs = micros / 1_000_000
    var frac = micros % 1_000_000
    if frac < 0 { frac += 1_000_000; secs -= 1 }
    var days = secs / 86400
    var rem = secs % 86400
    if rem < 0 { rem += 86400; days -= 1 }
    let (civilYear, civilMonth, civilDay) = CivilCalendar.civil(fromDays: Int(days))
    let (year, m, d) = (Int64(civilYear), Int64(civilMonth), Int64(civilDay))
    // Each field is String(v) left-padded with zeros to its width (a negative year keeps its
    // sign inside the padding, as before).
    out.appendDecimal(year, width: 4)
    out.append(UInt8(ascii: "-"))
    appendTwoDigits(m, into: &out)
    out.append(UInt8(ascii: "-"))
    appendTwoDigits(d, into: &out)
    out.append(UInt8(ascii: "T"))
    appendTwoDigits(rem / 3600, into: &out)
    out.append(UInt8(ascii: ":"))
    appendTwoDigits(rem % 3600 / 60, into: &out)
    out.append(UInt8(ascii: ":"))
    appendTwoDigits(rem % 60, into: &out)
    out.append(UInt8(ascii: "."))
    out.appendDecimal(frac, width: 6)
    out.append(UInt8(ascii: "Z"))
}

/// `v` left-padded with zeros to two digits, as `appendDecimal(v, width: 2)`.
@inline(__always) func appendTwoDigits(_ v: Int64, into out: inout TextBuffer) {
    guard v >= 0, v < 100 else { out.appendDecimal(v, width: 2); return }
    out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v / 10))
    out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10))
}
