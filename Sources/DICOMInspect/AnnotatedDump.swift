import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// Renders observation events as an annotated text dump: negotiation laid out with a name
/// for every UID, each DIMSE command with its fields, identifiers dumped with dictionary
/// names, statuses explained, durations and findings inline. Shared by `analyze`, the
/// proxy's per-association logs and replay.
public struct AnnotatedDumpRenderer: Sendable {
    public struct Options: Sendable {
        /// Dump data sets of every message (not only C-FIND identifiers and N-* data sets).
        public var allDataSets = false
        /// Show each P-DATA-TF PDU (otherwise only the DIMSE messages built from them).
        public var showDataPDUs = false
        public var dataset = TextDumpRenderer.Options()
        public init(allDataSets: Bool = false, showDataPDUs: Bool = false) {
            self.allDataSets = allDataSets
            self.showDataPDUs = showDataPDUs
        }
    }

    public var options: Options
    /// Times are shown relative to this instant (the association's first packet).
    public var origin: Timestamp

    public init(options: Options = Options(), origin: Timestamp) {
        self.options = options
        self.origin = origin
    }

    static let indent = "    "

    public func render(_ event: ObservationEvent, info: AssociationInfo) -> [String] {
        switch event {
        case .pdu(let pdu, let sender, let time, let offset, let length):
            if case .dataTransfer(let p) = pdu {
                guard options.showDataPDUs else { return [] }
                let pdvs = p.items.map { "ctx \($0.presentationContextID) \($0.messageControlHeader) \($0.fragment.readableBytes) B" }
                return [head(time, sender) + "P-DATA-TF \(length) bytes at offset \(offset): " + pdvs.joined(separator: "; ")]
            }
            return [head(time, sender) + "\(pdu.type) (\(length) bytes)"] + describe(pdu, info: info).map { Self.indent + $0 }
        case .message(let message, _):
            return render(message, info: info)
        case .exchangeCompleted:
            return []
        case .finding(let f):
            let when = f.time.map { "[\(relative($0))] " } ?? ""
            return ["\(when)!! \(f.severity) \(f.code): \(f.message)" + (f.packet.map { " (packet \($0))" } ?? "")]
        }
    }

    func relative(_ t: Timestamp) -> String { format6(t.seconds(since: origin)) }

    func head(_ t: Timestamp, _ sender: PeerRole) -> String { "[\(relative(t))] \(sender.arrow)  " }

    // MARK: PDUs

    public func describe(_ pdu: PDU, info: AssociationInfo) -> [String] {
        switch pdu {
        case .associateRequest(let rq):
            var lines = aeLines(rq.fields)
            for pc in rq.presentationContexts {
                lines.append("Presentation context \(pc.contextID): \(uidText(pc.abstractSyntax ?? "?"))")
                for ts in pc.transferSyntaxes { lines.append(Self.indent + "transfer syntax " + uidText(ts)) }
            }
            lines += userInformationLines(rq.fields.userInformation)
            return lines
        case .associateAccept(let ac):
            var lines = aeLines(ac.fields)
            for pc in ac.presentationContexts {
                let abstract = info.contexts[pc.contextID].map { uidText($0.abstractSyntax) } ?? "(not proposed)"
                if pc.result == .acceptance {
                    lines.append("Presentation context \(pc.contextID): accepted, \(uidText(pc.transferSyntax ?? "?")) for \(abstract)")
                } else {
                    lines.append("Presentation context \(pc.contextID): \(pc.result) for \(abstract)")
                }
            }
            lines += userInformationLines(ac.fields.userInformation)
            return lines
        case .associateReject(let rj):
            return ["Result: \(rj.result)", "Source: \(rj.source)", "Reason: \(rj.reasonDescription)"]
        case .abort(let a):
            return ["Source: \(a.source)"] + (a.source == .serviceProvider ? ["Reason: \(a.reason)"] : [])
        case .releaseRequest, .releaseResponse, .dataTransfer:
            return []
        }
    }

    func aeLines(_ f: AssociationPDUFields) -> [String] {
        var lines = ["Calling AE title: \(quoted(f.callingAETitle.value))   Called AE title: \(quoted(f.calledAETitle.value))"]
        if f.protocolVersion != AssociationPDUFields.currentProtocolVersion {
            lines.append("Protocol version: 0x\(String(f.protocolVersion, radix: 16)) (expected 0x1)")
        }
        if let ctx = f.applicationContextName, ctx != ApplicationContextItem.dicomApplicationContextName {
            lines.append("Application context: \(uidText(ctx))")
        }
        return lines
    }

    func userInformationLines(_ userInfo: UserInformationItem?) -> [String] {
        guard let userInfo else { return ["(no user information item)"] }
        var lines: [String] = []
        for sub in userInfo.subItems {
            switch sub {
            case .maximumLength(let m):
                lines.append("Maximum length: " + (m.maximumLength == 0 ? "unlimited" : "\(m.maximumLength)"))
            case .implementationClassUID(let u): lines.append("Implementation class UID: \(u.value)")
            case .implementationVersionName(let n): lines.append("Implementation version name: \(n.value)")
            case .asynchronousOperationsWindow(let w):
                lines.append("Asynchronous operations window: invoked \(w.maximumOperationsInvoked), performed \(w.maximumOperationsPerformed)")
            case .roleSelection(let r):
                lines.append("Role selection: \(uidText(r.sopClassUID.value)) SCU \(r.scuRole) SCP \(r.scpRole)")
            case .sopClassExtendedNegotiation(let e):
                lines.append("Extended negotiation: \(uidText(e.sopClassUID.value)) info \(e.serviceClassApplicationInformation.map(hex2).joined(separator: " "))")
            case .sopClassCommonExtendedNegotiation(let c):
                lines.append("Common extended negotiation: \(uidText(c.sopClassUID.value)) service class \(uidText(c.serviceClassUID.value))")
            case .userIdentityRequest(let u):
                // The passcode is never shown.
                let user = u.identityType == .username || u.identityType == .usernameAndPasscode
                    ? " user \(quoted(String(decoding: u.primaryField, as: UTF8.self)))" : " (\(u.primaryField.count) bytes)"
                lines.append("User identity: \(u.identityType)\(user), positive response requested: \(u.positiveResponseRequested == 1 ? "yes" : "no")")
            case .userIdentityAccept(let u):
                lines.append("User identity accepted, server response \(u.serverResponse.count) bytes")
            case .unknown(let u):
                lines.append("Unknown sub-item 0x\(hex2(u.type)) (\(u.body.count) bytes)")
            }
        }
        return lines
    }

    // MARK: DIMSE

    public func render(_ m: ObservedMessage, info: AssociationInfo) -> [String] {
        var lines: [String] = []
        render(m, info: info, line: { lines.append($0) }, dataSetDump: { appendLines(of: $0, to: &lines) })
        return lines
    }

    /// Appends the lines of `event` to `out`, each ended by a newline: the same text as
    /// `render(_:info:)` joined, without building the array of lines (a data set's dump is
    /// appended as rendered).
    public func write(_ event: ObservationEvent, info: AssociationInfo, into out: inout String) {
        if case .message(let m, _) = event {
            render(m, info: info, line: { out += $0; out += "\n" }, dataSetDump: { out += $0 })
            return
        }
        for line in render(event, info: info) {
            out += line
            out += "\n"
        }
    }

    /// The message's lines, handed to `line` one by one, and its data set's dump (lines each
    /// ended by a newline) to `dataSetDump`. The command's fields come from the values the
    /// observer read once (`DIMSECommand`'s accessors rebuild the command set on each call).
    func render(_ m: ObservedMessage, info: AssociationInfo, line: (String) -> Void, dataSetDump: (String) -> Void) {
        let c = m.command
        var title = m.commandField?.description ?? "command 0x\(String(c.rawCommandField, radix: 16))"
        if let id = m.messageID { title += " msg \(id)" }
        if let id = m.messageIDBeingRespondedTo { title += " (to msg \(id))" }
        title += ", ctx \(m.presentationContextID)"
        line(head(m.time, m.sender) + title)
        if let sop = m.sopClassUID { line(Self.indent + "SOP class: " + uidText(sop)) }
        if let status = m.status { line(Self.indent + "Status: \(status)") }
        for field in commandFieldLines(m.commandSetDataset) { line(Self.indent + field) }
        if m.dataSetLost {
            line(Self.indent + "Data set: lost in a gap of the capture")
        }
        if m.dataSetBytes != nil {
            let ts = m.transferSyntax.map { $0.name } ?? "unknown transfer syntax"
            if let ds = m.dataSet {
                if showsDataSet(m.commandField) {
                    line(Self.indent + "Data set (\(ts), \(m.dataSetBytes?.readableBytes ?? 0) bytes):")
                    dataSetDump(TextDumpRenderer(options: options.dataset).render(ds, prefix: Self.indent + "  "))
                } else {
                    line(Self.indent + "Data set: \(m.dataSetBytes?.readableBytes ?? 0) bytes, \(ts), \(ds.count) elements")
                }
            } else {
                line(Self.indent + "Data set: \(m.dataSetBytes?.readableBytes ?? 0) bytes, not decodable"
                     + (m.dataSetError.map { ": \($0)" } ?? ""))
            }
        }
    }

    /// The lines of `text` (each ended by a newline; a last piece without one is dropped, as
    /// the dump always ends its lines), split on the UTF-8 newline byte rather than by
    /// Character, which would run grapheme breaking over the whole dump.
    func appendLines(of text: String, to lines: inout [String]) {
        var start = text.utf8.startIndex
        let end = text.utf8.endIndex
        while let newline = text.utf8[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(text[start..<newline]))
            start = text.utf8.index(after: newline)
        }
    }

    func showsDataSet(_ field: CommandField?) -> Bool {
        if options.allDataSets { return true }
        switch field?.service {
        case .cFind?, .cGet?, .cMove?, .nEventReport?, .nGet?, .nSet?, .nAction?, .nCreate?: return true
        default: return false
        }
    }

    /// Command elements beyond those already in the title (priority, UIDs, counts, comments).
    func commandFieldLines(_ commandSet: Dataset) -> [String] {
        var lines: [String] = []
        let shownElsewhere: Set<UInt32> = [0x0000_0000, 0x0000_0002, 0x0000_0003, 0x0000_0100, 0x0000_0110, 0x0000_0120,
                                           0x0000_0800, 0x0000_0900]
        for e in commandSet.elements where !shownElsewhere.contains(e.tag.rawValue) {
            let name = DataDictionary.keyword(for: e.tag) ?? e.tag.description
            var value = TextDumpRenderer(options: options.dataset).valueText(e, charset: .default)
            if e.tag == Tag(0x0000_0700), let p = e.integers?.first {
                value = ["MEDIUM", "HIGH", "LOW"].indices.contains(Int(p)) ? ["MEDIUM", "HIGH", "LOW"][Int(p)] : value
            }
            lines.append("\(name): \(value)")
        }
        return lines
    }

    func quoted(_ s: String) -> String { "\"\(s)\"" }
}

/// `1.2.840.10008.1.2.1 (Explicit VR Little Endian)`.
public func uidText(_ uid: String) -> String {
    if let name = UIDRegistry.name(for: uid), !name.isEmpty { return "\(name) (\(uid))" }
    return uid
}

func hex2(_ b: UInt8) -> String {
    let s = String(b, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

extension ObservedMessage {
    /// The command set as a dataset (decoded once by the DIMSE layer).
    public var commandSetDataset: Dataset { command.commandSet }
}
