import DICOMCore

/// One element of a message type's command set (a row of PS3.7 Tables 9.3-x and 10.3-x):
/// how the message's property is read from a command set, and written back to one.
struct CommandElement<Message>: Sendable {
    let read: @Sendable (CommandSetReader, inout Message) throws(DIMSEError) -> Void
    let write: @Sendable (Message, inout CommandSetBuilder) -> Void
}

extension CommandElement {
    /// `property`, read from the command set with `read` and written to it with `write`.
    private static func element<Value>(_ property: WritableKeyPath<Message, Value> & Sendable,
                                       read: @escaping @Sendable (CommandSetReader) throws(DIMSEError) -> Value,
                                       write: @escaping @Sendable (inout CommandSetBuilder, Value) -> Void) -> Self {
        Self(read: { r, m throws(DIMSEError) in m[keyPath: property] = try read(r) },
             write: { m, b in write(&b, m[keyPath: property]) })
    }

    /// A US element the message requires.
    static func uint16(_ tag: Tag, _ property: WritableKeyPath<Message, UInt16> & Sendable) -> Self {
        element(property, read: { r throws(DIMSEError) in try r.uint16(tag) }, write: { $0.set(tag, uint16: $1) })
    }

    static func optionalUInt16(_ tag: Tag, _ property: WritableKeyPath<Message, UInt16?> & Sendable) -> Self {
        element(property, read: { $0.optionalUInt16(tag) }, write: { $0.set(tag, uint16: $1) })
    }

    /// A UI element the message requires.
    static func uid(_ tag: Tag, _ property: WritableKeyPath<Message, String> & Sendable) -> Self {
        element(property, read: { r throws(DIMSEError) in try r.string(tag) }, write: { $0.set(tag, uid: $1) })
    }

    static func optionalUID(_ tag: Tag, _ property: WritableKeyPath<Message, String?> & Sendable) -> Self {
        element(property, read: { $0.optionalString(tag) }, write: { $0.set(tag, uid: $1) })
    }

    /// An AE element the message requires (Move Destination).
    static func text(_ tag: Tag, _ property: WritableKeyPath<Message, String> & Sendable, vr: VR) -> Self {
        element(property, read: { r throws(DIMSEError) in try r.string(tag) }, write: { $0.set(tag, text: $1, vr: vr) })
    }

    /// An optional AE or LO element (Move Originator Application Entity Title, Error Comment).
    static func optionalText(_ tag: Tag, _ property: WritableKeyPath<Message, String?> & Sendable, vr: VR) -> Self {
        element(property, read: { $0.optionalString(tag) }, write: { $0.set(tag, text: $1, vr: vr) })
    }

    /// An AT element (Offending Element, Attribute Identifier List), optional wherever it appears.
    static func optionalTags(_ tag: Tag, _ property: WritableKeyPath<Message, [Tag]?> & Sendable) -> Self {
        element(property, read: { $0.optionalTags(tag) }, write: { $0.set(tag, tags: $1) })
    }

    /// Priority (0000,0700) of C-STORE, C-FIND, C-GET and C-MOVE requests.
    static func priority(_ property: WritableKeyPath<Message, Priority> & Sendable) -> Self {
        element(property, read: { r throws(DIMSEError) in try r.priority() },
                write: { $0.set(CommandTag.priority, uint16: $1.rawValue) })
    }
}

extension CommandElement where Message: DIMSEMessage {
    /// Command Data Set Type (0000,0800), required in every message.
    static var commandDataSetType: Self { .uint16(CommandTag.commandDataSetType, \.commandDataSetType) }
}

extension CommandElement where Message: DIMSERequest {
    /// Message ID (0000,0110).
    static var messageID: Self { .uint16(CommandTag.messageID, \.messageID) }
}

extension CommandElement where Message: DIMSEResponse {
    /// Message ID Being Responded To (0000,0120).
    static var messageIDBeingRespondedTo: Self {
        .uint16(CommandTag.messageIDBeingRespondedTo, \.messageIDBeingRespondedTo)
    }
    /// Status (0000,0900).
    static var status: Self { .uint16(CommandTag.status, \.status) }
    /// Error Comment (0000,0902), LO.
    static var errorComment: Self { .optionalText(CommandTag.errorComment, \.errorComment, vr: .LO) }
}

/// A message type whose command set is described by its `elements`: decoding reads them in
/// order (so the first required element that is absent or unusable is the one reported), and
/// encoding writes each one through `CommandSetBuilder`.
protocol CommandSetCoding: DIMSEMessage {
    /// The command elements the type models, in ascending tag order (Command Field aside).
    static var elements: [CommandElement<Self>] { get }
    /// Any value of the type: decoding starts from it and overwrites every field in `elements`.
    static var placeholder: Self { get }
    var decodedCommandSet: Dataset? { get set }
}

extension CommandSetCoding {
    /// Decodes `commandSet` after checking that its Command Field is `Self.commandField`.
    init(decoding commandSet: Dataset) throws(DIMSEError) {
        let reader = try CommandSetReader(commandSet, expecting: Self.commandField)
        var message = Self.placeholder
        for element in Self.elements {
            try element.read(reader, &message)
        }
        message.decodedCommandSet = commandSet
        self = message
    }

    /// The command set for `DIMSEMessage.commandSet`: the decoded one while nothing changed.
    var encodedElements: Dataset {
        var builder = CommandSetBuilder(original: decodedCommandSet, commandField: Self.commandField)
        for element in Self.elements {
            element.write(self, &builder)
        }
        return builder.finish()
    }
}

/// A C-STORE, C-FIND or C-GET request: it starts with `priorityRequestElements`.
protocol PriorityRequest: DIMSERequest, CommandSetCoding {
    var affectedSOPClassUID: String { get set }
    var priority: Priority { get set }
}

extension PriorityRequest {
    /// Affected SOP Class UID (0000,0002), Message ID (0000,0110), Priority (0000,0700) and
    /// Command Data Set Type (0000,0800).
    static var priorityRequestElements: [CommandElement<Self>] {
        [.uid(CommandTag.affectedSOPClassUID, \.affectedSOPClassUID), .messageID, .priority(\.priority),
         .commandDataSetType]
    }
}

/// A response described by `elements`; every response starts with `responseElements`.
protocol ResponseCoding: DIMSEResponse, CommandSetCoding {
    var affectedSOPClassUID: String? { get set }
}

extension ResponseCoding {
    /// Affected SOP Class UID (0000,0002, optional), Message ID Being Responded To (0000,0120),
    /// Command Data Set Type (0000,0800) and Status (0000,0900): how every response starts.
    static var responseElements: [CommandElement<Self>] {
        [.optionalUID(CommandTag.affectedSOPClassUID, \.affectedSOPClassUID), .messageIDBeingRespondedTo,
         .commandDataSetType, .status]
    }
}
