import DICOMCore
import DICOMUL
import NIOCore

/// Splits a DIMSE message into PDVs and P-DATA-TF PDUs for a peer's Maximum Length
/// (PS3.8 §D.1, Annex E).
///
/// - The maximum length is the peer's Maximum Length Received sub-item (0x51): the largest
///   P-DATA-TF variable field (PDU length without the 6-byte header) it accepts; 0 means no
///   limit. Each PDV costs 6 bytes besides its fragment (item length 4, context ID 1,
///   message control header 1), as in pynetdicom (`max_pdu - 6`).
/// - Every fragment but a stream's last has an even length (PS3.8 §E.1: "each fragment of a
///   message shall consist of an even number of bytes"); the last carries what is left,
///   which is even for a well-formed command or data set. Hence the smallest usable maximum
///   length is 8 (2-byte fragments); below that there is no room for an even fragment.
/// - Command and data set never share a PDV. With `maximumPDVsPerPDU` > 1, PDVs are packed
///   into a PDU while they fit; a fragment that is not its stream's last always fills its PDU,
///   so two fragments of the same command or data set never share one (PS3.8 §E.1 recommends so).
/// - An empty data set buffer gives one empty last data set fragment.
public struct MessageFragmenter: Sendable, Hashable {
    /// PDV overhead besides the fragment: item length (4), presentation context ID (1), message control header (1).
    public static let pdvOverhead = 6
    /// Smallest maximum length that leaves room for a PDV with a 2-byte (even) fragment.
    public static let smallestMaximumLength: UInt32 = 8

    /// The peer's maximum P-DATA-TF variable field length; 0 = unlimited.
    public let maximumLength: UInt32
    /// How many PDVs one PDU may carry; 1 (the default) gives one PDV per PDU, like pynetdicom and dcmtk.
    public let maximumPDVsPerPDU: Int

    public init(maximumLength: UInt32, maximumPDVsPerPDU: Int = 1) throws(DIMSEError) {
        guard maximumLength == 0 || maximumLength >= MessageFragmenter.smallestMaximumLength else {
            throw DIMSEError(.invalidMaximumLength,
                             "maximum length \(maximumLength) leaves no room for a PDV with an even fragment (at least \(MessageFragmenter.smallestMaximumLength) needed, or 0 for unlimited)")
        }
        guard maximumPDVsPerPDU >= 1 else {
            throw DIMSEError(.invalidConfiguration, "maximumPDVsPerPDU must be at least 1, not \(maximumPDVsPerPDU)")
        }
        self.maximumLength = maximumLength
        self.maximumPDVsPerPDU = maximumPDVsPerPDU
    }

    /// P-DATA-TF PDUs for a command set and an optional data set, on `presentationContextID`.
    public func fragment(commandSet: ByteBuffer, dataSet: ByteBuffer?, presentationContextID: UInt8) -> [DataTransfer] {
        var packer = Packer(capacity: maximumLength == 0 ? nil : Int(maximumLength), maximumPDVs: maximumPDVsPerPDU)
        packer.add(commandSet, isCommand: true, contextID: presentationContextID)
        if let dataSet { packer.add(dataSet, isCommand: false, contextID: presentationContextID) }
        return packer.finish()
    }

    /// P-DATA-TF PDUs for `command` (encoded in Implicit VR Little Endian) and its data set.
    /// Throws when the data set's presence disagrees with the command's Command Data Set Type.
    public func fragment(_ command: DIMSECommand, dataSet: ByteBuffer?,
                         presentationContextID: UInt8) throws(DIMSEError) -> [DataTransfer] {
        guard command.hasDataSet == (dataSet != nil) else {
            throw DIMSEError(.dataSetMismatch,
                             command.hasDataSet ? "the command announces a data set but none was given"
                                                : "a data set was given but the command's Command Data Set Type is 0101H (none)",
                             tag: CommandTag.commandDataSetType, commandField: command.rawCommandField)
        }
        return fragment(commandSet: try command.encodedCommandSet(), dataSet: dataSet,
                        presentationContextID: presentationContextID)
    }

    /// The PDVs alone, in order (what `fragment` puts into PDUs).
    public func presentationDataValues(commandSet: ByteBuffer, dataSet: ByteBuffer?,
                                       presentationContextID: UInt8) -> [PresentationDataValueItem] {
        fragment(commandSet: commandSet, dataSet: dataSet, presentationContextID: presentationContextID)
            .flatMap(\.items)
    }

    /// Fills PDUs with PDVs.
    private struct Packer {
        let capacity: Int?
        let maximumPDVs: Int
        var pdus: [DataTransfer] = []
        var current: [PresentationDataValueItem] = []
        var used = 0

        init(capacity: Int?, maximumPDVs: Int) {
            self.capacity = capacity
            self.maximumPDVs = maximumPDVs
        }

        mutating func flush() {
            guard !current.isEmpty else { return }
            pdus.append(DataTransfer(items: current))
            current = []
            used = 0
        }

        /// The fragment length that fits in the current PDU for `remaining` bytes, or nil if none does.
        func fit(_ remaining: Int) -> Int? {
            guard current.count < maximumPDVs else { return nil }
            guard let capacity else { return remaining }
            let room = capacity - used - MessageFragmenter.pdvOverhead
            guard room >= 0 else { return nil }
            if remaining <= room { return remaining }
            let even = room & ~1
            return even > 0 ? even : nil
        }

        mutating func add(_ stream: ByteBuffer, isCommand: Bool, contextID: UInt8) {
            var rest = stream
            repeat {
                let length: Int
                if let n = fit(rest.readableBytes) {
                    length = n
                } else {
                    flush()
                    // An empty PDU fits a fragment: capacity ≥ 8 leaves at least 2 bytes.
                    length = fit(rest.readableBytes) ?? rest.readableBytes
                }
                let fragment = rest.readSlice(length: length) ?? ByteBuffer()
                let header = MessageControlHeader(isCommand: isCommand, isLastFragment: rest.readableBytes == 0)
                current.append(PresentationDataValueItem(presentationContextID: contextID, messageControlHeader: header,
                                                         fragment: fragment))
                used += MessageFragmenter.pdvOverhead + length
            } while rest.readableBytes > 0
        }

        mutating func finish() -> [DataTransfer] {
            flush()
            return pdus
        }
    }
}

/// Fragments a command set or data set that is written in pieces (a proxy rewriting a data set
/// as it arrives): PDVs of the full size the peer takes (one per P-DATA-TF) go out as soon as
/// there are enough bytes; fewer are held until more come or the stream ends. Every fragment
/// but the last has an even length (PS3.8 §E.1); what is held is less than one PDV.
public struct StreamFragmenter: Sendable {
    /// Fragment bytes per PDV: the peer's maximum length less the PDV overhead, even (64 KiB
    /// when the peer sets no limit, at most `largestFragmentLength` whatever it allows, so that
    /// no more than that is ever held).
    public let capacity: Int?
    /// Fragment size towards a peer without a limit (Maximum Length 0).
    public static let unlimitedFragmentLength = 1 << 16
    /// The largest fragment sent, whatever the peer's Maximum Length.
    public static let largestFragmentLength = 1 << 20
    public let presentationContextID: UInt8
    public let isCommand: Bool
    private var pending = ByteBuffer()
    private var sentAny = false

    /// `maximumLength`: the receiving peer's Maximum Length (0: unlimited; below 8, 8 is used).
    public init(maximumLength: UInt32, presentationContextID: UInt8, isCommand: Bool) {
        if maximumLength == 0 {
            capacity = Self.unlimitedFragmentLength
        } else {
            let length = max(Int(maximumLength), Int(MessageFragmenter.smallestMaximumLength))
            capacity = min((length - MessageFragmenter.pdvOverhead) & ~1, Self.largestFragmentLength)
        }
        self.presentationContextID = presentationContextID
        self.isCommand = isCommand
    }

    /// Bytes held (fewer than one PDV's worth).
    public var heldBytes: Int { pending.readableBytes }

    /// The next bytes of the stream; `isLast` ends it (the last PDV carries the last-fragment bit,
    /// an empty one if the stream is empty). Returns the P-DATA-TF PDUs ready to go.
    public mutating func add(_ bytes: ByteBuffer, isLast: Bool) -> [DataTransfer] {
        var out: [DataTransfer] = []
        var rest = bytes
        if let capacity {
            // Top up what is held to one full fragment, then take full fragments straight from the new bytes.
            if pending.readableBytes > 0 {
                let n = min(capacity - pending.readableBytes, rest.readableBytes)
                if var top = rest.readSlice(length: n) { pending.writeBuffer(&top) }
                if pending.readableBytes == capacity && (rest.readableBytes > 0 || !isLast) {
                    out.append(pdu(pending, last: false))
                    pending = ByteBuffer()
                }
            }
            if pending.readableBytes == 0 {
                while rest.readableBytes > capacity || (rest.readableBytes == capacity && !isLast) {
                    out.append(pdu(rest.readSlice(length: capacity)!, last: false))
                }
            }
            if rest.readableBytes > 0 { pending.writeBuffer(&rest) }
        } else {
            if pending.readableBytes > 0 {
                pending.writeBuffer(&rest)
                rest = pending
                pending = ByteBuffer()
            }
            // Unlimited: all of it now, but for an odd last byte while more is to come.
            let even = isLast ? rest.readableBytes : rest.readableBytes & ~1
            if even > 0, !isLast { out.append(pdu(rest.readSlice(length: even)!, last: false)) }
            if !isLast, rest.readableBytes > 0 { pending.writeBuffer(&rest) }
        }
        if isLast {
            var last = pending
            last.writeBuffer(&rest)
            pending = ByteBuffer()
            out.append(pdu(last, last: true))
        }
        return out
    }

    private mutating func pdu(_ fragment: ByteBuffer, last: Bool) -> DataTransfer {
        sentAny = true
        let header = MessageControlHeader(isCommand: isCommand, isLastFragment: last)
        return DataTransfer(items: [PresentationDataValueItem(presentationContextID: presentationContextID,
                                                              messageControlHeader: header, fragment: fragment)])
    }
}
