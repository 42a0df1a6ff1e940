import Foundation
import NIOCore

/// Renders datasets in the DICOM JSON model (PS3.18 Annex F). Library API: the `dump`
/// command, the analyzer and the proxy all render identifiers through it.
public struct DICOMJSONRenderer: Sendable {
    public init() {}

    /// The dataset as a DICOM JSON object, `{"00100020": {"vr": "LO", "Value": ["1234567"]}, ...}`.
    public func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet = .default) -> JSONValue {
        let charset = dataset.characterSet(inheriting: inherited)
        return .object(dataset.elements.map { ($0.tag.jsonKey, render($0, characterSet: charset)) })
    }

    public func render(_ element: DataElement, characterSet: SpecificCharacterSet) -> JSONValue {
        var fields: [(String, JSONValue)] = [("vr", .string(element.vr.code))]
        switch element.value {
        case .sequence(let items):
            // A UN of undefined length is a sequence (PS3.5 §6.2.2) and is rendered as one.
            fields[0] = ("vr", .string("SQ"))
            fields.append(("Value", .array(items.map { render($0.dataset, characterSet: characterSet) })))
        case .fragments:
            // The encapsulated value as it is on the wire: the items with their tags, without the
            // final Sequence Delimitation Item (as pydicom renders it).
            var encoded = ByteBuffer()
            try? DatasetEncoder().encode(element, encoding: element.isBigEndian ? .explicitBigEndian : .explicitLittleEndian,
                                         into: &encoded)
            let value = Array(encoded.readableBytesView.dropFirst(12).dropLast(8))
            fields.append(("InlineBinary", .string(Data(value).base64EncodedString())))
        case .bytes(let b):
            if b.readableBytes > 0, let value = renderValue(element, characterSet: characterSet) {
                fields.append(contentsOf: value)
            }
        }
        return .object(fields)
    }

    private func renderValue(_ element: DataElement, characterSet: SpecificCharacterSet) -> [(String, JSONValue)]? {
        let vr = element.vr
        switch vr {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN:
            return [("InlineBinary", .string(Data(element.littleEndianBytes ?? []).base64EncodedString()))]
        case .AT:
            return [("Value", .array((element.tags ?? []).map { .string($0.jsonKey) }))]
        case .FL:
            return [("Value", .array((element.floats ?? []).map { .double(Double($0)) }))]
        case .FD:
            return [("Value", .array((element.doubles ?? []).map { .double($0) }))]
        case .UV:
            return [("Value", .array((element.unsignedIntegers ?? []).map { .int($0) }))]
        case .US, .SS, .UL, .SL, .SV:
            return [("Value", .array((element.integers ?? []).map { .int($0) }))]
        default:
            break
        }
        guard let decoded = element.strings(characterSet: characterSet) else { return nil }
        switch decoded {
        case .undecodable(let reason, let raw):
            // Never mojibake: the raw bytes, and why they could not be decoded.
            return [("InlineBinary", .string(Data(raw).base64EncodedString())), ("x-dicomtap-undecodable", .string(reason))]
        case .values(let values):
            return [("Value", .array(values.map { stringValue($0, vr: vr) }))]
        }
    }

    private func stringValue(_ s: String, vr: VR) -> JSONValue {
        if s.isEmpty { return .null }
        switch vr {
        case .PN:
            let groups = s.split(separator: "=", omittingEmptySubsequences: false)
            var obj: [(String, JSONValue)] = []
            for (name, group) in zip(["Alphabetic", "Ideographic", "Phonetic"], groups) where !group.isEmpty {
                obj.append((name, .string(String(group))))
            }
            return .object(obj)
        case .IS:
            if let i = Int64(s.trimmingCharacters(in: " ")) { return .int(i) }
            return .string(s)
        case .DS:
            let t = s.trimmingCharacters(in: " ")
            if let i = Int64(t) { return .int(i) }
            if let d = Double(t), d.isFinite { return .double(d) }
            return .string(s)
        default:
            return .string(s)
        }
    }
}
