import NIOCore

/// Application Context Item, type 0x10 (PS3.8 §9.3.2.1, Table 9-12). The only name in use is
/// the DICOM Application Context Name 1.2.840.10008.3.1.1.1 (PS3.7 Annex A.2.1).
public struct ApplicationContextItem: Sendable, Hashable {
    public static let itemType: UInt8 = 0x10
    public static let dicomApplicationContextName = "1.2.840.10008.3.1.1.1"

    public var name: WireString
    public var reserved: UInt8

    public init(name: WireString = WireString(ApplicationContextItem.dicomApplicationContextName), reserved: UInt8 = 0) {
        self.name = name
        self.reserved = reserved
    }

    static func decode(header: ItemHeader, body: ByteBuffer) -> ApplicationContextItem {
        ApplicationContextItem(name: WireString(bytes: Array(body.readableBytesView)), reserved: header.reserved)
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeItem(type: Self.itemType, reserved: reserved) { $0.writeBytes(name.bytes) }
    }
}
