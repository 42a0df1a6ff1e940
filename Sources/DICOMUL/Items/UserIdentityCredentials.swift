import NIOCore

/// The secrets of User Identity Negotiation (PS3.7 Annex D.3.3.7): the passcode (secondary field)
/// of type 2, the Kerberos service ticket, SAML assertion or JSON Web Token (primary field) of
/// types 3, 4 and 5, and the acceptor's server response (sub-item 0x59, Table D.3-15). Outputs
/// that keep what peers sent (recordings, hex dumps) replace them with zeros of the same length,
/// so that every length field stays true and the PDU still decodes.
///
/// What counts as a secret: the secondary field of every type (the standard gives it a length
/// of zero except for type 2), the primary field of every type but 1 and 2 (a username is not a
/// secret; a type this code does not know may carry one), and the whole server response.
public enum UserIdentityCredentials {
    /// Whether the primary field of an identity of `type` holds a secret.
    public static func primaryFieldIsSecret(_ type: UserIdentityType) -> Bool {
        type != .username && type != .usernameAndPasscode
    }

    /// Replaces the credentials in the bytes of one A-ASSOCIATE-RQ or -AC (from its PDU header
    /// on; the readable bytes of `pdu`, which may stop short of the PDU's end) with zeros, in
    /// place; other PDU types are left alone. Every length stays as it is and every other byte
    /// too. Where the items stop making sense (a length that runs past its container), a secret
    /// could be anywhere after that point: the rest of the container's bytes are zeroed.
    /// Returns how many bytes changed (bytes that were zero already are not counted).
    @discardableResult
    public static func mask(_ pdu: inout ByteBuffer) -> Int {
        let start = pdu.readerIndex
        guard let type = pdu.getInteger(at: start, as: UInt8.self),
              type == PDUType.associateRequest.rawValue || type == PDUType.associateAccept.rawValue,
              let length = pdu.getInteger(at: start + 2, as: UInt32.self) else { return 0 }
        var masker = Masker(end: start + pduHeaderLength + Int(length), available: pdu.writerIndex)
        pdu.withUnsafeMutableReadableBytes { bytes in
            // Indices from here are relative to the PDU's first byte.
            masker.end -= start
            masker.available -= start
            masker.walk(.pdu, from: pduHeaderLength + AssociationPDUFields.fixedLength, to: masker.end, in: bytes)
        }
        return masker.zeroed
    }

    /// Walks the items of one association PDU (indices from its first byte).
    private struct Masker {
        /// Where the PDU ends by its length field, and where its bytes at hand end.
        var end: Int
        var available: Int
        var zeroed = 0

        /// Where a walk is: the items of the PDU, or the sub-items of its User Information item.
        enum Level { case pdu, userInformation }

        /// Walks the items (or sub-items) from `first` to `containerEnd`, the end of what holds them.
        mutating func walk(_ level: Level, from first: Int, to containerEnd: Int, in bytes: UnsafeMutableRawBufferPointer) {
            var i = first
            let limit = min(containerEnd, available)
            while i + ItemHeader.size <= limit {
                let bodyStart = i + ItemHeader.size
                let bodyEnd = bodyStart + Self.length16(bytes, at: i + 2)
                guard bodyEnd <= containerEnd else {
                    zero(bodyStart, limit, bytes)
                    return
                }
                switch (level, bytes[i]) {
                case (.pdu, UserInformationItem.itemType):
                    walk(.userInformation, from: bodyStart, to: bodyEnd, in: bytes)
                case (.userInformation, UserIdentityRequestSubItem.itemType):
                    identityRequest(from: bodyStart, to: bodyEnd, in: bytes)
                case (.userInformation, UserIdentityAcceptSubItem.itemType):
                    zero(bodyStart + 2, bodyEnd, bytes)  // after the 2-byte length
                default:
                    break
                }
                i = bodyEnd
            }
            // Fewer bytes than an item header left at the end of a complete container: not an item.
            if available >= containerEnd { zero(i, containerEnd, bytes) }
        }

        /// Table D.3-14: type, positive response requested, primary field length and field,
        /// secondary field length and field.
        private mutating func identityRequest(from start: Int, to end: Int, in bytes: UnsafeMutableRawBufferPointer) {
            let limit = min(end, available)
            guard start + 4 <= limit else { return }
            let type = UserIdentityType(rawValue: bytes[start])
            let primaryStart = start + 4
            let primaryEnd = primaryStart + Self.length16(bytes, at: start + 2)
            guard primaryEnd <= end else {
                zero(primaryStart, end, bytes)
                return
            }
            if primaryFieldIsSecret(type) { zero(primaryStart, primaryEnd, bytes) }
            guard primaryEnd + 2 <= end else {
                zero(primaryEnd, end, bytes)
                return
            }
            guard primaryEnd + 2 <= limit else { return }
            // The secondary field and anything after it (left over: not a field of the standard's).
            zero(primaryEnd + 2, end, bytes)
        }

        private static func length16(_ bytes: UnsafeMutableRawBufferPointer, at i: Int) -> Int {
            Int(bytes[i]) << 8 | Int(bytes[i + 1])
        }

        /// Zeroes `from..<to`, clipped to the bytes at hand.
        private mutating func zero(_ from: Int, _ to: Int, _ bytes: UnsafeMutableRawBufferPointer) {
            let upper = min(to, available)
            guard from < upper else { return }
            for k in from..<upper where bytes[k] != 0 {
                bytes[k] = 0
                zeroed += 1
            }
        }
    }
}

extension UserIdentityRequestSubItem {
    /// The fields that hold a secret (see `UserIdentityCredentials`), non-empty and all zeros: the
    /// sub-item as a recording made without its credentials keeps it. A real peer does not send
    /// a passcode, ticket, assertion or token of zeros.
    public var credentialsAreZeroed: Bool {
        var secrets: [[UInt8]] = [secondaryField]
        if UserIdentityCredentials.primaryFieldIsSecret(identityType) { secrets.append(primaryField) }
        let present = secrets.filter { !$0.isEmpty }
        return !present.isEmpty && present.allSatisfy { $0.allSatisfy { $0 == 0 } }
    }

    /// Bytes of secret (see `UserIdentityCredentials`) this sub-item holds.
    public var credentialLength: Int {
        secondaryField.count + (UserIdentityCredentials.primaryFieldIsSecret(identityType) ? primaryField.count : 0)
    }
}
