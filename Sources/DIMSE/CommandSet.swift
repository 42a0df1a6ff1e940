import DICOMCore
import NIOCore

/// Tags of the command elements (group 0000), PS3.7 Annex E, Table E.1-1.
public enum CommandTag {
    /// (0000,0000) UL: bytes after this element up to the end of the command set.
    public static let commandGroupLength = Tag(0x0000_0000)
    /// (0000,0002) UI.
    public static let affectedSOPClassUID = Tag(0x0000_0002)
    /// (0000,0003) UI.
    public static let requestedSOPClassUID = Tag(0x0000_0003)
    /// (0000,0100) US.
    public static let commandField = Tag(0x0000_0100)
    /// (0000,0110) US.
    public static let messageID = Tag(0x0000_0110)
    /// (0000,0120) US.
    public static let messageIDBeingRespondedTo = Tag(0x0000_0120)
    /// (0000,0600) AE.
    public static let moveDestination = Tag(0x0000_0600)
    /// (0000,0700) US.
    public static let priority = Tag(0x0000_0700)
    /// (0000,0800) US: 0101H when no data set follows the command.
    public static let commandDataSetType = Tag(0x0000_0800)
    /// (0000,0900) US.
    public static let status = Tag(0x0000_0900)
    /// (0000,0901) AT, VM 1-n.
    public static let offendingElement = Tag(0x0000_0901)
    /// (0000,0902) LO.
    public static let errorComment = Tag(0x0000_0902)
    /// (0000,0903) US.
    public static let errorID = Tag(0x0000_0903)
    /// (0000,1000) UI.
    public static let affectedSOPInstanceUID = Tag(0x0000_1000)
    /// (0000,1001) UI.
    public static let requestedSOPInstanceUID = Tag(0x0000_1001)
    /// (0000,1002) US.
    public static let eventTypeID = Tag(0x0000_1002)
    /// (0000,1005) AT, VM 1-n.
    public static let attributeIdentifierList = Tag(0x0000_1005)
    /// (0000,1008) US.
    public static let actionTypeID = Tag(0x0000_1008)
    /// (0000,1020) US.
    public static let numberOfRemainingSuboperations = Tag(0x0000_1020)
    /// (0000,1021) US.
    public static let numberOfCompletedSuboperations = Tag(0x0000_1021)
    /// (0000,1022) US.
    public static let numberOfFailedSuboperations = Tag(0x0000_1022)
    /// (0000,1023) US.
    public static let numberOfWarningSuboperations = Tag(0x0000_1023)
    /// (0000,1030) AE.
    public static let moveOriginatorApplicationEntityTitle = Tag(0x0000_1030)
    /// (0000,1031) US.
    public static let moveOriginatorMessageID = Tag(0x0000_1031)
}

/// Values of Command Data Set Type (0000,0800), PS3.7 §9.3 and §10.3: 0101H means no data
/// set follows; any other value means one does.
public enum CommandDataSetType {
    /// 0101H: no data set.
    public static let noDataSet: UInt16 = 0x0101
    /// The value senders use for "a data set follows" (pynetdicom, dcmtk); receivers accept any value but 0101H.
    public static let dataSetPresent: UInt16 = 0x0001
}

/// Priority (0000,0700) of C-STORE, C-FIND, C-GET and C-MOVE requests (PS3.7 §9.1.1.1.5 ff.).
public enum Priority: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case medium = 0x0000
    case high = 0x0001
    case low = 0x0002

    public var description: String {
        switch self {
        case .medium: return "MEDIUM"
        case .high: return "HIGH"
        case .low: return "LOW"
        }
    }
}

/// How command element values are read: always Implicit VR Little Endian (PS3.7 §6.3.1),
/// without assuming the VR the dictionary gives is the one the sender meant. Used both to
/// decode a command set and, when re-encoding, to tell whether a field still has the value
/// its original element encodes (in which case the original bytes are kept).
enum CommandValue {
    /// The first 16-bit value, or nil when the value has fewer than 2 bytes.
    static func uint16(_ element: DataElement) -> UInt16? {
        guard let b = element.bytes, b.readableBytes >= 2 else { return nil }
        return b.getInteger(at: b.readerIndex, endianness: .little, as: UInt16.self)
    }

    /// The first 32-bit value, or nil when the value has fewer than 4 bytes.
    static func uint32(_ element: DataElement) -> UInt32? {
        guard let b = element.bytes, b.readableBytes >= 4 else { return nil }
        return b.getInteger(at: b.readerIndex, endianness: .little, as: UInt32.self)
    }

    /// The text of a UI, AE or LO value without its padding: trailing NULs and spaces, and
    /// for AE and LO leading spaces (PS3.5 Table 6.2-1). Backslashes are not split on.
    static func string(_ element: DataElement) -> String? {
        guard let b = element.bytes else { return nil }
        // Trimmed in place and read once: no intermediate array (this runs for every UID of every command).
        let view = b.readableBytesView
        return String(decoding: view[unpadded(view, vr: element.vr)], as: UTF8.self)
    }

    /// The bytes of a UI, AE or LO value without its padding (see `string`).
    static func unpadded(_ view: ByteBufferView, vr: VR) -> Range<ByteBufferView.Index> {
        var end = view.endIndex
        while end > view.startIndex, view[end - 1] == 0x00 || view[end - 1] == 0x20 { end -= 1 }
        var start = view.startIndex
        if vr != .UI {
            while start < end, view[start] == 0x20 { start += 1 }
        }
        return start..<end
    }

    /// Whether `string(element)` is `value`, told without building the string when the trimmed
    /// bytes are `value`'s UTF-8 (an unchanged field of a decoded message; other cases are left
    /// to the caller's full comparison, so a false answer does not mean the values differ).
    static func holds(_ element: DataElement, string value: String) -> Bool {
        guard let b = element.bytes else { return false }
        let view = b.readableBytesView
        return view[unpadded(view, vr: element.vr)].elementsEqual(value.utf8)
    }

    /// The attribute tags of an AT value (4 bytes each, group then element, little endian).
    static func tags(_ element: DataElement) -> [Tag]? {
        guard let b = element.bytes else { return nil }
        var out: [Tag] = []
        var i = b.readerIndex
        while i + 4 <= b.writerIndex {
            let group = b.getInteger(at: i, endianness: .little, as: UInt16.self) ?? 0
            let number = b.getInteger(at: i + 2, endianness: .little, as: UInt16.self) ?? 0
            out.append(Tag(group: group, element: number))
            i += 4
        }
        return out
    }

    static func element(_ tag: Tag, uint16 value: UInt16) -> DataElement {
        var b = ByteBuffer()
        b.writeInteger(value, endianness: .little)
        return DataElement(tag: tag, vr: .US, value: .bytes(b))
    }

    static func element(_ tag: Tag, uint32 value: UInt32) -> DataElement {
        var b = ByteBuffer()
        b.writeInteger(value, endianness: .little)
        return DataElement(tag: tag, vr: .UL, value: .bytes(b))
    }

    /// A UI value is padded with one NUL to even length, AE and LO with one space (PS3.5 §6.2).
    static func element(_ tag: Tag, string value: String, vr: VR) -> DataElement {
        var b = ByteBuffer()
        b.writeString(value)
        if b.readableBytes % 2 == 1 { b.writeInteger(vr == .UI ? UInt8(0x00) : UInt8(0x20)) }
        return DataElement(tag: tag, vr: vr, value: .bytes(b))
    }

    static func element(_ tag: Tag, tags value: [Tag]) -> DataElement {
        var b = ByteBuffer()
        for t in value {
            b.writeInteger(t.group, endianness: .little)
            b.writeInteger(t.element, endianness: .little)
        }
        return DataElement(tag: tag, vr: .AT, value: .bytes(b))
    }
}

/// Reads the fields of one message type from a decoded command set, with errors that
/// name the element and the command. The C- messages read their fields with it by hand
/// (`init(commandSet:)`), the required ones in the order of their `elements`, so that the
/// first required element that is absent or unusable is the one reported, as the generic
/// `CommandSetCoding.init(decoding:)` (which the N- messages use) reports it.
struct CommandSetReader {
    let dataset: Dataset
    let commandField: CommandField

    /// Checks that the command set's Command Field is `commandField`.
    init(_ dataset: Dataset, expecting commandField: CommandField) throws(DIMSEError) {
        self.dataset = dataset
        self.commandField = commandField
        let raw = try DIMSECommand.rawCommandField(of: dataset)
        guard raw == commandField.rawValue else {
            throw DIMSEError(.commandFieldMismatch,
                             "expected \(commandField) (0x\(hex4(commandField.rawValue))), the command set holds \(CommandField.name(of: raw))",
                             tag: CommandTag.commandField, commandField: raw)
        }
    }

    private func missing(_ tag: Tag) -> DIMSEError {
        DIMSEError(.missingElement, "\(commandField) requires \(tag) \(DataDictionary.keyword(for: tag) ?? "")",
                   tag: tag, commandField: commandField.rawValue)
    }

    private func invalid(_ tag: Tag, _ detail: String) -> DIMSEError {
        DIMSEError(.invalidElementValue, detail, tag: tag, commandField: commandField.rawValue)
    }

    func uint16(_ tag: Tag) throws(DIMSEError) -> UInt16 {
        guard let element = dataset[tag] else { throw missing(tag) }
        guard let value = CommandValue.uint16(element) else {
            throw invalid(tag, "a US value needs 2 bytes, the element has \(element.valueLength ?? 0)")
        }
        return value
    }

    func optionalUInt16(_ tag: Tag) -> UInt16? {
        dataset[tag].flatMap(CommandValue.uint16)
    }

    func string(_ tag: Tag) throws(DIMSEError) -> String {
        guard let element = dataset[tag] else { throw missing(tag) }
        guard let value = CommandValue.string(element) else {
            throw invalid(tag, "the element holds a sequence, not a string value")
        }
        return value
    }

    func optionalString(_ tag: Tag) -> String? {
        dataset[tag].flatMap(CommandValue.string)
    }

    func optionalTags(_ tag: Tag) -> [Tag]? {
        dataset[tag].flatMap(CommandValue.tags)
    }

    /// Message ID Being Responded To (0000,0120), Status (0000,0900) and Command Data Set Type
    /// (0000,0800) of a C-GET-RSP or C-MOVE-RSP, read in that order: those responses have
    /// always reported a missing or unusable Status before Command Data Set Type.
    /// Affected SOP Class UID, Message ID, Priority and Command Data Set Type, read in the order of
    /// the C-STORE, C-FIND, C-GET and C-MOVE request tables (so a missing one is reported as there).
    func requestHeader() throws(DIMSEError) -> (sopClassUID: String, messageID: UInt16, priority: Priority, dataSetType: UInt16) {
        let sop = try string(CommandTag.affectedSOPClassUID)
        let id = try uint16(CommandTag.messageID)
        let priority = try priority()
        return (sop, id, priority, try uint16(CommandTag.commandDataSetType))
    }

    /// Affected SOP Class UID (optional), Message ID Being Responded To, Command Data Set Type and
    /// Status, read in the order of `responseElements`.
    func responseHeader() throws(DIMSEError) -> (sopClassUID: String?, messageID: UInt16, dataSetType: UInt16, status: UInt16) {
        let sop = optionalString(CommandTag.affectedSOPClassUID)
        let id = try uint16(CommandTag.messageIDBeingRespondedTo)
        let dataSetType = try uint16(CommandTag.commandDataSetType)
        return (sop, id, dataSetType, try uint16(CommandTag.status))
    }

    func subOperationsResponseHeader() throws(DIMSEError) -> (UInt16, UInt16, UInt16) {
        let id = try uint16(CommandTag.messageIDBeingRespondedTo)
        let status = try uint16(CommandTag.status)
        return (id, status, try uint16(CommandTag.commandDataSetType))
    }

    func priority() throws(DIMSEError) -> Priority {
        let raw = try uint16(CommandTag.priority)
        guard let priority = Priority(rawValue: raw) else {
            throw invalid(CommandTag.priority, "0x\(hex4(raw)) is not a priority (0000H medium, 0001H high, 0002H low)")
        }
        return priority
    }
}

/// Produces a message's command set from its fields. Starting from the decoded original,
/// an element is replaced only when its field no longer equals what the element decodes
/// to, so an unmodified message gives back the original dataset (and bytes) exactly, and a
/// modified one keeps the elements it does not model. When anything changed, or for a new
/// message, Command Group Length (0000,0000) is recomputed.
struct CommandSetBuilder {
    private(set) var dataset: Dataset
    private var changed: Bool

    init(original: Dataset?, commandField: CommandField) {
        if let original {
            dataset = original
            changed = false
        } else {
            dataset = Dataset(encoding: .implicitLittleEndian)
            changed = true
        }
        set(CommandTag.commandField, uint16: commandField.rawValue)
    }

    private mutating func update<T: Equatable>(_ tag: Tag, decoded: (DataElement) -> T?, to value: T?,
                                               make: (T) -> DataElement) {
        let existing = dataset[tag]
        switch (existing, value) {
        case (nil, nil):
            return
        case (let e?, _) where decoded(e) == value:
            return
        default:
            dataset[tag] = value.map(make)
            changed = true
        }
    }

    mutating func set(_ tag: Tag, uint16 value: UInt16?) {
        update(tag, decoded: CommandValue.uint16, to: value) { CommandValue.element(tag, uint16: $0) }
    }

    mutating func set(_ tag: Tag, uid value: String?) {
        if let value, let e = dataset[tag], CommandValue.holds(e, string: value) { return }
        update(tag, decoded: CommandValue.string, to: value) { CommandValue.element(tag, string: $0, vr: .UI) }
    }

    /// AE (move destination, move originator) or LO (error comment).
    mutating func set(_ tag: Tag, text value: String?, vr: VR) {
        if let value, let e = dataset[tag], CommandValue.holds(e, string: value) { return }
        update(tag, decoded: CommandValue.string, to: value) { CommandValue.element(tag, string: $0, vr: vr) }
    }

    mutating func set(_ tag: Tag, tags value: [Tag]?) {
        update(tag, decoded: CommandValue.tags, to: value) { CommandValue.element(tag, tags: $0) }
    }

    /// The finished command set, with a correct group length if anything was rewritten.
    func finish() -> Dataset {
        guard changed else { return dataset }
        var out = dataset
        out[CommandTag.commandGroupLength] = CommandValue.element(CommandTag.commandGroupLength,
                                                                   uint32: UInt32(clamping: groupLength(of: out)))
        return out
    }
}

/// Encoded length of the group 0000 elements after (0000,0000), in Implicit VR Little Endian.
func groupLength(of commandSet: Dataset) -> Int {
    let encoder = DatasetEncoder()
    var total = 0
    for element in commandSet.elements where element.tag.group == 0 && element.tag != CommandTag.commandGroupLength {
        if let bytes = element.bytes {
            total += 8 + bytes.readableBytes
        } else {
            var scratch = ByteBuffer()
            try? encoder.encode(element, encoding: .implicitLittleEndian, into: &scratch)
            total += scratch.readableBytes
        }
    }
    return total
}
