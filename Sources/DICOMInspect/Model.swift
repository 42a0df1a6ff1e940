import DICOMCore
import DICOMUL
import DIMSE
import NIOCore

/// Which peer sent something: the association requestor (SCU side, which opened the
/// connection) or the acceptor.
public enum PeerRole: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case requestor
    case acceptor

    public var other: PeerRole { self == .requestor ? .acceptor : .requestor }
    public var description: String { rawValue }
    /// Arrow used in dumps: requestor → acceptor is "RQ→", the other way "←AC".
    public var arrow: String { self == .requestor ? "RQ -> AC" : "AC -> RQ" }
}

/// A point in time, in nanoseconds since the Unix epoch (pcap timestamps and live clocks alike).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Double) { nanoseconds = Int64(seconds * 1e9) }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }
    /// The time from `b` to `a`, saturating: capture timestamps can be anything (a pcapng's if_tsoffset, clamped
    /// out-of-range times), and a difference past Int64 must not trap.
    /// Seconds from `origin` to this time (saturating, like `-`).
    public func seconds(since origin: Timestamp) -> Double {
        let d = self - origin
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    public static func - (a: Timestamp, b: Timestamp) -> Duration {
        let (d, overflow) = a.nanoseconds.subtractingReportingOverflow(b.nanoseconds)
        return .nanoseconds(overflow ? (a.nanoseconds < b.nanoseconds ? Int64.min : Int64.max) : d)
    }
    public var description: String { secondsText(Double(nanoseconds) / 1e9) }
}

extension Duration {
    /// Milliseconds with three decimals, for dumps and JSON.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

/// A protocol finding: something a user debugging the association would want flagged.
public struct Finding: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Comparable {
        case info, warning, error
        public static func < (a: Severity, b: Severity) -> Bool {
            let order: [Severity] = [.info, .warning, .error]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    /// Stable identifiers, used in JSON output and filters.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let malformedPDU = Code(rawValue: "malformed-pdu")
        public static let framingLost = Code(rawValue: "framing-lost")
        public static let resynchronized = Code(rawValue: "resynchronized")
        public static let streamGap = Code(rawValue: "stream-gap")
        public static let pduExceedsMaximumLength = Code(rawValue: "pdu-exceeds-max-length")
        public static let pdvOnUnacceptedContext = Code(rawValue: "pdv-on-unaccepted-context")
        public static let dimseAssemblyError = Code(rawValue: "dimse-assembly-error")
        public static let commandNotDecodable = Code(rawValue: "command-not-decodable")
        public static let dataSetNotDecodable = Code(rawValue: "dataset-not-decodable")
        /// A long data set could not be written to the spool file (replay cannot send it).
        public static let dataSetNotKept = Code(rawValue: "dataset-not-kept")
        public static let responseToUnknownMessage = Code(rawValue: "response-to-unknown-message")
        public static let duplicateMessageID = Code(rawValue: "duplicate-message-id")
        public static let multiplePendingResponses = Code(rawValue: "multiple-pending-responses")
        public static let missingContentTemplateSequence = Code(rawValue: "missing-content-template-sequence")
        public static let statusNotDefinedForService = Code(rawValue: "status-not-defined-for-service")
        public static let finalResponseWithDataSet = Code(rawValue: "final-response-with-dataset")
        public static let pendingResponseWithoutDataSet = Code(rawValue: "pending-response-without-dataset")
        public static let dataAfterRelease = Code(rawValue: "data-after-release")
        public static let unexpectedPDU = Code(rawValue: "unexpected-pdu")
        public static let unansweredRequest = Code(rawValue: "unanswered-request")
        public static let startedMidAssociation = Code(rawValue: "started-mid-association")
        public static let transferSyntaxInferred = Code(rawValue: "transfer-syntax-inferred")
        /// More findings than `AssociationObserver.Configuration.maximumFindings`: the rest are counted, not kept.
        public static let findingsTruncated = Code(rawValue: "findings-truncated")
        /// More requests open at once than `AssociationObserver.Configuration.maximumOpenRequests`.
        public static let tooManyOpenRequests = Code(rawValue: "too-many-open-requests")
        /// An exchange got more responses than `AssociationObserver.Configuration.maximumKeptResponses`:
        /// the rest were counted, not kept (once per exchange, when it ends).
        public static let responsesTruncated = Code(rawValue: "responses-truncated")
    }

    public var code: Code
    public var severity: Severity
    public var message: String
    public var time: Timestamp?
    /// Who sent the PDU or message concerned.
    public var sender: PeerRole?
    /// Offset of the PDU concerned in the sender's byte stream.
    public var streamOffset: Int?
    /// Index of the exchange concerned in `AssociationObserver.exchanges`.
    public var exchangeIndex: Int?
    /// Number of the capture packet concerned (1-based, as Wireshark counts), when known.
    public var packet: Int?

    public init(_ code: Code, _ severity: Severity, _ message: String, time: Timestamp? = nil, sender: PeerRole? = nil,
                streamOffset: Int? = nil, exchangeIndex: Int? = nil) {
        self.code = code
        self.severity = severity
        self.message = message
        self.time = time
        self.sender = sender
        self.streamOffset = streamOffset
        self.exchangeIndex = exchangeIndex
    }

    public var description: String { "[\(severity)] \(code): \(message)" }
}

/// A presentation context as negotiated: proposed by the requestor, answered by the acceptor.
public struct NegotiatedContext: Sendable, Hashable {
    public var id: UInt8
    public var abstractSyntax: String
    public var proposedTransferSyntaxes: [String]
    public var result: PresentationContextResult?
    /// The accepted transfer syntax (only meaningful when `result == .acceptance`).
    public var transferSyntax: String?
    /// True when the transfer syntax was not negotiated in the capture but inferred from data.
    public var isInferred: Bool = false

    public var isAccepted: Bool { result == .acceptance }
}

/// How the association ended (or has not yet).
public enum AssociationOutcome: Sendable, Hashable, CustomStringConvertible {
    case negotiating
    case established
    case rejected(AssociateReject)
    case releaseRequested(by: PeerRole)
    case released
    case aborted(Abort, by: PeerRole)
    /// The transport closed without release or abort.
    case connectionClosed
    /// The capture ended while the association was open (it was not seen to close).
    case openAtCaptureEnd
    /// The capture started after the association was negotiated.
    case unknownStart

    public var description: String {
        switch self {
        case .negotiating: return "negotiating"
        case .established: return "established"
        case .rejected(let rj): return "rejected (\(rj))"
        case .releaseRequested(let by): return "release requested by the \(by)"
        case .released: return "released"
        case .aborted(let a, let by): return "aborted by the \(by) (\(a))"
        case .connectionClosed: return "connection closed without release"
        case .openAtCaptureEnd: return "still open when the capture ended"
        case .unknownStart: return "established before the capture"
        }
    }

    public var isFinished: Bool {
        switch self {
        case .rejected, .released, .aborted, .connectionClosed, .openAtCaptureEnd: return true
        case .negotiating, .established, .releaseRequested, .unknownStart: return false
        }
    }
}

/// What the observer knows about the association.
public struct AssociationInfo: Sendable, Hashable {
    public var callingAETitle: String?
    public var calledAETitle: String?
    public var contexts: [UInt8: NegotiatedContext] = [:]
    /// Max length each side announced it can receive (0 = unlimited).
    public var maximumLength: [PeerRole: UInt32] = [:]
    public var implementationClassUID: [PeerRole: String] = [:]
    public var implementationVersionName: [PeerRole: String] = [:]
    /// Role selection as proposed (requestor) and answered (acceptor): SOP class → (SCU, SCP).
    public var roleSelection: [PeerRole: [String: RoleSelectionSubItem]] = [:]
    public var userIdentityType: UserIdentityType?
    public var outcome: AssociationOutcome = .negotiating
    public var requestTime: Timestamp?
    public var acceptTime: Timestamp?
    public var endTime: Timestamp?
    public var startedMidStream = false

    public var acceptedContexts: [NegotiatedContext] { contexts.values.filter(\.isAccepted).sorted { $0.id < $1.id } }
}

/// Why a message's data set did not arrive whole.
public enum DataSetLoss: String, Sendable, Hashable {
    /// Bytes of the stream were missing (a gap in the capture).
    case gap
    /// The capture ended before the rest of it.
    case endOfCapture = "end-of-capture"
    /// The connection closed before the rest of it.
    case connectionClosed = "connection-closed"
}

/// A DIMSE message as observed: command, data set decoded in its context's transfer syntax.
public struct ObservedMessage: Sendable {
    public var sender: PeerRole
    public var presentationContextID: UInt8
    public var command: DIMSECommand
    public var commandBytes: ByteBuffer
    /// The data set's bytes as received, when kept (at most the observer's `keptDataSetLength`).
    public var dataSetBytes: ByteBuffer?
    /// The data set's length as received (nil: the message has no data set, or it was lost in a gap).
    public var dataSetLength: Int?
    /// A data set longer than the observer kept, where its bytes are (an observer with a spool).
    public var dataSetSpooled: SpooledBytes?
    /// Whether the message carries a data set.
    public var hasDataSet: Bool { dataSetLength != nil }
    /// The data set, decoded (nil when absent or not decodable; see `dataSetError`). Values at
    /// or over the observer's bulk threshold are references (`DataElement.Value.bulk`). An
    /// observer with `decodesDataSets` off only checks the data set as it arrives; a short one
    /// is then decoded here, on each access, from its kept bytes (so a consumer that looks at
    /// few data sets, like `analyze --summary`, does not build the others).
    public var dataSet: Dataset? {
        get {
            if let decodedDataSet { return decodedDataSet }
            guard let deferred = deferredDataSet, let ts = transferSyntax else { return nil }
            return try? DatasetDecoder(options: deferred.options).decode(deferred.body, encoding: ts.encoding)
        }
        set {
            decodedDataSet = newValue
            deferredDataSet = nil
            isDataSetDecodable = newValue != nil
        }
    }
    /// Whether a decodable data set is present (it decoded without error in a known transfer
    /// syntax), without decoding it: `dataSet` may still be nil for a long one checked only.
    public var hasDecodableDataSet: Bool { isDataSetDecodable }
    /// Set from how the data set decoded as it arrived.
    var isDataSetDecodable = false
    public var dataSetError: DICOMDecodingError?
    /// The data set as decoded when the message completed (observer with `decodesDataSets`).
    var decodedDataSet: Dataset?
    /// The checked bytes (inflated for a deflated transfer syntax) and the options to decode
    /// them with, when the observer did not decode the data set.
    var deferredDataSet: (body: ByteBuffer, options: DecodingOptions)?
    public var transferSyntax: TransferSyntax?
    /// When the first and the last fragment were seen.
    public var firstFragmentTime: Timestamp
    public var time: Timestamp
    /// Capture packet that completed the message, when known.
    public var packet: Int?
    /// The data set was announced but did not arrive whole: why.
    public var dataSetLoss: DataSetLoss?
    /// The data set was announced but did not arrive whole (see `dataSetLoss`).
    public var dataSetLost: Bool { dataSetLoss != nil }
    /// Read once from the command set (these are on every per-message path).
    public let commandField: CommandField?
    public let sopClassUID: String?
    public let status: DIMSEStatus?

    public init(sender: PeerRole, presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer,
                dataSetBytes: ByteBuffer?, firstFragmentTime: Timestamp, time: Timestamp, packet: Int?) {
        self.init(sender: sender, presentationContextID: presentationContextID, command: command, commandBytes: commandBytes,
                  dataSetBytes: dataSetBytes, dataSetLength: dataSetBytes?.readableBytes, firstFragmentTime: firstFragmentTime,
                  time: time, packet: packet, dataSetLoss: nil, transferSyntax: nil, decodedDataSet: nil, deferredDataSet: nil,
                  dataSetError: nil, isDataSetDecodable: false)
    }

    /// Every stored field at once (the observer builds each message with one initializer, so it is moved, not copied).
    init(sender: PeerRole, presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer,
         dataSetBytes: ByteBuffer?, dataSetLength: Int?, firstFragmentTime: Timestamp, time: Timestamp, packet: Int?,
         dataSetLoss: DataSetLoss?, transferSyntax: TransferSyntax?, decodedDataSet: Dataset?,
         deferredDataSet: (body: ByteBuffer, options: DecodingOptions)?, dataSetError: DICOMDecodingError?,
         isDataSetDecodable: Bool) {
        self.dataSetLength = dataSetLength
        self.isDataSetDecodable = isDataSetDecodable
        self.dataSetLoss = dataSetLoss
        self.transferSyntax = transferSyntax
        self.decodedDataSet = decodedDataSet
        self.deferredDataSet = deferredDataSet
        self.dataSetError = dataSetError
        self.sender = sender
        self.presentationContextID = presentationContextID
        self.command = command
        self.commandBytes = commandBytes
        self.dataSetBytes = dataSetBytes
        self.firstFragmentTime = firstFragmentTime
        self.time = time
        self.packet = packet
        let fields = CommandFields(command)
        commandField = fields.commandField
        sopClassUID = fields.sopClassUID
        messageID = fields.messageID
        messageIDBeingRespondedTo = fields.messageIDBeingRespondedTo
        status = fields.status.map {
            DIMSEStatus.lookup($0, commandField: fields.commandField ?? .cEchoResponse, sopClassUID: fields.sopClassUID)
        }
    }

    /// Message ID (0000,0110) of a request, read once.
    public let messageID: UInt16?
    /// Message ID Being Responded To (0000,0120) of a response or a C-CANCEL-RQ, read once.
    public let messageIDBeingRespondedTo: UInt16?
}

/// The fields of a command that are read on every message, taken from the typed message with
/// one switch. `DIMSECommand`'s own accessors box the message in an existential and rebuild
/// the command set on each call (`sopClassUID`); the values are the same.
struct CommandFields {
    var commandField: CommandField?
    var sopClassUID: String?
    var messageID: UInt16?
    var messageIDBeingRespondedTo: UInt16?
    var status: UInt16?

    init(_ command: DIMSECommand) {
        switch command {
        case .cStoreRequest(let m):
            self.init(.cStoreRequest, m.affectedSOPClassUID, id: m.messageID)
        case .cStoreResponse(let m):
            self.init(.cStoreResponse, m.affectedSOPClassUID, command, to: m.messageIDBeingRespondedTo, status: m.status)
        case .cFindRequest(let m):
            self.init(.cFindRequest, m.affectedSOPClassUID, id: m.messageID)
        case .cFindResponse(let m):
            self.init(.cFindResponse, m.affectedSOPClassUID, command, to: m.messageIDBeingRespondedTo, status: m.status)
        case .cEchoRequest(let m):
            self.init(.cEchoRequest, m.affectedSOPClassUID, id: m.messageID)
        case .cEchoResponse(let m):
            self.init(.cEchoResponse, m.affectedSOPClassUID, command, to: m.messageIDBeingRespondedTo, status: m.status)
        case .cGetRequest(let m):
            self.init(.cGetRequest, m.affectedSOPClassUID, id: m.messageID)
        case .cGetResponse(let m):
            self.init(.cGetResponse, m.affectedSOPClassUID, command, to: m.messageIDBeingRespondedTo, status: m.status)
        case .cMoveRequest(let m):
            self.init(.cMoveRequest, m.affectedSOPClassUID, id: m.messageID)
        case .cMoveResponse(let m):
            self.init(.cMoveResponse, m.affectedSOPClassUID, command, to: m.messageIDBeingRespondedTo, status: m.status)
        default:
            self.init(field: command.commandField, sop: command.sopClassUID, id: command.messageID,
                      to: command.messageIDBeingRespondedTo, status: command.status)
        }
    }

    private init(field: CommandField?, sop: String?, id: UInt16?, to: UInt16?, status: UInt16?) {
        commandField = field
        sopClassUID = sop
        messageID = id
        messageIDBeingRespondedTo = to
        self.status = status
    }

    private init(_ field: CommandField, _ sop: String, id: UInt16) {
        self.init(field: field, sop: sop, id: id, to: nil, status: nil)
    }

    /// A response: without its Affected SOP Class UID the command set's Requested SOP Class UID applies.
    private init(_ field: CommandField, _ sop: String?, _ command: DIMSECommand, to id: UInt16, status: UInt16) {
        self.init(field: field, sop: sop ?? command.sopClassUID, id: nil, to: id, status: status)
    }
}

/// A request and its responses, paired by Message ID / Message ID Being Responded To.
///
/// An exchange keeps at most `AssociationObserver.Configuration.maximumKeptResponses` responses
/// (the first ones) and the latest one, so that an SCP streaming a million pending responses, or
/// one that never sends the final one, does not grow the observer; `responseCounts` counts every
/// response, kept or not (see `Exchange+Responses.swift`).
public struct Exchange: Sendable {
    public var index: Int
    public var request: ObservedMessage
    /// The responses kept, in the order they came: the first `maximumKeptResponses`, then the
    /// latest (the final one when it came). `responsesNotKept` came between the last two.
    public internal(set) var responses: [ObservedMessage] = []
    /// Every response counted, kept or not.
    public internal(set) var responseCounts = ResponseCounts()
    public var cancel: ObservedMessage?
    /// The SOP class of the request (Affected or Requested SOP Class UID).
    public var sopClassUID: String? { request.sopClassUID }
    public var messageID: UInt16 { request.messageID ?? 0 }
    public var service: DIMSEService? { request.commandField?.service }

    init(index: Int, request: consuming ObservedMessage) {
        self.index = index
        self.request = request
    }
}
