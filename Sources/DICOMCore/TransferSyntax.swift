/// How a dataset's elements are laid out on the wire: VR explicit or implicit, byte order.
/// PS3.5 §7.1 and §7.3.
public struct DatasetEncoding: Sendable, Hashable, CustomStringConvertible {
    public var isExplicitVR: Bool
    public var isBigEndian: Bool

    public init(isExplicitVR: Bool, isBigEndian: Bool) {
        self.isExplicitVR = isExplicitVR
        self.isBigEndian = isBigEndian
    }

    public static let implicitLittleEndian = DatasetEncoding(isExplicitVR: false, isBigEndian: false)
    public static let explicitLittleEndian = DatasetEncoding(isExplicitVR: true, isBigEndian: false)
    public static let explicitBigEndian = DatasetEncoding(isExplicitVR: true, isBigEndian: true)

    public var description: String {
        (isExplicitVR ? "explicit VR" : "implicit VR") + (isBigEndian ? " big endian" : " little endian")
    }
}

/// A transfer syntax (PS3.5 §10): the dataset encoding plus deflate and encapsulation.
public struct TransferSyntax: Sendable, Hashable, CustomStringConvertible {
    public let uid: String
    public let encoding: DatasetEncoding
    /// The dataset is deflated (raw DEFLATE, no zlib header, RFC 1951): PS3.5 §A.5.
    public let isDeflated: Bool

    public init(uid: String, encoding: DatasetEncoding, isDeflated: Bool = false) {
        self.uid = uid
        self.encoding = encoding
        self.isDeflated = isDeflated
    }

    /// 1.2.840.10008.1.2, the DICOM default (PS3.5 §A.1).
    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2", encoding: .implicitLittleEndian)
    /// 1.2.840.10008.1.2.1 (PS3.5 §A.2).
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1", encoding: .explicitLittleEndian)
    /// 1.2.840.10008.1.2.2, retired (PS3.5 §A.3).
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2", encoding: .explicitBigEndian)
    /// 1.2.840.10008.1.2.1.99 (PS3.5 §A.5).
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(
        uid: "1.2.840.10008.1.2.1.99", encoding: .explicitLittleEndian, isDeflated: true)
    /// 1.2.840.10008.1.2.8.1, Deflated Image Frame Compression: explicit VR LE dataset, deflated frames only.
    public static let wellKnown: [TransferSyntax] = [
        .implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian, .deflatedExplicitVRLittleEndian,
    ]

    /// The transfer syntax for a UID. Every transfer syntax other than the three uncompressed
    /// and Deflated ones encodes its dataset in explicit VR little endian (PS3.5 §A.4): those
    /// are accepted when the UID registry lists them as a transfer syntax, or when `lenient` is set.
    public init?(uid rawUID: String, lenient: Bool = false) {
        let uid = rawUID.trimmingCharacters(in: " \0")
        if let known = TransferSyntax.wellKnown.first(where: { $0.uid == uid }) {
            self = known
            return
        }
        let isRegistered = UIDRegistry.entry(for: uid)?.type == "Transfer Syntax"
        guard isRegistered || lenient, !uid.isEmpty else { return nil }
        self.init(uid: uid, encoding: .explicitLittleEndian)
    }

    public var name: String { UIDRegistry.name(for: uid) ?? "unknown transfer syntax" }
    public var description: String { "\(uid) (\(name))" }
}
