import DICOMInspect
import DICOMUL
import NIOCore

/// What the proxy's outputs (console, text logs, `events.jsonl`, recordings) may show of what
/// the peers sent.
///
/// - User Identity credentials (PS3.7 D.3.3.7: the passcode of type 2, the Kerberos ticket,
///   SAML assertion or JSON Web Token of types 3 to 5, the A-ASSOCIATE-AC's server response) are
///   zeros of the same length in recordings and hex dumps, in every mode, unless `recordSecrets`
///   (the rendered text never shows them: it names their length). The relay itself forwards the
///   real ones.
/// - With rewriting on, what the SCU sent may hold original identifiers: it is not hex dumped, and
///   a framing error in its stream is said by its offset, not by the bytes that were there,
///   unless `logOriginals`.
struct SecretMasking: Sendable {
    var isRewriting: Bool
    var logOriginals: Bool
    var recordSecrets: Bool
    /// The proxy's own limit (`--max-pdu-length`), said when a PDU is over it.
    var maximumPDULength: Int

    init(isRewriting: Bool, logOriginals: Bool, recordSecrets: Bool, maximumPDULength: Int) {
        self.isRewriting = isRewriting
        self.logOriginals = logOriginals
        self.recordSecrets = recordSecrets
        self.maximumPDULength = maximumPDULength
    }

    init(_ configuration: ProxyConfiguration) {
        self.init(isRewriting: configuration.rewriter != nil, logOriginals: configuration.logOriginals,
                  recordSecrets: configuration.recordSecrets, maximumPDULength: configuration.maximumPDULength)
    }

    /// The bytes and values the `role` sent are not shown (rewriting on, the SCU, no `logOriginals`).
    func hidesOriginals(from role: PeerRole) -> Bool {
        isRewriting && role == .requestor && !logOriginals
    }

    /// The bytes of (the start of) a PDU as the outputs may show them: nil when the sender's bytes
    /// are not shown at all, else with User Identity credentials zeroed (unless `recordSecrets`).
    func shownBytes(_ bytes: ByteBuffer, from role: PeerRole) -> ByteBuffer? {
        guard !hidesOriginals(from: role) else { return nil }
        guard !recordSecrets else { return bytes }
        var copy = bytes  // copied on write: the relay's own buffer keeps the real credentials
        UserIdentityCredentials.mask(&copy)
        return copy
    }

    /// A framing error as the outputs may say it: in full, or for hidden bytes only what failed
    /// and where. (When the stream lost its framing, the "type byte" and "length" of a framing
    /// error are bytes of whatever came there, a value perhaps.)
    func describe(_ error: PDUDecodingError, from role: PeerRole) -> String {
        guard hidesOriginals(from: role) else { return "\(error)" }
        var text = "\(error.code) at byte \(error.offset)"
        if error.code == .pduTooLarge { text += ": its length field exceeds the limit of \(maximumPDULength) bytes" }
        return text + "; " + Self.hiddenNote
    }

    private static let hiddenNote = "the SCU's bytes are not shown with rewriting on (--log-originals shows them)"
}

/// Zeroes User Identity credentials in one direction of a recorded byte stream: follows the PDU
/// framing of the bytes as they come (in any pieces), holds an A-ASSOCIATE-RQ or -AC until it is
/// complete, zeroes its credentials (`UserIdentityCredentials.mask`) and hands it on; every other
/// byte is handed on as it comes. An A-ASSOCIATE-RQ or -AC longer than `holdLimit` (real ones
/// have a few hundred bytes) is not held: everything after its fixed fields is zeroed. After a
/// PDU type that does not exist (the relay aborts the association) the rest is handed on as it
/// comes: no PDU of it reaches the peer.
struct CredentialMaskingStream {
    static let holdLimit = 1 << 20
    /// PS3.8 Table 9-11 and 9-17: protocol version to the 32 reserved bytes, before the items.
    static let associationFixedFieldsLength = 68

    private var header = ByteBuffer()
    /// The association PDU being gathered.
    private var held: ByteBuffer?
    private var heldRemaining = 0
    /// Body bytes of the current other PDU still to pass.
    private var passRemaining = 0
    /// Of those, how many at their start pass unchanged before the rest is zeroed (an association
    /// PDU over `holdLimit`); nil: all of them pass unchanged.
    private var keepRemaining: Int?
    private var framingLost = false

    /// What of `bytes` can be recorded now, in order (possibly nothing, possibly bytes held
    /// before): slices of `bytes` where nothing changes, so that P-DATA is not copied.
    mutating func pass(_ bytes: ByteBuffer) -> [ByteBuffer] {
        var input = bytes
        var out: [ByteBuffer] = []
        while input.readableBytes > 0 {
            if framingLost {
                out.append(input)
                break
            } else if passRemaining > 0 {
                var count = min(passRemaining, input.readableBytes)
                if let keep = keepRemaining {
                    if keep > 0 {
                        count = min(count, keep)
                        keepRemaining = keep - count
                    } else {
                        input.moveReaderIndex(forwardBy: count)
                        passRemaining -= count
                        out.append(ByteBuffer(repeating: 0, count: count))
                        continue
                    }
                }
                let slice = input.readSlice(length: count) ?? ByteBuffer()
                passRemaining -= slice.readableBytes
                out.append(slice)
            } else if var pdu = held {
                held = nil
                var slice = input.readSlice(length: min(heldRemaining, input.readableBytes)) ?? ByteBuffer()
                heldRemaining -= slice.readableBytes
                pdu.writeBuffer(&slice)
                if heldRemaining == 0 {
                    UserIdentityCredentials.mask(&pdu)
                    out.append(pdu)
                } else {
                    held = pdu
                }
            } else {
                var slice = input.readSlice(length: min(pduHeaderLength - header.readableBytes, input.readableBytes)) ?? ByteBuffer()
                header.writeBuffer(&slice)
                guard header.readableBytes == pduHeaderLength else { continue }
                startPDU(&out)
            }
        }
        return out
    }

    private mutating func startPDU(_ out: inout [ByteBuffer]) {
        let typeByte = header.getInteger(at: header.readerIndex, as: UInt8.self) ?? 0
        let length = Int(header.getInteger(at: header.readerIndex + 2, as: UInt32.self) ?? 0)
        defer { header = ByteBuffer() }
        keepRemaining = nil
        switch PDUType(rawValue: typeByte) {
        case .associateRequest?, .associateAccept?:
            if length == 0 {
                out.append(header)
            } else if length > Self.holdLimit {
                out.append(header)
                passRemaining = length
                keepRemaining = Self.associationFixedFieldsLength
            } else {
                held = header
                heldRemaining = length
            }
        case .associateReject?, .dataTransfer?, .releaseRequest?, .releaseResponse?, .abort?:
            out.append(header)
            passRemaining = length
        case nil:
            out.append(header)
            framingLost = true
        }
    }

    /// The stream ended: what is held, its credentials zeroed as far as its bytes go.
    mutating func finish() -> ByteBuffer {
        var out = header
        header = ByteBuffer()
        if var pdu = held {
            held = nil
            UserIdentityCredentials.mask(&pdu)
            out.writeBuffer(&pdu)
        }
        return out
    }
}
