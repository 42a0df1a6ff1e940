import DICOMUL
import Foundation
import NIOCore
import Testing
@testable import DICOMProxy

// What the real peers sent and received, as recorded by `peer.py tap` relays on each leg:
// SCU -> tap -> proxy -> tap -> SCP. Each tap writes what went each way (PREFIX.c2s, PREFIX.s2c).

/// One PDU as it was on the wire.
struct WirePDU: Equatable, CustomStringConvertible {
    var bytes: [UInt8]

    var type: UInt8 { bytes[0] }
    /// The PDU-length field.
    var length: Int { Int(bytes[2]) << 24 | Int(bytes[3]) << 16 | Int(bytes[4]) << 8 | Int(bytes[5]) }
    /// The decoded PDU (nil when it does not decode).
    var pdu: PDU? {
        var buffer = ByteBuffer(bytes: bytes)
        var framer = PDUFrameDecoder(maximumPDULength: Int(UInt32.max))
        guard let frame = try? framer.decodeFrame(buffer: &buffer) else { return nil }
        return try? PDUDecoder.decode(frame)
    }

    var description: String {
        let name = PDUType(rawValue: type).map { "\($0)" } ?? "type 0x\(String(type, radix: 16))"
        let head = bytes.count <= 16 ? bytes.hexString : Array(bytes.prefix(16)).hexString + " ..."
        return "\(name) length \(length): \(head)"
    }
}

/// The PDUs of a recorded stream, in order, and how many bytes follow the last complete one.
func wirePDUs(_ bytes: [UInt8]) -> (pdus: [WirePDU], trailing: Int) {
    var pdus: [WirePDU] = []
    var offset = 0
    while bytes.count - offset >= 6 {
        let length = Int(bytes[offset + 2]) << 24 | Int(bytes[offset + 3]) << 16 | Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
        guard bytes.count - offset - 6 >= length else { break }
        pdus.append(WirePDU(bytes: Array(bytes[offset..<(offset + 6 + length)])))
        offset += 6 + length
    }
    return (pdus, bytes.count - offset)
}

/// The PDUs in a recorded file, and how many bytes follow the last complete one.
func wirePDUs(file path: String) throws -> (pdus: [WirePDU], trailing: Int) {
    wirePDUs(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
}

/// A-ABORT (PS3.8 Table 9-26) with this source and reason, as the wire carries it.
func abortPDU(source: UInt8, reason: UInt8) -> WirePDU {
    WirePDU(bytes: [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, source, reason])
}

/// A-ASSOCIATE-RJ (PS3.8 Table 9-21).
func rejectPDU(result: UInt8, source: UInt8, reason: UInt8) -> WirePDU {
    WirePDU(bytes: TestPDUs.reject(result: result, source: source, reason: reason))
}

/// A recording relay (`peer.py tap`) in front of `port`: what goes each way ends up in `prefix`.c2s / .s2c.
struct Tap {
    let process: Subprocess
    let port: Int
    let prefix: String

    static func start(to port: Int, prefix: String, directory: TemporaryDirectory) async throws -> Tap {
        let process = try Subprocess.python(["tap", String(port), directory.file(prefix)], name: "tap-\(prefix)", directory: directory)
        return Tap(process: process, port: try await process.port(), prefix: directory.file(prefix))
    }

    /// What went through one tap: the PDUs each way, and the bytes after the last complete PDU each way.
    struct Leg {
        /// From the SCU side (the tap's client) towards the SCP side.
        var sent: [WirePDU]
        /// From the SCP side towards the SCU side.
        var received: [WirePDU]
        var sentTrailing: Int
        var receivedTrailing: Int
    }

    /// Waits until both directions are closed (the tap exits), then reads what it recorded.
    func finish() async throws -> Leg {
        #expect(try await process.wait(timeout: .seconds(20)) == 0)
        let sent = try wirePDUs(file: prefix + ".c2s")
        let received = try wirePDUs(file: prefix + ".s2c")
        return Leg(sent: sent.pdus, received: received.pdus, sentTrailing: sent.trailing, receivedTrailing: received.trailing)
    }
}

/// The JSON object a peer printed on stdout.
func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TimeoutError(what: "not a JSON object: \(text)")
    }
    return object
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        var i = 0
        while i + needle.count <= count {
            if self[i] == needle[0] && Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}
