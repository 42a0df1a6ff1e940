import DICOMCore
import DICOMUL
import NIOCore
import Testing
@testable import DIMSE

/// Bytes from hex text; whitespace is ignored.
func bytes(_ hex: String) -> ByteBuffer {
    let digits = Array(hex.utf8.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    var out = ByteBuffer()
    var i = 0
    while i < digits.count {
        out.writeInteger(UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16)!)
        i += 2
    }
    return out
}

func hexString(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        .joined()
}

extension UInt8 {
    var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}

/// Decodes a whole P-DATA-TF PDU (header included).
func decodeDataTransfer(_ pdu: ByteBuffer) throws -> DataTransfer {
    var buffer = pdu
    let type = buffer.readInteger(as: UInt8.self)
    precondition(type == PDUType.dataTransfer.rawValue)
    let reserved = buffer.readInteger(as: UInt8.self) ?? 0
    let length = Int(buffer.readInteger(as: UInt32.self) ?? 0)
    var body = buffer.readSlice(length: length)!
    return try DataTransfer.decode(body: &body, reserved: reserved)
}

/// Encodes a whole P-DATA-TF PDU (header included).
func encode(_ pdu: DataTransfer) -> ByteBuffer {
    var out = ByteBuffer()
    out.writeInteger(PDUType.dataTransfer.rawValue)
    out.writeInteger(pdu.reserved)
    out.writeInteger(UInt32(pdu.bodyLength))
    pdu.writeBody(into: &out)
    return out
}

func pdv(_ contextID: UInt8, command: Bool, last: Bool, _ fragment: ByteBuffer) -> PresentationDataValueItem {
    PresentationDataValueItem(presentationContextID: contextID,
                              messageControlHeader: MessageControlHeader(isCommand: command, isLastFragment: last),
                              fragment: fragment)
}

/// Splits `stream` into PDVs of `size` bytes (the last may be shorter).
func pdvs(_ contextID: UInt8, command: Bool, _ stream: ByteBuffer, size: Int) -> [PresentationDataValueItem] {
    var rest = stream
    var out: [PresentationDataValueItem] = []
    repeat {
        let slice = rest.readSlice(length: min(size, rest.readableBytes))!
        out.append(pdv(contextID, command: command, last: rest.readableBytes == 0, slice))
    } while rest.readableBytes > 0
    return out
}

/// A data set-like byte pattern of `count` bytes.
func pattern(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
    var b = ByteBuffer()
    for i in 0..<count { b.writeInteger(UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed))) }
    return b
}

/// Feeds PDVs and collects completed messages; rethrows the first error.
func assemble(_ items: [PresentationDataValueItem],
              into assembler: inout MessageAssembler) throws(DIMSEError) -> [DIMSEMessageAssembly] {
    var out: [DIMSEMessageAssembly] = []
    for item in items {
        if let m = try assembler.receive(item) { out.append(m) }
    }
    return out
}

/// The `DIMSEError` thrown by `body`, if any (another error is recorded as an issue).
func dimseError(_ body: () throws -> Void) -> DIMSEError? {
    do {
        try body()
        return nil
    } catch let error as DIMSEError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
