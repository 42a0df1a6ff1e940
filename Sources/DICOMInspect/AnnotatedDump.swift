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

    /// The lines of `event` (each without its newline).
    public func render(_ event: ObservationEvent, info: AssociationInfo) -> [String] {
        var out = Lines(keepsLines: true)
        write(event, info: info, into: &out)
        return out.lines
    }

    /// Appends the lines of `event` to `out`, each ended by a newline: the same text as
    /// `render(_:info:)` joined, made in one UTF-8 buffer (a data set's dump included).
    public func write(_ event: ObservationEvent, info: AssociationInfo, into out: inout String) {
        var lines = Lines(keepsLines: false)
        write(event, info: info, into: &lines)
        if !lines.text.isEmpty { out += lines.text.string }
    }

    /// `write(_:info:into:)` into a UTF-8 buffer (for a caller that assembles a larger text).
    package func write(_ event: ObservationEvent, info: AssociationInfo, into out: inout TextBuffer) {
        var lines = Lines(keepsLines: false, text: out)
        out = TextBuffer(capacity: 0)
        write(event, info: info, into: &lines)
        out = lines.text
    }

    func write(_ event: ObservationEvent, info: AssociationInfo, into out: inout Lines) {
        switch event {
        case .pdu(let pdu, let sender, let time, let offset, let length):
            if case .dataTransfer(let p) = pdu {
                guard options.showDataPDUs else { return }
                head(time, sender, into: &out.text)
                out.text.append("P-DATA-TF ")
                out.text.appendDecimal(length)
                out.text.append(" bytes at offset ")
                out.text.appendDecimal(offset)
                out.text.append(": ")
                for (i, pdv) in p.items.enumerated() {
                    if i > 0 { out.text.append("; ") }
                    out.text.append("ctx ")
                    out.text.appendDecimal(pdv.presentationContextID)
                    out.text.append(" \(pdv.messageControlHeader) ")
                    out.text.appendDecimal(pdv.fragment.readableBytes)
                    out.text.append(" B")
                }
                out.endLine()
                return
            }
            head(time, sender, into: &out.text)
            out.text.append("\(pdu.type) (")
            out.text.appendDecimal(length)
            out.text.append(" bytes)")
            out.endLine()
            describe(pdu, info: info, indent: Self.indent, into: &out)
        case .message(let message, _):
            render(message, info: info, into: &out)
        case .exchangeEnded:
            return
        case .finding(let f):
            if let time = f.time {
                out.text.append(UInt8(ascii: "["))
                relative(time, into: &out.text)
                out.text.append("] ")
            }
            out.text.append("!! \(f.severity) \(f.code): ")
            out.text.append(f.message)
            if let packet = f.packet {
                out.text.append(" (packet ")
                out.text.appendDecimal(packet)
                out.text.append(")")
            }
            out.endLine()
        }
    }

    func relative(_ t: Timestamp) -> String { secondsText(t.seconds(since: origin)) }

    /// `secondsText` of the time since `origin`, appended.
    func relative(_ t: Timestamp, into out: inout TextBuffer) {
        let micro = Int64((t.seconds(since: origin) * 1e6).rounded())
        out.appendDecimal(micro / 1_000_000)
        out.append(UInt8(ascii: "."))
        let frac = micro % 1_000_000
        out.appendDecimal(frac < 0 ? -frac : frac, width: 6)
    }

    func head(_ t: Timestamp, _ sender: PeerRole) -> String { "[\(relative(t))] \(sender.arrow)  " }

    func head(_ t: Timestamp, _ sender: PeerRole, into out: inout TextBuffer) {
        out.append(UInt8(ascii: "["))
        relative(t, into: &out)
        out.append(sender == .requestor ? "] RQ -> AC  " : "] AC -> RQ  ")
    }

    // MARK: PDUs

    public func describe(_ pdu: PDU, info: AssociationInfo) -> [String] {
        var out = Lines(keepsLines: true)
        describe(pdu, info: info, indent: "", into: &out)
        return out.lines
    }

    /// The lines describing `pdu`, each started with `indent`.
    func describe(_ pdu: PDU, info: AssociationInfo, indent: String, into out: inout Lines) {
        switch pdu {
        case .associateRequest(let rq):
            aeLines(rq.fields, indent: indent, into: &out)
            for pc in rq.presentationContexts {
                out.text.append(indent)
                out.text.append("Presentation context ")
                out.text.appendDecimal(pc.contextID)
                out.text.append(": ")
                appendUIDText(pc.abstractSyntax ?? "?", into: &out.text)
                out.endLine()
                for ts in pc.transferSyntaxes {
                    out.text.append(indent)
                    out.text.append(Self.indent)
                    out.text.append("transfer syntax ")
                    appendUIDText(ts, into: &out.text)
                    out.endLine()
                }
            }
            userInformationLines(rq.fields.userInformation, indent: indent, into: &out)
        case .associateAccept(let ac):
            aeLines(ac.fields, indent: indent, into: &out)
            for pc in ac.presentationContexts {
                out.text.append(indent)
                out.text.append("Presentation context ")
                out.text.appendDecimal(pc.contextID)
                if pc.result == .acceptance {
                    out.text.append(": accepted, ")
                    appendUIDText(pc.transferSyntax ?? "?", into: &out.text)
                } else {
                    out.text.append(": \(pc.result)")
                }
                out.text.append(" for ")
                if let ctx = info.contexts[pc.contextID] {
                    appendUIDText(ctx.abstractSyntax, into: &out.text)
                } else {
                    out.text.append("(not proposed)")
                }
                out.endLine()
            }
            userInformationLines(ac.fields.userInformation, indent: indent, into: &out)
        case .associateReject(let rj):
            out.line(indent + "Result: \(rj.result)")
            out.line(indent + "Source: \(rj.source)")
            out.line(indent + "Reason: \(rj.reasonDescription)")
        case .abort(let a):
            out.line(indent + "Source: \(a.source)")
            if a.source == .serviceProvider { out.line(indent + "Reason: \(a.reason)") }
        case .releaseRequest, .releaseResponse, .dataTransfer:
            return
        }
    }

    func aeLines(_ f: AssociationPDUFields) -> [String] {
        var out = Lines(keepsLines: true)
        aeLines(f, indent: "", into: &out)
        return out.lines
    }

    func aeLines(_ f: AssociationPDUFields, indent: String, into out: inout Lines) {
        out.text.append(indent)
        out.text.append("Calling AE title: \"")
        out.text.append(f.callingAETitle.value)
        out.text.append("\"   Called AE title: \"")
        out.text.append(f.calledAETitle.value)
        out.text.append("\"")
        out.endLine()
        if f.protocolVersion != AssociationPDUFields.currentProtocolVersion {
            out.line(indent + "Protocol version: 0x\(String(f.protocolVersion, radix: 16)) (expected 0x1)")
        }
        if let ctx = f.applicationContextName, ctx != ApplicationContextItem.dicomApplicationContextName {
            out.line(indent + "Application context: \(uidText(ctx))")
        }
    }

    func userInformationLines(_ userInfo: UserInformationItem?) -> [String] {
        var out = Lines(keepsLines: true)
        userInformationLines(userInfo, indent: "", into: &out)
        return out.lines
    }

    func userInformationLines(_ userInfo: UserInformationItem?, indent: String, into out: inout Lines) {
        guard let userInfo else {
            out.line(indent + "(no user information item)")
            return
        }
        for sub in userInfo.subItems {
            out.text.append(indent)
            switch sub {
            case .maximumLength(let m):
                out.text.append("Maximum length: ")
                if m.maximumLength == 0 { out.text.append("unlimited") } else { out.text.appendDecimal(m.maximumLength) }
            case .implementationClassUID(let u):
                out.text.append("Implementation class UID: ")
                out.text.append(u.value)
            case .implementationVersionName(let n):
                out.text.append("Implementation version name: ")
                out.text.append(n.value)
            case .asynchronousOperationsWindow(let w):
                out.text.append("Asynchronous operations window: invoked \(w.maximumOperationsInvoked), performed \(w.maximumOperationsPerformed)")
            case .roleSelection(let r):
                out.text.append("Role selection: \(uidText(r.sopClassUID.value)) SCU \(r.scuRole) SCP \(r.scpRole)")
            case .sopClassExtendedNegotiation(let e):
                out.text.append("Extended negotiation: \(uidText(e.sopClassUID.value)) info \(e.serviceClassApplicationInformation.map { hex2($0) }.joined(separator: " "))")
            case .sopClassCommonExtendedNegotiation(let c):
                out.text.append("Common extended negotiation: \(uidText(c.sopClassUID.value)) service class \(uidText(c.serviceClassUID.value))")
            case .userIdentityRequest(let u):
                // The passcode is never shown.
                let user = u.identityType == .username || u.identityType == .usernameAndPasscode
                    ? " user \(quoted(String(decoding: u.primaryField, as: UTF8.self)))" : " (\(u.primaryField.count) bytes)"
                out.text.append("User identity: \(u.identityType)\(user), positive response requested: \(u.positiveResponseRequested == 1 ? "yes" : "no")")
            case .userIdentityAccept(let u):
                out.text.append("User identity accepted, server response \(u.serverResponse.count) bytes")
            case .unknown(let u):
                out.text.append("Unknown sub-item 0x\(hex2(u.type)) (\(u.body.count) bytes)")
            }
            out.endLine()
        }
    }

    // MARK: DIMSE

    public func render(_ m: ObservedMessage, info: AssociationInfo) -> [String] {
        var out = Lines(keepsLines: true)
        render(m, info: info, into: &out)
        return out.lines
    }

    /// The message's lines and its data set's dump. The command's fields come from the values
    /// the observer read once (`DIMSECommand`'s accessors rebuild the command set on each call).
    func render(_ m: ObservedMessage, info: AssociationInfo, into out: inout Lines) {
        let c = m.command
        head(m.time, m.sender, into: &out.text)
        if let field = m.commandField {
            out.text.append(field.description)
        } else {
            out.text.append("command 0x")
            out.text.appendHex(UInt64(c.rawCommandField), uppercase: false)
        }
        if let id = m.messageID {
            out.text.append(" msg ")
            out.text.appendDecimal(id)
        }
        if let id = m.messageIDBeingRespondedTo {
            out.text.append(" (to msg ")
            out.text.appendDecimal(id)
            out.text.append(UInt8(ascii: ")"))
        }
        out.text.append(", ctx ")
        out.text.appendDecimal(m.presentationContextID)
        out.endLine()
        if let sop = m.sopClassUID {
            out.text.append(Self.indent)
            out.text.append("SOP class: ")
            appendUIDText(sop, into: &out.text)
            out.endLine()
        }
        if let status = m.status {
            out.text.append(Self.indent)
            out.text.append("Status: ")
            out.text.append(status.description)
            out.endLine()
        }
        commandFieldLines(m.commandSetDataset, into: &out)
        switch m.dataSetLoss {
        case .gap?: out.line(Self.indent + "Data set: lost in a gap of the capture")
        case .endOfCapture?: out.line(Self.indent + "Data set: cut off by the end of the capture")
        case .connectionClosed?: out.line(Self.indent + "Data set: cut off when the connection closed")
        case nil: break
        }
        if let length = m.dataSetLength {
            let ts = m.transferSyntax.map { $0.name } ?? "unknown transfer syntax"
            out.text.append(Self.indent)
            if let ds = m.dataSet {
                if showsDataSet(m.commandField) {
                    out.text.append("Data set (")
                    out.text.append(ts)
                    out.text.append(", ")
                    out.text.appendDecimal(length)
                    out.text.append(" bytes):")
                    out.endLine()
                    let start = out.text.count
                    TextDumpRenderer(options: options.dataset).render(ds, prefix: Self.indent + "  ", into: &out.text)
                    out.linesAppended(from: start)
                } else {
                    out.text.append("Data set: ")
                    out.text.appendDecimal(length)
                    out.text.append(" bytes, ")
                    out.text.append(ts)
                    out.text.append(", ")
                    out.text.appendDecimal(ds.count)
                    out.text.append(" elements")
                    out.endLine()
                }
            } else {
                out.text.append("Data set: ")
                out.text.appendDecimal(length)
                out.text.append(" bytes, not decodable")
                if let error = m.dataSetError { out.text.append(": \(error)") }
                out.endLine()
            }
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
        var out = Lines(keepsLines: true)
        commandFieldLines(commandSet, into: &out)
        return out.lines.map { String($0.dropFirst(Self.indent.count)) }
    }

    /// The command elements not shown elsewhere (group length, affected SOP class, command field,
    /// message IDs, data set type, status), one indented line each.
    func commandFieldLines(_ commandSet: Dataset, into out: inout Lines) {
        let dump = TextDumpRenderer(options: options.dataset)
        for e in commandSet.elements {
            switch e.tag.rawValue {
            case 0x0000_0000, 0x0000_0002, 0x0000_0003, 0x0000_0100, 0x0000_0110, 0x0000_0120, 0x0000_0800, 0x0000_0900:
                continue
            default:
                break
            }
            out.text.append(Self.indent)
            if let keyword = DataDictionary.keyword(for: e.tag) {
                out.text.append(keyword)
            } else {
                out.text.appendTag(e.tag, uppercase: true)
            }
            out.text.append(": ")
            if e.tag == CommandTag.priority, let p = e.integers?.first, (0...2).contains(p) {
                out.text.append(["MEDIUM", "HIGH", "LOW"][Int(p)])
            } else {
                dump.appendValueText(e, charset: .default, into: &out.text)
            }
            out.endLine()
        }
    }

    func quoted(_ s: String) -> String { "\"\(s)\"" }

    /// `uidText(uid)`, appended.
    func appendUIDText(_ uid: String, into out: inout TextBuffer) {
        if let name = UIDRegistry.nameBytes(for: uid), !name.isEmpty {
            out.append(name)
            out.append(" (")
            out.append(uid)
            out.append(UInt8(ascii: ")"))
        } else {
            out.append(uid)
        }
    }

    /// The text being made, and where its lines end when the caller wants them one by one.
    struct Lines {
        var text: TextBuffer
        /// Offsets of the newline ending each line (nil: only the text is wanted).
        var ends: [Int]?

        init(keepsLines: Bool, text: TextBuffer = TextBuffer()) {
            self.text = text
            ends = keepsLines ? [] : nil
        }

        /// Ends the line being appended.
        mutating func endLine() {
            ends?.append(text.count)
            text.append(UInt8(ascii: "\n"))
        }

        mutating func line(_ s: String) {
            text.append(s)
            endLine()
        }

        /// Records the lines of text appended since `start` (each ended by a newline; a last
        /// piece without one is dropped from the lines, as the dump always ends its lines).
        mutating func linesAppended(from start: Int) {
            guard ends != nil else { return }
            for i in start..<text.count where text.bytes[i] == UInt8(ascii: "\n") { ends?.append(i) }
        }

        var lines: [String] {
            var lines: [String] = []
            var start = 0
            for end in ends ?? [] {
                lines.append(String(decoding: text.bytes[start..<end], as: UTF8.self))
                start = end + 1
            }
            return lines
        }
    }
}

/// `1.2.840.10008.1.2.1 (Explicit VR Little Endian)`.
public func uidText(_ uid: String) -> String {
    if let name = UIDRegistry.name(for: uid), !name.isEmpty { return "\(name) (\(uid))" }
    return uid
}

extension ObservedMessage {
    /// The command set as received (kept by the DIMSE layer when it decoded the command), or
    /// the command's set for one built in code.
    public var commandSetDataset: Dataset { command.decodedCommandSet ?? command.commandSet }
}
