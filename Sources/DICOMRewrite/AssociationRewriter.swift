import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// Rewrites one association as it passes between an SCU (requestor) and an SCP (acceptor):
/// AE titles in A-ASSOCIATE-RQ/AC, and the data set of every DIMSE message, in the
/// presentation context's accepted transfer syntax. Messages are assembled from their PDVs by
/// the shared `MessageAssembler` (streaming data sets); each data set is parsed by the shared
/// `DatasetParser` as its fragments arrive (inflated and deflated again as it streams for
/// Deflated Explicit VR Little Endian) and rewritten element by element
/// (`DatasetRewriteStream`): a large value no rule applies to goes on as it arrives, so a large
/// C-STORE is never held whole. What goes on is fragmented again for the receiving peer's
/// Maximum Length (the SCU's from its A-ASSOCIATE-RQ, the SCP's from its A-ASSOCIATE-AC).
///
/// A message is held until it is complete, or until `holdLimit` bytes of it are waiting: a
/// message that cannot be rewritten (towards the SCP) then never reaches the SCP, not even its
/// command set. A pure value type fed the PDUs in order; it knows nothing of sockets.
package struct AssociationRewriter: Sendable {
    package let rewriter: Rewriter
    /// Bounds: command sets and data sets (the assembler's).
    package let limits: MessageAssembler.Configuration
    /// Values at least this long, with no rule that needs them whole, are passed through as they arrive.
    package var streamingThreshold = 1 << 16
    /// A deflated data set inflating past this many bytes cannot be rewritten (the association is aborted).
    package var maxInflatedSize: Int
    /// A message's rewritten PDUs are held (not sent) while they are fewer than this many bytes
    /// and the message is not complete; a data set's open sequences of defined length are held up to it too.
    package var holdLimit = 1 << 20
    private var assemblers: [MessageAssembler]
    private var messages: [StreamKey: MessageRewrite] = [:]
    /// Accepted presentation contexts → transfer syntax.
    package private(set) var transferSyntaxes: [UInt8: TransferSyntax] = [:]
    /// Maximum Length Received of each peer (0: unlimited), i.e. the largest P-DATA-TF it takes.
    package private(set) var maximumLength: [PeerRole: UInt32] = [.requestor: 0, .acceptor: 0]
    /// The AE titles as the SCU sent them, and as the SCP received them.
    private var originalTitles: (called: WireString, calling: WireString)?
    private var rewrittenTitles: (called: WireString, calling: WireString)?

    package init(rewriter: Rewriter, assembler: MessageAssembler.Configuration = MessageAssembler.Configuration()) {
        self.rewriter = rewriter
        limits = assembler
        maxInflatedSize = rewriter.decodingOptions.maxInflatedSize
        var streaming = assembler
        streaming.streamsDataSets = true
        assemblers = [MessageAssembler(configuration: streaming), MessageAssembler(configuration: streaming)]
    }

    // MARK: Association PDUs

    /// The A-ASSOCIATE-RQ for the SCP: called and calling AE titles substituted.
    package mutating func associateRequest(_ request: AssociateRequest) -> AssociateRequest {
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
    package mutating func associateAccept(_ accept: AssociateAccept) -> AssociateAccept {
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
    package struct DataResult: Sendable {
        /// The P-DATA-TF PDUs to send the other peer (one PDV each).
        package var pdus: [DataTransfer] = []
        package var notes: [RewriteNote] = []
        /// Data sets that went on unchanged although they could not be rewritten (towards the SCU only).
        package var problems: [String] = []
        /// A message towards the SCP that cannot be rewritten, or a broken PDV sequence: nothing
        /// more may be forwarded.
        package var failure: String?
        /// Pseudonyms issued that the mapping store does not hold yet: `pdus` may go on only once
        /// they are committed (`MappingStore.commitInBackground`); if that fails, nothing more may.
        package var newRecords: [PseudonymRecord] = []
    }

    struct StreamKey: Hashable, Sendable {
        var sender: PeerRole
        var presentationContextID: UInt8
    }

    /// One message in progress from one sender on one presentation context.
    struct MessageRewrite: Sendable {
        var commandName: String
        var syntax: TransferSyntax?
        var parser: DatasetParser?
        var stream: DatasetRewriteStream?
        var inflater: StreamingInflater?
        var deflater: StreamingDeflater?
        /// Deflated bytes written (a deflated data set is padded to an even length).
        var deflatedLength = 0
        var fragmenter: StreamFragmenter
        /// The data set goes on as it came (not accepted context towards the SCU, nothing to rewrite, or after a problem).
        var passThrough = false
        /// PDUs not sent yet (the command's and the data set's), and their size.
        var held: [DataTransfer] = []
        var heldBytes = 0
        /// Some of the message went on already (past `holdLimit`).
        var released = false
        /// The data set as received, while held (to send it unchanged towards the SCU if it cannot be rewritten).
        var original: ByteBuffer? = ByteBuffer()
    }

    /// Whether data sets from `sender` need parsing at all.
    private func rewritesDataSets(towards direction: RewriteDirection) -> Bool {
        guard rewriter.rules.rewritesDataSets else { return false }
        return direction == .towardsAcceptor || rewriter.rules.reverseMap
    }

    /// Feeds one P-DATA-TF PDU from `sender`; returns what to send the other peer.
    package mutating func dataTransfer(_ pdu: DataTransfer, from sender: PeerRole) -> DataResult {
        var result = DataResult()
        let side = sender == .requestor ? 0 : 1
        for pdv in pdu.items {
            let output: AssemblyOutput?
            do throws(DIMSEError) {
                output = try assemblers[side].next(pdv)
            } catch {
                result.failure = "the \(sender)'s PDVs on presentation context \(pdv.presentationContextID) cannot be assembled: \(error)"
                return result
            }
            guard let output else { continue }
            switch output {
            case .message(let m):
                guard let commandBytes = command(m, from: sender, into: &result) else { return result }
                let fragmenter = StreamFragmenter(maximumLength: receiverMaximum(sender), presentationContextID: m.presentationContextID,
                                                  isCommand: true)
                var f = fragmenter
                result.pdus += f.add(commandBytes, isLast: true)
            case .command(let m):
                guard let commandBytes = command(m, from: sender, into: &result) else { return result }
                begin(m, commandBytes: commandBytes, from: sender, into: &result)
                if result.failure != nil { return result }
            case .dataSetFragment(let id, let fragment, let isLast, _):
                let key = StreamKey(sender: sender, presentationContextID: id)
                // Moved out while used, so that its buffers are appended to in place.
                guard var message = messages.removeValue(forKey: key) else { continue }
                feed(&message, fragment, isLast: isLast, from: sender, into: &result)
                if result.failure != nil { return result }
                if !isLast { messages[key] = message }
            }
        }
        return result
    }

    private func receiverMaximum(_ sender: PeerRole) -> UInt32 { maximumLength[sender.other] ?? 0 }

    /// The command set to send for `m` (rewritten where it names what the rules map), or nil after a failure.
    private func command(_ m: DIMSEMessageAssembly, from sender: PeerRole, into result: inout DataResult) -> ByteBuffer? {
        // A C-MOVE's destination is an AE title the SCP knows: the SCU's own title (the usual
        // case, "move to me") reaches the SCP as the calling title the rules map it to.
        if sender == .requestor, case .cMoveRequest(var move) = m.command,
           let mapped = rewriter.rules.aeTitles.calling[move.moveDestination] {
            let original = move.moveDestination
            move.moveDestination = mapped
            do throws(DIMSEError) {
                let bytes = try DIMSECommand.cMoveRequest(move).encodedCommandSet()
                result.notes.append(RewriteNote(kind: .rewritten, tag: CommandTag.moveDestination,
                                                path: CommandTag.moveDestination.description, before: original, after: mapped,
                                                detail: "Move Destination, mapped like the calling AE title"))
                return bytes
            } catch {
                result.failure = "the C-MOVE-RQ's Move Destination could not be rewritten: \(error)"
                return nil
            }
        }
        let direction: RewriteDirection = sender == .requestor ? .towardsAcceptor : .towardsRequestor
        do throws(RewriteError) {
            return try rewriter.rewrite(commandSet: m.commandBytes, direction: direction, notes: &result.notes,
                                        records: &result.newRecords) ?? m.commandBytes
        } catch {
            let text = "\(m.command) on presentation context \(m.presentationContextID): \(error)"
            guard direction == .towardsRequestor else {
                result.failure = text
                return nil
            }
            result.problems.append(text)
            return m.commandBytes
        }
    }

    /// The Issuer of Patient ID assumed for the SCU's data sets without one (by its calling AE title, else `*`).
    private var defaultIssuer: String? {
        let issuers = rewriter.rules.defaultIssuers
        guard !issuers.isEmpty else { return nil }
        if let calling = originalTitles?.calling.value, let issuer = issuers[calling] { return issuer }
        return issuers["*"]
    }

    /// What a message's data set is, for the rules.
    private static func purpose(of command: DIMSECommand) -> DataSetPurpose {
        switch command {
        case .cStoreRequest: return .store
        case .cFindRequest, .cGetRequest, .cMoveRequest: return .query
        default: return .other
        }
    }

    /// A command whose data set follows: its PDUs are held, the data set's pipeline set up.
    private mutating func begin(_ m: DIMSEMessageAssembly, commandBytes: ByteBuffer, from sender: PeerRole,
                                into result: inout DataResult) {
        let direction: RewriteDirection = sender == .requestor ? .towardsAcceptor : .towardsRequestor
        let id = m.presentationContextID
        var commandFragmenter = StreamFragmenter(maximumLength: receiverMaximum(sender), presentationContextID: id, isCommand: true)
        var message = MessageRewrite(commandName: "\(m.command)", syntax: transferSyntaxes[id],
                                     fragmenter: StreamFragmenter(maximumLength: receiverMaximum(sender), presentationContextID: id,
                                                                  isCommand: false))
        hold(commandFragmenter.add(commandBytes, isLast: true), in: &message, into: &result)
        if let syntax = message.syntax {
            if rewritesDataSets(towards: direction) {
                message.parser = DatasetParser(encoding: syntax.encoding, options: rewriter.decodingOptions,
                                               bulkThreshold: streamingThreshold)
                message.stream = DatasetRewriteStream(rewriter: rewriter, direction: direction, holdLimit: holdLimit,
                                                      purpose: direction == .towardsAcceptor ? Self.purpose(of: m.command) : .other,
                                                      defaultIssuer: defaultIssuer)
                if syntax.isDeflated {
                    message.inflater = StreamingInflater(maxSize: maxInflatedSize)
                    message.deflater = StreamingDeflater()
                }
            } else {
                message.passThrough = true
            }
        } else {
            let text = "\(m.command) on presentation context \(id), which was not accepted"
            if direction == .towardsAcceptor {
                result.failure = text
                return
            }
            result.problems.append(text)
            message.passThrough = true
        }
        if direction == .towardsAcceptor || message.passThrough { message.original = nil }
        messages[StreamKey(sender: sender, presentationContextID: id)] = message
    }

    /// One data set fragment through the message's pipeline.
    private mutating func feed(_ message: inout MessageRewrite, _ fragment: ByteBuffer, isLast: Bool, from sender: PeerRole,
                               into result: inout DataResult) {
        let direction: RewriteDirection = sender == .requestor ? .towardsAcceptor : .towardsRequestor
        if var original = message.original {
            message.original = nil
            if original.readableBytes + fragment.readableBytes <= holdLimit {
                var more = fragment
                if original.readableBytes == 0 { original = more } else { original.writeBuffer(&more) }
                message.original = original
            }
        }
        if message.passThrough {
            hold(message.fragmenter.add(fragment, isLast: isLast), in: &message, into: &result)
            return
        }
        do throws(RewriteError) {
            let out = try rewrite(&message, fragment, isLast: isLast)
            result.notes += message.stream?.takeNotes() ?? []
            // Taken with every fragment: what goes on of a message past the hold limit waits for them too.
            result.newRecords += message.stream?.takeRecords() ?? []
            hold(out, in: &message, into: &result)
        } catch {
            // The notes of this fragment describe changes that do not go on.
            _ = message.stream?.takeNotes()
            let text = "\(message.commandName) on presentation context \(message.fragmenter.presentationContextID): \(error)"
            guard direction == .towardsRequestor, !message.released, let original = message.original else {
                result.failure = text
                return
            }
            // Towards the SCU, before any of it went on: the data set goes on as it came.
            result.problems.append(text)
            message.held.removeAll { $0.items.first?.messageControlHeader.isCommand == false }
            message.heldBytes = message.held.reduce(0) { $0 + $1.bodyLength }
            message.parser = nil
            message.stream = nil
            message.inflater = nil
            message.deflater = nil
            message.passThrough = true
            // A fresh fragmenter: what the old one held was rewritten bytes.
            message.fragmenter = StreamFragmenter(maximumLength: receiverMaximum(sender),
                                                  presentationContextID: message.fragmenter.presentationContextID, isCommand: false)
            hold(message.fragmenter.add(original, isLast: isLast), in: &message, into: &result)
        }
    }

    /// The rewritten PDUs for one fragment (inflated, parsed, rewritten, deflated again). A
    /// deflated fragment is rewritten and deflated again piece by piece as it inflates, so that
    /// no more than one piece of its inflation is held.
    private func rewrite(_ message: inout MessageRewrite, _ fragment: ByteBuffer, isLast: Bool) throws(RewriteError) -> [DataTransfer] {
        // Moved out while used (not copied), so that their buffers are appended to in place.
        guard var parser = message.parser, var stream = message.stream else { return [] }
        message.parser = nil
        message.stream = nil
        defer {
            message.parser = parser
            message.stream = stream
        }
        let name = message.syntax?.name ?? "?"
        var out: [DataTransfer] = []
        do throws(DICOMDecodingError) {
            if let inflater = message.inflater {
                try inflater.inflate(fragment) { (plain: ByteBuffer) throws(DICOMDecodingError) in
                    parser.append(plain)
                    try parser.parse(into: &stream)
                    if stream.failure == nil { out += try deflate(stream.take(), finish: false, &message) }
                }
            } else {
                parser.append(fragment)
                try parser.parse(into: &stream)
            }
            if isLast {
                parser.finish()
                try parser.parse(into: &stream)
            }
        } catch {
            throw RewriteError(.dataSet, "the data set (\(name)) cannot be decoded: \(error)")
        }
        if let failure = stream.failure { throw failure }
        let plain = isLast ? stream.finish() : stream.take()
        // The end of the data set writes what waited (a Patient ID, the marks): it may fail too.
        if let failure = stream.failure { throw failure }
        guard message.deflater != nil else { return message.fragmenter.add(plain, isLast: isLast) }
        do throws(DICOMDecodingError) {
            out += try deflate(plain, finish: isLast, &message)
        } catch {
            throw RewriteError(.unencodable, "the rewritten data set cannot be deflated: \(error)")
        }
        return out
    }

    /// Deflates rewritten bytes and fragments what comes out (a deflated data set is padded to an even length).
    private func deflate(_ plain: ByteBuffer, finish: Bool, _ message: inout MessageRewrite) throws(DICOMDecodingError) -> [DataTransfer] {
        guard let deflater = message.deflater, plain.readableBytes > 0 || finish else { return [] }
        var compressed = ByteBuffer()
        try deflater.deflate(plain, finish: finish) { piece in
            var p = piece
            compressed.writeBuffer(&p)
        }
        message.deflatedLength += compressed.readableBytes
        if finish && message.deflatedLength % 2 == 1 { compressed.writeInteger(UInt8(0)) }
        return message.fragmenter.add(compressed, isLast: finish)
    }

    /// Holds PDUs of a message until it is complete or `holdLimit` bytes wait; then sends them.
    private func hold(_ pdus: [DataTransfer], in message: inout MessageRewrite, into result: inout DataResult) {
        guard !message.released else {
            result.pdus += pdus
            return
        }
        message.held += pdus
        message.heldBytes += pdus.reduce(0) { $0 + $1.bodyLength }
        let complete = pdus.last?.items.last.map { !$0.messageControlHeader.isCommand && $0.messageControlHeader.isLastFragment } ?? false
        if complete || message.heldBytes > holdLimit {
            result.pdus += message.held
            message.held = []
            message.heldBytes = 0
            message.released = !complete
            if message.released { message.original = nil }
        }
    }
}
