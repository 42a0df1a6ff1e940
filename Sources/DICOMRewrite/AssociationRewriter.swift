import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import NIOCore

/// Rewrites one association as it passes between an SCU (requestor) and an SCP (acceptor):
/// AE titles in A-ASSOCIATE-RQ/AC, and the data set of every DIMSE message. P-DATA is
/// assembled into whole messages per presentation context (`MessageAssembler`), the data set
/// is rewritten in the context's accepted transfer syntax, and the message is fragmented
/// again (`MessageFragmenter`) for the receiving peer's Maximum Length (the SCU's from its
/// A-ASSOCIATE-RQ, the SCP's from its A-ASSOCIATE-AC). A pure value type fed the PDUs in
/// order; it knows nothing of sockets.
public struct AssociationRewriter: Sendable {
    public let rewriter: Rewriter
    private var assemblers: [PeerRole: MessageAssembler]
    /// Accepted presentation contexts → transfer syntax.
    public private(set) var transferSyntaxes: [UInt8: TransferSyntax] = [:]
    /// Maximum Length Received of each peer (0: unlimited), i.e. the largest P-DATA-TF it takes.
    public private(set) var maximumLength: [PeerRole: UInt32] = [.requestor: 0, .acceptor: 0]
    /// The AE titles as the SCU sent them, and as the SCP received them.
    private var originalTitles: (called: WireString, calling: WireString)?
    private var rewrittenTitles: (called: WireString, calling: WireString)?

    public init(rewriter: Rewriter, assembler: MessageAssembler.Configuration = MessageAssembler.Configuration()) {
        self.rewriter = rewriter
        assemblers = [.requestor: MessageAssembler(configuration: assembler), .acceptor: MessageAssembler(configuration: assembler)]
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

    /// Whether the A-ASSOCIATE-RQ/AC needs re-encoding at all.
    public var rewritesAETitles: Bool { !rewriter.rules.aeTitles.isEmpty }

    // MARK: P-DATA

    /// What one P-DATA-TF PDU from a peer becomes.
    public struct DataResult: Sendable {
        /// The P-DATA-TF PDUs to send the other peer (none while a message is incomplete).
        public var pdus: [DataTransfer] = []
        public var notes: [RewriteNote] = []
        /// Messages that went on unchanged although they could not be rewritten (towards the SCU only).
        public var problems: [String] = []
        /// A message towards the SCP that cannot be rewritten: it must not be forwarded.
        public var failure: String?
    }

    /// Feeds one P-DATA-TF PDU from `sender`. Complete messages come out rewritten and
    /// fragmented for the other peer.
    public mutating func dataTransfer(_ pdu: DataTransfer, from sender: PeerRole) -> DataResult {
        var result = DataResult()
        let direction: RewriteDirection = sender == .requestor ? .towardsAcceptor : .towardsRequestor
        let receiverMaximum = maximumLength[sender.other] ?? 0
        let limit = receiverMaximum == 0 ? 0 : max(receiverMaximum, MessageFragmenter.smallestMaximumLength)
        guard let fragmenter = try? MessageFragmenter(maximumLength: limit) else {
            result.failure = "no fragmenter for maximum length \(receiverMaximum)"
            return result
        }
        var assembler = assemblers[sender] ?? MessageAssembler()
        defer { assemblers[sender] = assembler }
        for pdv in pdu.items {
            let message: DIMSEMessageAssembly
            do throws(DIMSEError) {
                guard let complete = try assembler.receive(pdv) else { continue }
                message = complete
            } catch {
                result.failure = "the \(sender)'s message on presentation context \(pdv.presentationContextID) cannot be assembled: \(error)"
                return result
            }
            var dataSet = message.dataSetBytes
            if let bytes = message.dataSetBytes {
                if let syntax = transferSyntaxes[message.presentationContextID] {
                    do throws(RewriteError) {
                        if let rewritten = try rewriter.rewrite(dataSet: bytes, transferSyntax: syntax, direction: direction,
                                                                notes: &result.notes) {
                            dataSet = rewritten
                        }
                    } catch {
                        let text = "\(message.command) on presentation context \(message.presentationContextID): \(error)"
                        if direction == .towardsAcceptor {
                            result.failure = text
                            return result
                        }
                        result.problems.append(text)
                    }
                } else {
                    let text = "\(message.command) on presentation context \(message.presentationContextID), which was not accepted"
                    if direction == .towardsAcceptor {
                        result.failure = text
                        return result
                    }
                    result.problems.append(text)
                }
            }
            result.pdus += fragmenter.fragment(commandSet: message.commandBytes, dataSet: dataSet,
                                               presentationContextID: message.presentationContextID)
        }
        return result
    }
}
