import Crypto
import Foundation
import DICOMCore

/// How the pseudonyms of one attribute are written.
package struct PseudonymFormat: Sendable, Hashable {
    /// Text put before the keyed part (not for UI).
    package var prefix: String
    /// Characters of the keyed part (Base32), before the VR's length limit is applied.
    package var length: Int

    package static let defaultLength = 16
    /// Fewest Base32 characters left after the prefix (80 bits: a collision among a million
    /// patients has odds of about 1 in 2.4 billion).
    package static let minimumLength = 16
    /// Base32 of the 256-bit digest.
    package static let maximumLength = 52

    package init(prefix: String = "", length: Int = PseudonymFormat.defaultLength) {
        self.prefix = prefix
        self.length = length
    }
}

/// Keyed, deterministic pseudonyms (HMAC-SHA-256, swift-crypto), written to fit the VR.
///
/// The encoding is stable (version 1); `dicomtap pseudonym` prints exactly what the proxy sends:
/// 1. The value is the element's text for one value (decoded in the data set's Specific
///    Character Set, padding removed as PS3.5 Table 6.2-1 allows; for PN the whole value with
///    its `^` and `=`), taken as UTF-8 bytes.
/// 2. `digest = HMAC-SHA-256(key, "dicomtap-pseudonym-v1" || 0x00 || value)`; for a Patient ID
///    with an Issuer of Patient ID (in the data set, or the calling AE's default issuer),
///    `HMAC-SHA-256(key, "dicomtap-pseudonym-v1-issuer" || 0x00 || issuer || 0x00 || value)`.
///    Without an issuer the derivation is the first one, so pseudonyms issued before issuers
///    were taken into account stay valid.
/// 3. For UI: `2.25.` followed by the first 16 bytes of the digest read as an unsigned
///    big-endian integer in decimal (a UUID-derived UID, PS3.5 §B.2; at most 44 characters).
///    For every other text VR: `prefix` followed by the first `n` characters of the digest in
///    Base32 (RFC 4648 alphabet `A–Z2–7`, no padding), `n = min(length, 52, limit − prefix)`
///    where `limit` is the VR's maximum length in characters (AE, CS, SH 16; LO, PN 64 (one
///    component group); ST 1024; LT 10240; UC, UT 52). The characters are in every character
///    set's default repertoire and valid in CS and AE.
/// Equal values give equal pseudonyms under the same key (several proxies agree without
/// sharing state); a value that is empty stays empty.
package struct Pseudonymizer: Sendable {
    package static let version = "dicomtap-pseudonym-v1"
    private let key: SymmetricKey

    package init(key: SecretKey) {
        self.key = SymmetricKey(data: key.bytes)
    }

    /// Largest number of characters of one value of `vr` (PS3.5 Table 6.2-1); nil when the VR
    /// cannot carry a pseudonym (dates, times, numbers, binary VRs).
    package static func maximumCharacters(for vr: VR) -> Int? {
        switch vr {
        case .AE, .CS, .SH: return 16
        case .LO, .PN, .UI: return 64
        case .ST: return 1024
        case .LT: return 10240
        case .UC, .UT, .UR: return PseudonymFormat.maximumLength
        default: return nil
        }
    }

    /// Checks that `format` leaves room for a pseudonym in `vr`; the reason when it does not.
    package static func problem(with format: PseudonymFormat, vr: VR) -> String? {
        guard let limit = maximumCharacters(for: vr) else {
            return "VR \(vr) cannot hold a pseudonym (only text VRs: AE CS SH LO PN UI ST LT UC UT)"
        }
        if vr == .UI { return format.prefix.isEmpty ? nil : "UI pseudonyms are 2.25 UIDs and take no prefix" }
        guard format.prefix.unicodeScalars.allSatisfy({ $0.isASCII && $0 != "\\" && $0.value >= 0x20 }) else {
            return "the prefix must be printable ASCII without a backslash"
        }
        if vr == .CS || vr == .AE,
           !format.prefix.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == " " }) {
            return "a prefix for VR \(vr) may only have upper-case letters, digits, space and underscore"
        }
        guard format.length >= PseudonymFormat.minimumLength, format.length <= PseudonymFormat.maximumLength else {
            return "length must be between \(PseudonymFormat.minimumLength) and \(PseudonymFormat.maximumLength) "
                + "Base32 characters (fewer than \(PseudonymFormat.minimumLength), i.e. \(PseudonymFormat.minimumLength * 5) bits, "
                + "make two patients' pseudonyms collide too easily)"
        }
        if limit - format.prefix.utf8.count < PseudonymFormat.minimumLength {
            return "the prefix '\(format.prefix)' leaves fewer than \(PseudonymFormat.minimumLength) characters in VR \(vr) (\(limit) at most)"
        }
        return nil
    }

    /// The pseudonym of one value in `vr`. An empty value stays empty. With `issuer` (a Patient
    /// ID's Issuer of Patient ID), the pseudonym is made in that issuer's namespace: the same ID
    /// from two issuers gives two pseudonyms.
    package func pseudonym(for value: String, vr: VR, format: PseudonymFormat = PseudonymFormat(), issuer: String? = nil) -> String {
        guard !value.isEmpty else { return "" }
        let digest = issuer.map { self.digest(value, issuer: $0) } ?? self.digest(value)
        if vr == .UI {
            return "2.25." + Self.decimal(Array(digest.prefix(16)))
        }
        let limit = Self.maximumCharacters(for: vr) ?? 64
        let n = max(0, min(format.length, PseudonymFormat.maximumLength, limit - format.prefix.utf8.count))
        return format.prefix + String(Self.base32(digest).prefix(n))
    }

    /// `HMAC-SHA-256(key, "dicomtap-pseudonym-v1-issuer" || 0x00 || issuer || 0x00 || value)`.
    func digest(_ value: String, issuer: String) -> [UInt8] {
        var message = Array(Self.issuerVersion.utf8)
        message.append(0)
        message += Array(issuer.utf8)
        message.append(0)
        message += Array(value.utf8)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }

    package static let issuerVersion = "dicomtap-pseudonym-v1-issuer"

    func digest(_ value: String) -> [UInt8] {
        var message = Array(Self.version.utf8)
        message.append(0)
        message += Array(value.utf8)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }

    static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// RFC 4648 Base32 without padding.
    static func base32(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(base32Alphabet[Int((buffer >> UInt32(bits - 5)) & 0x1F)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(base32Alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The unsigned big-endian integer in `bytes`, in decimal (schoolbook division by 10).
    static func decimal(_ bytes: [UInt8]) -> String {
        var number = bytes
        var digits: [UInt8] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for i in number.indices {
                let current = remainder * 256 + Int(number[i])
                number[i] = UInt8(current / 10)
                remainder = current % 10
            }
            digits.append(UInt8(ascii: "0") + UInt8(remainder))
        }
        return digits.isEmpty ? "0" : String(decoding: digits.reversed(), as: UTF8.self)
    }
}
