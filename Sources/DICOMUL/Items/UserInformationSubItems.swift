import NIOCore

/// Maximum Length sub-item, 0x51 (PS3.8 Annex D.1, Table D.1-1): the largest P-DATA-TF
/// variable field the sender can receive; 0 = no limit.
public struct MaximumLengthSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x51
    public var maximumLength: UInt32
    public init(maximumLength: UInt32) { self.maximumLength = maximumLength }
}

/// Asynchronous Operations Window sub-item, 0x53 (PS3.7 Annex D.3.3.3, Table D.3-7).
public struct AsynchronousOperationsWindowSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x53
    public var maximumOperationsInvoked: UInt16
    public var maximumOperationsPerformed: UInt16
    public init(maximumOperationsInvoked: UInt16, maximumOperationsPerformed: UInt16) {
        self.maximumOperationsInvoked = maximumOperationsInvoked
        self.maximumOperationsPerformed = maximumOperationsPerformed
    }
}

/// SCP/SCU Role Selection sub-item, 0x54 (PS3.7 Annex D.3.3.4, Table D.3-9): the SCU role
/// byte comes first, then the SCP role byte.
public struct RoleSelectionSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x54
    public var sopClassUID: WireString
    public var scuRole: UInt8
    public var scpRole: UInt8
    public init(sopClassUID: WireString, scuRole: UInt8, scpRole: UInt8) {
        self.sopClassUID = sopClassUID
        self.scuRole = scuRole
        self.scpRole = scpRole
    }
}

/// SOP Class Extended Negotiation sub-item, 0x56 (PS3.7 Annex D.3.3.5, Table D.3-11).
public struct SOPClassExtendedNegotiationSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x56
    public var sopClassUID: WireString
    public var serviceClassApplicationInformation: [UInt8]
    public init(sopClassUID: WireString, serviceClassApplicationInformation: [UInt8]) {
        self.sopClassUID = sopClassUID
        self.serviceClassApplicationInformation = serviceClassApplicationInformation
    }
}

/// SOP Class Common Extended Negotiation sub-item, 0x57 (PS3.7 Annex D.3.3.6, Table D.3-12).
/// Header byte 1 is the sub-item version.
public struct SOPClassCommonExtendedNegotiationSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x57
    public var version: UInt8
    public var sopClassUID: WireString
    public var serviceClassUID: WireString
    /// `nil` when the sub-item ends before the list (its length field absent).
    public var relatedGeneralSOPClassUIDs: [WireString]?
    /// Bytes after the related general SOP class list (reserved in the standard), kept.
    public var trailing: [UInt8]
    public init(version: UInt8 = 0, sopClassUID: WireString, serviceClassUID: WireString,
                relatedGeneralSOPClassUIDs: [WireString]?, trailing: [UInt8] = []) {
        self.version = version
        self.sopClassUID = sopClassUID
        self.serviceClassUID = serviceClassUID
        self.relatedGeneralSOPClassUIDs = relatedGeneralSOPClassUIDs
        self.trailing = trailing
    }
}

/// User Identity type (PS3.7 Annex D.3.3.7, Table D.3-14).
public struct UserIdentityType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let username = Self(rawValue: 1)
    public static let usernameAndPasscode = Self(rawValue: 2)
    public static let kerberos = Self(rawValue: 3)
    public static let saml = Self(rawValue: 4)
    public static let jwt = Self(rawValue: 5)
    public var description: String {
        switch rawValue {
        case 1: return "username"
        case 2: return "username and passcode"
        case 3: return "Kerberos service ticket"
        case 4: return "SAML assertion"
        case 5: return "JSON Web Token"
        default: return "unknown user identity type \(rawValue)"
        }
    }
}

/// User Identity Negotiation sub-item of an A-ASSOCIATE-RQ, 0x58 (PS3.7 Annex D.3.3.7.1, Table D.3-14).
public struct UserIdentityRequestSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x58
    public var identityType: UserIdentityType
    public var positiveResponseRequested: UInt8
    public var primaryField: [UInt8]
    public var secondaryField: [UInt8]
    public init(identityType: UserIdentityType, positiveResponseRequested: UInt8, primaryField: [UInt8], secondaryField: [UInt8]) {
        self.identityType = identityType
        self.positiveResponseRequested = positiveResponseRequested
        self.primaryField = primaryField
        self.secondaryField = secondaryField
    }
}

/// User Identity Negotiation sub-item of an A-ASSOCIATE-AC, 0x59 (PS3.7 Annex D.3.3.7.2, Table D.3-15).
public struct UserIdentityAcceptSubItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x59
    public var serverResponse: [UInt8]
    public init(serverResponse: [UInt8]) { self.serverResponse = serverResponse }
}

/// A sub-item of the User Information item (PS3.8 §9.3.2.3, §9.3.3.3; PS3.7 Annex D.3.3).
public enum UserInformationSubItem: Sendable, Hashable {
    /// 0x51
    case maximumLength(MaximumLengthSubItem)
    /// 0x52, PS3.7 Annex D.3.3.2
    case implementationClassUID(WireString)
    /// 0x53
    case asynchronousOperationsWindow(AsynchronousOperationsWindowSubItem)
    /// 0x54
    case roleSelection(RoleSelectionSubItem)
    /// 0x55, PS3.7 Annex D.3.3.2
    case implementationVersionName(WireString)
    /// 0x56
    case sopClassExtendedNegotiation(SOPClassExtendedNegotiationSubItem)
    /// 0x57
    case sopClassCommonExtendedNegotiation(SOPClassCommonExtendedNegotiationSubItem)
    /// 0x58
    case userIdentityRequest(UserIdentityRequestSubItem)
    /// 0x59
    case userIdentityAccept(UserIdentityAcceptSubItem)
    /// Any other type, or a known type whose body has the wrong size: kept whole.
    case unknown(UnknownItem)

    static let implementationClassUIDType: UInt8 = 0x52
    static let implementationVersionNameType: UInt8 = 0x55

    static func decode(header: ItemHeader, body: ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> Self {
        var b = body
        /// The whole body as bytes, for the sub-items kept as such (not built for the others).
        var raw: [UInt8] { Array(body.readableBytesView) }
        func fixed(_ size: Int, _ name: String) throws(PDUDecodingError) {
            guard header.length == size else {
                throw PDUDecodingError(.invalidItemLength, offset: base - 4, pduType: pduType.rawValue,
                                       "\(name) sub-item length \(header.length), expected \(size)")
            }
        }
        // Re-encoding must give the same bytes: a sub-item with bytes left over after its
        // fields would not round-trip, so it is an error.
        func finish(_ value: Self, _ name: String) throws(PDUDecodingError) -> Self {
            guard b.readableBytes == 0 else {
                throw PDUDecodingError(.invalidItemLength, offset: base + b.readerIndex, pduType: pduType.rawValue,
                                       "\(b.readableBytes) bytes left over at the end of the \(name) sub-item")
            }
            return value
        }
        switch header.type {
        case MaximumLengthSubItem.itemType:
            try fixed(4, "Maximum Length")
            return .maximumLength(MaximumLengthSubItem(maximumLength: b.readInteger(as: UInt32.self) ?? 0))
        case implementationClassUIDType:
            return .implementationClassUID(WireString(bytes: raw))
        case AsynchronousOperationsWindowSubItem.itemType:
            try fixed(4, "Asynchronous Operations Window")
            return .asynchronousOperationsWindow(AsynchronousOperationsWindowSubItem(
                maximumOperationsInvoked: b.readInteger(as: UInt16.self) ?? 0,
                maximumOperationsPerformed: b.readInteger(as: UInt16.self) ?? 0))
        case RoleSelectionSubItem.itemType:
            let uid = try b.readLengthPrefixed(base: base, pduType: pduType, field: "role selection SOP class UID")
            guard let scu = b.readInteger(as: UInt8.self), let scp = b.readInteger(as: UInt8.self) else {
                throw PDUDecodingError(.invalidItemLength, offset: base + b.readerIndex, pduType: pduType.rawValue,
                                       "role selection sub-item ends before its SCU and SCP role bytes")
            }
            return try finish(.roleSelection(RoleSelectionSubItem(sopClassUID: WireString(bytes: uid), scuRole: scu, scpRole: scp)),
                              "SCP/SCU Role Selection")
        case implementationVersionNameType:
            return .implementationVersionName(WireString(bytes: raw))
        case SOPClassExtendedNegotiationSubItem.itemType:
            let uid = try b.readLengthPrefixed(base: base, pduType: pduType, field: "extended negotiation SOP class UID")
            let info = b.readBytes(length: b.readableBytes) ?? []
            return .sopClassExtendedNegotiation(SOPClassExtendedNegotiationSubItem(sopClassUID: WireString(bytes: uid),
                                                                                   serviceClassApplicationInformation: info))
        case SOPClassCommonExtendedNegotiationSubItem.itemType:
            let sop = try b.readLengthPrefixed(base: base, pduType: pduType, field: "common extended negotiation SOP class UID")
            let service = try b.readLengthPrefixed(base: base, pduType: pduType, field: "common extended negotiation service class UID")
            var related: [WireString]? = nil
            if b.readableBytes > 0 {
                related = []
                var list = ByteBuffer(bytes: try b.readLengthPrefixed(base: base, pduType: pduType, field: "related general SOP class list"))
                while list.readableBytes > 0 {
                    related?.append(WireString(bytes: try list.readLengthPrefixed(base: base, pduType: pduType,
                                                                                 field: "related general SOP class UID")))
                }
            }
            let trailing = b.readBytes(length: b.readableBytes) ?? []
            return .sopClassCommonExtendedNegotiation(SOPClassCommonExtendedNegotiationSubItem(
                version: header.reserved, sopClassUID: WireString(bytes: sop), serviceClassUID: WireString(bytes: service),
                relatedGeneralSOPClassUIDs: related, trailing: trailing))
        case UserIdentityRequestSubItem.itemType:
            guard let type = b.readInteger(as: UInt8.self), let positive = b.readInteger(as: UInt8.self) else {
                throw PDUDecodingError(.invalidItemLength, offset: base, pduType: pduType.rawValue,
                                       "user identity sub-item too short for its type and response flag")
            }
            let primary = try b.readLengthPrefixed(base: base, pduType: pduType, field: "user identity primary field")
            let secondary = try b.readLengthPrefixed(base: base, pduType: pduType, field: "user identity secondary field")
            return try finish(.userIdentityRequest(UserIdentityRequestSubItem(
                identityType: UserIdentityType(rawValue: type), positiveResponseRequested: positive,
                primaryField: primary, secondaryField: secondary)), "User Identity")
        case UserIdentityAcceptSubItem.itemType:
            let response = try b.readLengthPrefixed(base: base, pduType: pduType, field: "user identity server response")
            return try finish(.userIdentityAccept(UserIdentityAcceptSubItem(serverResponse: response)), "User Identity")
        default:
            return .unknown(UnknownItem(type: header.type, reserved: header.reserved, body: raw))
        }
    }

    func write(into buffer: inout ByteBuffer) {
        switch self {
        case .maximumLength(let m):
            buffer.writeItem(type: MaximumLengthSubItem.itemType) { $0.writeInteger(m.maximumLength) }
        case .implementationClassUID(let uid):
            buffer.writeItem(type: Self.implementationClassUIDType) { $0.writeBytes(uid.bytes) }
        case .asynchronousOperationsWindow(let w):
            buffer.writeItem(type: AsynchronousOperationsWindowSubItem.itemType) {
                $0.writeInteger(w.maximumOperationsInvoked)
                $0.writeInteger(w.maximumOperationsPerformed)
            }
        case .roleSelection(let r):
            buffer.writeItem(type: RoleSelectionSubItem.itemType) {
                $0.writeLengthPrefixed(r.sopClassUID.bytes)
                $0.writeInteger(r.scuRole)
                $0.writeInteger(r.scpRole)
            }
        case .implementationVersionName(let name):
            buffer.writeItem(type: Self.implementationVersionNameType) { $0.writeBytes(name.bytes) }
        case .sopClassExtendedNegotiation(let e):
            buffer.writeItem(type: SOPClassExtendedNegotiationSubItem.itemType) {
                $0.writeLengthPrefixed(e.sopClassUID.bytes)
                $0.writeBytes(e.serviceClassApplicationInformation)
            }
        case .sopClassCommonExtendedNegotiation(let c):
            buffer.writeItem(type: SOPClassCommonExtendedNegotiationSubItem.itemType, reserved: c.version) {
                $0.writeLengthPrefixed(c.sopClassUID.bytes)
                $0.writeLengthPrefixed(c.serviceClassUID.bytes)
                if let related = c.relatedGeneralSOPClassUIDs {
                    var list = ByteBuffer()
                    for uid in related { list.writeLengthPrefixed(uid.bytes) }
                    $0.writeLengthPrefixed(Array(list.readableBytesView))
                }
                $0.writeBytes(c.trailing)
            }
        case .userIdentityRequest(let u):
            buffer.writeItem(type: UserIdentityRequestSubItem.itemType) {
                $0.writeInteger(u.identityType.rawValue)
                $0.writeInteger(u.positiveResponseRequested)
                $0.writeLengthPrefixed(u.primaryField)
                $0.writeLengthPrefixed(u.secondaryField)
            }
        case .userIdentityAccept(let u):
            buffer.writeItem(type: UserIdentityAcceptSubItem.itemType) { $0.writeLengthPrefixed(u.serverResponse) }
        case .unknown(let u):
            u.write(into: &buffer)
        }
    }
}

/// User Information Item, 0x50 (PS3.8 §9.3.2.3, Table 9-16): the sub-items in wire order.
public struct UserInformationItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x50
    public var subItems: [UserInformationSubItem]
    public var reserved: UInt8

    public init(subItems: [UserInformationSubItem], reserved: UInt8 = 0) {
        self.subItems = subItems
        self.reserved = reserved
    }

    public var maximumLength: UInt32? {
        for case .maximumLength(let m) in subItems { return m.maximumLength }
        return nil
    }
    public var implementationClassUID: String? {
        for case .implementationClassUID(let u) in subItems { return u.value }
        return nil
    }
    public var implementationVersionName: String? {
        for case .implementationVersionName(let n) in subItems { return n.value }
        return nil
    }

    static func decode(header: ItemHeader, body: ByteBuffer, base: Int, pduType: PDUType) throws(PDUDecodingError) -> Self {
        var body = body
        var subItems: [UserInformationSubItem] = []
        while body.readableBytes > 0 {
            let start = body.readerIndex
            let (h, b) = try body.readItem(base: base, pduType: pduType, container: "the user information item")
            subItems.append(try UserInformationSubItem.decode(header: h, body: b, base: base + start + ItemHeader.size, pduType: pduType))
        }
        return UserInformationItem(subItems: subItems, reserved: header.reserved)
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: Self.itemType, reserved: reserved) { b in
            for s in subItems { s.write(into: &b) }
        }
    }
}
