import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// Rewrites one association as it passes between an SCU (requestor) and an SCP (acceptor):
/// AE titles in A-ASSOCIATE-RQ/AC, and the data set of every DIMSE message, in the
/// presentation context's accepted transfer syntax. Messages are followed per sender and
/// presentation context from their PDVs' message control headers (PS3.8 Annex E): a command
/// set is gathered whole (`DIMSECommand` decodes it) and sent on; a data set is streamed
/// element by element: runs of elements are decoded and rewritten (`Rewriter`) as soon as
/// they are complete, and a large value no rule applies to (pixel data) is passed through
/// as it arrives, so a large C-STORE is not held whole by the proxy. A deflated data set, and
/// what follows an element of undefined length, are gathered and rewritten whole. What goes
/// on is fragmented again for the receiving peer's Maximum Length (the SCU's from its
/// A-ASSOCIATE-RQ, the SCP's from its A-ASSOCIATE-AC). A pure value type fed the PDUs in
/// order; it knows nothing of sockets.
public struct AssociationRewriter: Sendable {
    public let rewriter: Rewriter
    /// Bounds: command sets and what is gathered of a data set.
    public let limits: MessageAssembler.Configuration
    /// Values at least this long, with no rule for their tag, are passed through as they arrive.
    public var streamingThreshold = 1 << 16
    private var streams: [StreamKey: MessageStream] = [:]
    /// Accepted presentation contexts → transfer syntax.
    public private(set) var transferSyntaxes: [UInt8: TransferSyntax] = [:]
    /// Maximum Length Received of each peer (0: unlimited), i.e. the largest P-DATA-TF it takes.
    public private(set) var maximumLength: [PeerRole: UInt32] = [.requestor: 0, .acceptor: 0]
    /// The AE titles as the SCU sent them, and as the SCP received them.
    private var originalTitles: (called: WireString, calling: WireString)?
    private var rewrittenTitles: (called: WireString, calling: WireString)?

    public init(rewriter: Rewriter, assembler: MessageAssembler.Configuration = MessageAssembler.Configuration()) {
        self.rewriter = rewriter
        limits = assembler
    }

    // MARK: Association PDUs

    /// The A-ASSOCIATE-RQ for the SCP: called and calling AE titles substituted.
    public mutating func associateRequest(_ request: AssociateRequest) -> AssociateRequest {
        maximumLength[.requestor] = request.fields.maximumLength ?? 0
        var out = request
        let rules = rewriter.rules.aeTitles
        if let new = rules.called[request.fields.calledAETitle.value] { out.fields.calledAETitle = .aeTitle(new) }
        if let new = rules.calling[request.fields.callingAETitle.value] { out.fields.callingAETitle = .aeTitle(new) }
        originalTitles = (request.fields.calledAETitle, request.fields.callingAETitle)
        rewrittenTitles = (out.fields.calledAETitle, out.fields.callingAETitle)
        return out
    }

    /// The A-ASSOCIATE-AC for the SCU: the echoed AE titles put back as the SCU sent them;
    /// the accepted transfer syntaxes and the SCP's maximum length noted.
    public mutating func associateAccept(_ accept: AssociateAccept) -> AssociateAccept {
        maximumLength[.acceptor] = accept.fields.maximumLength ?? 0
        for context in accept.presentationContexts where context.result == .acceptance {
            if let uid = context.transferSyntax, let syntax = TransferSyntax(uid: uid, lenient: true) {
                transferSyntaxes[context.contextID] = syntax
            }
        }
        var out = accept
        if let originalTitles, let rewrittenTitles {
            if out.fields.calledAETitle.value == rewrittenTitles.called.value { out.fields.calledAETitle = originalTitles.called }
            if out.fields.callingAETitle.value == rewrittenTitles.calling.value { out.fields.callingAETitle = originalTitles.calling }
        }
        return out
    }

    // MARK: P-DATA

    /// What one P-DATA-TF PDU from a peer becomes.
    public struct DataResult: Sendable {
        /// The P-DATA-TF PDUs to send the other peer (one PDV each).
        public var pdus: [DataTransfer] = []
        public var notes: [RewriteNote] = []
        /// Data sets that went on unchanged although they could not be rewritten (towards the SCU only).
        public var problems: [String] = []
        /// A message towards the SCP that cannot be rewritten, or a broken PDV sequence: nothing
        /// more may be forwarded.
        public var failure: String?
    }

    struct StreamKey: Hashable, Sendable {
        var sender: PeerRole
        var presentationContextID: UInt8
    }

    /// One message in progress from one sender on one presentation context.
    struct MessageStream: Sendable {
        enum Phase: Sendable {
            case idle
            case command
            case dataSet
        }

        var phase: Phase = .idle
        var commandBytes = ByteBuffer()
        var commandName = ""
        /// The context's transfer syntax; nil when it was not accepted (data passed unchanged).
        var syntax: TransferSyntax?
        /// Received data set bytes not processed yet.
        var input = ByteBuffer()
        /// Complete elements waiting to be rewritten together.
        var run = ByteBuffer()
        /// Value bytes of a passed-through element still to come.
        var passThrough = 0
        /// Gather the rest of the data set and rewrite it whole (deflated, or after an undefined length).
        var whole = false
        var characterSet = SpecificCharacterSet.default
        var groupsWithLength: Set<UInt16> = []
        /// Rewritten bytes not yet put into PDVs.
        var output = ByteBuffer()
        /// Data set bytes taken in so far (bounded).
        var received = 0
        /// The data set could not be rewritten (towards the SCU): the rest goes on unchanged.
        var passAll = false
    }

    /// Feeds one P-DATA-TF PDU from `sender`; returns what to send the other peer.
    public mutating func dataTransfer(_ pdu: DataTransfer, from sender: PeerRole) -> DataResult {
        var result = DataResult()
        let direction: RewriteDirection = sender == .requestor ? .towardsAcceptor : .towardsRequestor
        let receiverMaximum = Int(maximumLength[sender.other] ?? 0)
        // Fragment bytes per PDV for the receiver: even, PDV overhead deducted (PS3.8 §E.1, §9.3.5.1).
        let capacity = receiverMaximum == 0 ? 1 << 16
            : max(2, (receiverMaximum - MessageFragmenter.pdvOverhead) & ~1)
        for pdv in pdu.items {
            let key = StreamKey(sender: sender, presentationContextID: pdv.presentationContextID)
            // Moved out of the dictionary while used, so that its buffers are appended to in place.
            var stream = streams.removeValue(forKey: key) ?? MessageStream()
            defer { streams[key] = stream }
            let header = pdv.messageControlHeader
            let id = pdv.presentationContextID
            switch stream.phase {
            case .idle, .command:
                guard header.isCommand else {
                    result.failure = "a data set fragment from the \(sender) on presentation context \(id) without a command set before it"
                    return result
                }
                guard stream.commandBytes.readableBytes + pdv.fragment.readableBytes <= limits.maximumCommandSetLength else {
                    result.failure = "the \(sender)'s command set on presentation context \(id) is over \(limits.maximumCommandSetLength) bytes"
                    return result
                }
                var fragment = pdv.fragment
                stream.commandBytes.writeBuffer(&fragment)
                stream.phase = .command
                guard header.isLastFragment else { continue }
                var command: DIMSECommand
                do throws(DIMSEError) {
                    command = try DIMSECommand(decoding: stream.commandBytes)
                } catch {
                    result.failure = "the \(sender)'s command set on presentation context \(id) cannot be decoded: \(error)"
                    return result
                }
                var commandBytes = stream.commandBytes
                // A C-MOVE's destination is an AE title the SCP knows: the SCU's own title (the usual
                // case, "move to me") reaches the SCP as the calling title the rules map it to.
                if direction == .towardsAcceptor, case .cMoveRequest(var move) = command,
                   let mapped = rewriter.rules.aeTitles.calling[move.moveDestination] {
                    let original = move.moveDestination
                    move.moveDestination = mapped
                    do throws(DIMSEError) {
                        commandBytes = try DIMSECommand.cMoveRequest(move).encodedCommandSet()
                    } catch {
                        result.failure = "the C-MOVE-RQ's Move Destination could not be rewritten: \(error)"
                        return result
                    }
                    command = .cMoveRequest(move)
                    result.notes.append(RewriteNote(kind: .rewritten, tag: CommandTag.moveDestination, path: CommandTag.moveDestination.description,
                                                    before: original, after: mapped,
                                                    detail: "Move Destination, mapped like the calling AE title"))
                }
                append(commandBytes, isCommand: true, isLast: true, contextID: id, capacity: capacity, to: &result.pdus)
                stream = MessageStream()
                if command.hasDataSet {
                    stream.phase = .dataSet
                    stream.commandName = "\(command)"
                    stream.syntax = transferSyntaxes[id]
                    stream.whole = stream.syntax?.isDeflated ?? false
                    if stream.syntax == nil {
                        let text = "\(command) on presentation context \(id), which was not accepted"
                        if direction == .towardsAcceptor {
                            result.failure = text
                            return result
                        }
                        result.problems.append(text)
                        stream.passAll = true
                    }
                }
            case .dataSet:
                guard !header.isCommand else {
                    result.failure = "a command fragment from the \(sender) on presentation context \(id) before the last fragment of the data set of \(stream.commandName)"
                    return result
                }
                stream.received += pdv.fragment.readableBytes
                guard stream.received <= limits.maximumDataSetLength else {
                    result.failure = "the data set of \(stream.commandName) is over \(limits.maximumDataSetLength) bytes"
                    return result
                }
                do throws(RewriteError) {
                    try feed(&stream, pdv.fragment, isLast: header.isLastFragment, direction: direction, notes: &result.notes)
                } catch {
                    let text = "\(stream.commandName) on presentation context \(id): \(error)"
                    if direction == .towardsAcceptor {
                        result.failure = text
                        return result
                    }
                    // Towards the SCU: the rest goes on as it came.
                    result.problems.append(text)
                    stream.passAll = true
                    var rest = stream.run
                    stream.output.writeBuffer(&rest)
                    var input = stream.input
                    stream.output.writeBuffer(&input)
                    stream.run.clear()
                    stream.input.clear()
                }
                // What is ready goes on now, in fragments for the receiver (the bytes themselves, not
                // copies); the last one carries the last-fragment bit.
                if header.isLastFragment {
                    append(stream.output, isCommand: false, isLast: true, contextID: id, capacity: capacity, to: &result.pdus)
                    stream = MessageStream()
                } else if stream.output.readableBytes > 0 {
                    append(stream.output, isCommand: false, isLast: false, contextID: id, capacity: capacity, to: &result.pdus)
                    stream.output = ByteBuffer()
                }
            }
        }
        return result
    }

    /// One data set fragment into `stream.output`.
    private func feed(_ stream: inout MessageStream, _ fragment: ByteBuffer, isLast: Bool, direction: RewriteDirection,
                      notes: inout [RewriteNote]) throws(RewriteError) {
        var bytes = fragment
        if stream.passAll {
            stream.output.writeBuffer(&bytes)
            return
        }
        guard let syntax = stream.syntax else { return }
        if stream.whole {
            stream.run.adopt(&bytes)
            guard isLast else { return }
            if syntax.isDeflated {
                let all = stream.run
                stream.run = ByteBuffer()
                var out = try rewriter.rewrite(dataSet: all, transferSyntax: syntax, direction: direction, notes: &notes) ?? all
                stream.output.adopt(&out)
            } else {
                try flushRun(&stream, encoding: syntax.encoding, direction: direction, notes: &notes)
            }
            return
        }
        // The value of a passed-through element goes straight on, without a copy.
        if stream.passThrough > 0 && stream.input.readableBytes == 0 {
            let n = min(stream.passThrough, bytes.readableBytes)
            if var value = bytes.readSlice(length: n) { stream.output.adopt(&value) }
            stream.passThrough -= n
        }
        stream.input.adopt(&bytes)
        let encoding = syntax.encoding
        while stream.input.readableBytes > 0 {
            if stream.passThrough > 0 {
                let n = min(stream.passThrough, stream.input.readableBytes)
                if var value = stream.input.readSlice(length: n) { stream.output.adopt(&value) }
                stream.passThrough -= n
                continue
            }
            let header: DataElementHeader?
            do throws(DICOMDecodingError) {
                header = try DatasetDecoder.elementHeader(in: stream.input, encoding: encoding)
            } catch {
                throw RewriteError(.dataSet, "the data set (\(syntax.name)) cannot be decoded: \(error)")
            }
            guard let header else { break }
            if header.tag.isGroupLength { stream.groupsWithLength.insert(header.tag.group) }
            guard let length = header.valueLength else {
                // Undefined length: its end is only known by parsing it; the rest is rewritten whole.
                stream.whole = true
                var rest = stream.input
                stream.run.writeBuffer(&rest)
                stream.input = ByteBuffer()
                break
            }
            if length >= streamingThreshold, rewriter.rules.attributes[header.tag] == nil, header.vr != .SQ, header.vr != .UN,
               !header.tag.isGroupLength, !stream.groupsWithLength.contains(header.tag.group) {
                try flushRun(&stream, encoding: encoding, direction: direction, notes: &notes)
                if var headerBytes = stream.input.readSlice(length: header.headerLength) { stream.output.writeBuffer(&headerBytes) }
                stream.passThrough = length
                continue
            }
            guard stream.input.readableBytes >= header.headerLength + length,
                  var element = stream.input.readSlice(length: header.headerLength + length) else { break }
            stream.run.writeBuffer(&element)
        }
        if stream.input.readableBytes == 0 { stream.input.clear() }
        if isLast {
            if stream.whole {
                var rest = stream.input
                stream.run.writeBuffer(&rest)
                stream.input = ByteBuffer()
            } else if stream.input.readableBytes > 0 || stream.passThrough > 0 {
                throw RewriteError(.dataSet, "the data set (\(syntax.name)) ends inside an element")
            }
            try flushRun(&stream, encoding: encoding, direction: direction, notes: &notes)
        }
    }

    /// Rewrites the gathered run of elements into the output.
    private func flushRun(_ stream: inout MessageStream, encoding: DatasetEncoding, direction: RewriteDirection,
                          notes: inout [RewriteNote]) throws(RewriteError) {
        guard stream.run.readableBytes > 0 else { return }
        let run = stream.run
        stream.run = ByteBuffer()
        var out = try rewriter.rewrite(elements: run, encoding: encoding, characterSet: &stream.characterSet,
                                       direction: direction, notes: &notes) ?? run
        stream.output.adopt(&out)
    }

    /// PDVs (one per P-DATA-TF) for `bytes`, `capacity` bytes at most each.
    private func append(_ bytes: ByteBuffer, isCommand: Bool, isLast: Bool, contextID: UInt8, capacity: Int,
                        to pdus: inout [DataTransfer]) {
        var rest = bytes
        repeat {
            let n = min(capacity, rest.readableBytes)
            let piece = rest.readSlice(length: n) ?? ByteBuffer()
            let header = MessageControlHeader(isCommand: isCommand, isLastFragment: isLast && rest.readableBytes == 0)
            pdus.append(DataTransfer(items: [PresentationDataValueItem(presentationContextID: contextID,
                                                                        messageControlHeader: header, fragment: piece)]))
        } while rest.readableBytes > 0
    }
}

extension ByteBuffer {
    /// Appends `other`; an empty buffer takes `other` itself instead of a copy of its bytes.
    mutating func adopt(_ other: inout ByteBuffer) {
        if readableBytes == 0 {
            self = other
            other = ByteBuffer()
        } else {
            writeBuffer(&other)
        }
    }
}
