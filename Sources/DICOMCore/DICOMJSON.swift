import Foundation
import NIOCore

/// Renders datasets in the DICOM JSON model (PS3.18 Annex F). Library API: the `dump`
/// command, the analyzer and the proxy all render identifiers through it.
public struct DICOMJSONRenderer: Sendable {
    public init() {}

    /// The dataset as a DICOM JSON object, `{"00100020": {"vr": "LO", "Value": ["1234567"]}, ...}`.
    public func render(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet = .default) -> JSONValue {
        var tree = JSONTreeBuilder()
        write(dataset, characterSet: inherited, into: &tree)
        return tree.result
    }

    public func render(_ element: DataElement, characterSet: SpecificCharacterSet) -> JSONValue {
        var tree = JSONTreeBuilder()
        write(element, characterSet: characterSet, into: &tree)
        return tree.result
    }

    /// Appends `render(dataset, characterSet:).serialized(indent:)` to `out`, written directly.
    package func write(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet = .default, indent: Int,
                       into out: inout TextBuffer) {
        var writer = JSONTextWriter(indent: indent)
        swap(&writer.out, &out)
        write(dataset, characterSet: inherited, into: &writer)
        swap(&writer.out, &out)
    }

    /// The events of `render(dataset, characterSet:)`.
    package func write<W: JSONWriter>(_ dataset: Dataset, characterSet inherited: SpecificCharacterSet, into w: inout W) {
        let charset = dataset.characterSet(inheriting: inherited)
        w.beginObject()
        for element in dataset.elements {
            w.key(element.tag)
            write(element, characterSet: charset, into: &w)
        }
        w.endObject()
    }

    /// The events of `render(element, characterSet:)`.
    package func write<W: JSONWriter>(_ element: DataElement, characterSet: SpecificCharacterSet, into w: inout W) {
        w.beginObject()
        switch element.value {
        case .sequence(let items):
            // A UN of undefined length is a sequence (PS3.5 §6.2.2) and is rendered as one.
            w.key("vr")
            w.string("SQ")
            w.key("Value")
            w.beginArray()
            for item in items { write(item.dataset, characterSet: characterSet, into: &w) }
            w.endArray()
        case .fragments:
            w.key("vr")
            w.string(element.vr.code)
            // The encapsulated value as it is on the wire: the items with their tags, without the
            // final Sequence Delimitation Item (as pydicom renders it).
            var encoded = ByteBuffer()
            try? DatasetEncoder().encode(element, encoding: element.isBigEndian ? .explicitBigEndian : .explicitLittleEndian,
                                         into: &encoded)
            let value = Array(encoded.readableBytesView.dropFirst(12).dropLast(8))
            w.key("InlineBinary")
            w.string(Data(value).base64EncodedString())
        case .bytes(let b):
            w.key("vr")
            w.string(element.vr.code)
            if b.readableBytes > 0 { writeValue(element, b, characterSet: characterSet, into: &w) }
        case .bulk(let bulk):
            // Not kept: where it was and how long (PS3.18 F.2.6 names the place of bulk data by a URI).
            w.key("vr")
            w.string(element.vr.code)
            w.key("BulkDataURI")
            w.string(Self.bulkDataURI(bulk))
        }
        w.endObject()
    }

    /// `data-set:offset=1234,length=8388608[,fragments=3]`: the place of a value that was not kept.
    public static func bulkDataURI(_ bulk: BulkValue) -> String {
        "data-set:offset=\(bulk.offset),length=\(bulk.length)" + (bulk.fragmentCount.map { ",fragments=\($0)" } ?? "")
    }

    private func writeValue<W: JSONWriter>(_ element: DataElement, _ b: ByteBuffer, characterSet: SpecificCharacterSet,
                                           into w: inout W) {
        let vr = element.vr
        switch vr {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN:
            w.key("InlineBinary")
            w.string(Data(element.littleEndianBytes ?? []).base64EncodedString())
            return
        case .AT:
            w.key("Value")
            w.beginArray()
            for tag in element.tags ?? [] { w.string(tag.jsonKey) }
            w.endArray()
            return
        case .FL:
            w.key("Value")
            w.beginArray()
            for v in element.floats ?? [] { w.double(Double(v)) }
            w.endArray()
            return
        case .FD:
            w.key("Value")
            w.beginArray()
            for v in element.doubles ?? [] { w.double(v) }
            w.endArray()
            return
        case .UV:
            w.key("Value")
            w.beginArray()
            for v in element.unsignedIntegers ?? [] { w.uint(UInt64(v)) }
            w.endArray()
            return
        case .US, .SS, .UL, .SL, .SV:
            w.key("Value")
            w.beginArray()
            for v in element.integers ?? [] { w.int(Int64(v)) }
            w.endArray()
            return
        default:
            break
        }
        guard vr.isString else { return }
        // ASCII values are written from their bytes (the values `strings` would make).
        var started = false
        let ascii = element.forEachASCIIValue(b, characterSet: characterSet) { value in
            if !started {
                w.key("Value")
                w.beginArray()
                started = true
            }
            if value.isEmpty {
                w.null()
            } else if vr == .PN || vr == .IS || vr == .DS {
                writeString(String(decoding: value, as: UTF8.self), vr: vr, into: &w)
            } else {
                w.string(utf8: value)
            }
        }
        if ascii {
            if !started { w.key("Value"); w.beginArray() }
            w.endArray()
            return
        }
        guard let decoded = element.strings(characterSet: characterSet) else { return }
        switch decoded {
        case .undecodable(let reason, let raw):
            // Never mojibake: the raw bytes, and why they could not be decoded.
            w.key("InlineBinary")
            w.string(Data(raw).base64EncodedString())
            w.key("x-dicomtap-undecodable")
            w.string(reason)
        case .values(let values):
            w.key("Value")
            w.beginArray()
            for v in values { writeString(v, vr: vr, into: &w) }
            w.endArray()
        }
    }

    private func writeString<W: JSONWriter>(_ s: String, vr: VR, into w: inout W) {
        if s.isEmpty { w.null(); return }
        switch vr {
        case .PN:
            let groups = s.split(separator: "=", omittingEmptySubsequences: false)
            w.beginObject()
            for (name, group) in zip(["Alphabetic", "Ideographic", "Phonetic"] as [StaticString], groups) where !group.isEmpty {
                w.key(name)
                w.string(String(group))
            }
            w.endObject()
        case .IS:
            if let i = Int64(s.trimmingCharacters(in: " ")) { w.int(i) } else { w.string(s) }
        case .DS:
            let t = s.trimmingCharacters(in: " ")
            if let i = Int64(t) {
                w.int(i)
            } else if let d = Double(t), d.isFinite {
                w.double(d)
            } else {
                w.string(s)
            }
        default:
            w.string(s)
        }
    }
}
