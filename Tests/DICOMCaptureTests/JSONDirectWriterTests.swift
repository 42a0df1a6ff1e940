import DICOMCore
import DICOMInspect
import Foundation
import NIOCore
import Testing
import DICOMPeerSupport
@testable import DICOMCapture

/// The direct JSON writer (`AssociationJSON.write(…into: &TextBuffer)`, `DICOMJSONRenderer.write`)
/// gives byte for byte what the `JSONValue` tree serializes to, on every sample capture in
/// `captures/` (recorded from pynetdicom 3.0.4 and DCMTK 3.6.7 peers) and on hand-made datasets
/// with the values whose text is easy to get wrong (numbers, escapes, non-ASCII, person names).
@Suite struct JSONDirectWriterTests {
    static let captures = AnalyzeCapturesTests.captures

    static func captureNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: captures.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }

    static func associations(_ name: String) throws -> [CaptureAnalyzer.Association] {
        var config = CaptureAnalyzer.Configuration()
        config.observer.keepsExchanges = true
        if let capture = AnalyzeCapturesTests.manifest().first(where: { $0.name == name }) {
            config.dicomPorts.formUnion(capture.dicom_ports.map { UInt16($0) })
        }
        let box = AnalyzeCapturesTests.Box()
        _ = try CaptureAnalyzer.analyze(path: captures.appendingPathComponent(name).path, configuration: config) {
            box.items.append($0)
        }
        return box.items
    }

    @Test func everyCaptureIsFound() {
        #expect(Self.captureNames().count >= 28)
    }

    @Test(.cpuHeavy, arguments: captureNames())
    func directWriterEqualsTheSerializedTree(_ name: String) throws {
        let associations = try Self.associations(name)
        for a in associations {
            let client = a.client.description, server = a.server.description
            for includeAll in [false, true] {
                let json = AssociationJSON(includeAllDataSets: includeAll)
                let tree = json.render(index: a.index, client: client, server: server, observer: a.observer)
                for indent in [1, 0, 2] {
                    var out = TextBuffer()
                    out.append("prefix ")
                    json.write(index: a.index, client: client, server: server, observer: a.observer, indent: indent, into: &out)
                    #expect(out.string == "prefix " + tree.serialized(indent: indent),
                            "\(name) association \(a.index) includeAll \(includeAll) indent \(indent)")
                }
                // `--service X`: the tree with its exchanges replaced (what `analyze` did so far).
                let services = Set(a.observer.exchanges.map { $0.service?.rawValue ?? "unknown" }).sorted() + ["C-GET"]
                for service in services {
                    guard case .object(var fields) = tree, let i = fields.firstIndex(where: { $0.0 == "exchanges" }) else {
                        Issue.record("no exchanges field"); continue
                    }
                    fields[i].1 = .array(a.observer.exchanges.filter { $0.service?.rawValue == service }.map(json.exchange))
                    var out = TextBuffer()
                    json.write(index: a.index, client: client, server: server, observer: a.observer, onlyService: service,
                               indent: 1, into: &out)
                    #expect(out.string == JSONValue.object(fields).serialized(indent: 1), "\(name) \(a.index) \(service)")
                }
            }
        }
    }

    /// What the direct path produces for the dataset, compared with the tree, and returned.
    static func direct(_ ds: Dataset, characterSet: SpecificCharacterSet = .default, indent: Int = 0) -> String {
        var out = TextBuffer()
        DICOMJSONRenderer().write(ds, characterSet: characterSet, indent: indent, into: &out)
        #expect(out.string == DICOMJSONRenderer().render(ds, characterSet: characterSet).serialized(indent: indent))
        return out.string
    }

    static func raw(_ tag: UInt32, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
        DataElement(tag: DICOMCore.Tag(tag), vr: vr, value: .bytes(ByteBuffer(bytes: bytes)))
    }

    @Test func numbersAsTheTreeWritesThem() {
        let ds = Dataset(elements: [
            Self.raw(0x0018_0050, .DS, Array("0.1\\ 12 \\-0\\1e20\\2.5e-7\\abc\\1E3\\ ".utf8)),
            Self.raw(0x0020_0013, .IS, Array(" 42\\-7\\x1\\99999999999999999999".utf8)),
            .integers(DICOMCore.Tag(0x0028_0010), vr: .US, [UInt16(0), 65535]),
            .integers(DICOMCore.Tag(0x0018_6020), vr: .SL, [Int32.min, -1]),
            .integers(DICOMCore.Tag(0x0018_9219), vr: .UV, [UInt64.max]),
            Self.raw(0x0018_9087, .FD, [1.0, 0.1, -2.5e300, .nan, .infinity, -0.0, 1e15, 123456789012345.0]
                .flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }),
            Self.raw(0x0018_9089, .FL, [Float(0.1), 3, -Float.infinity].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }),
            Self.raw(0x0020_9165, .AT, [0x10, 0x00, 0x20, 0x00]),
        ])
        let text = Self.direct(ds)
        #expect(text.contains(#""00180050":{"vr":"DS","Value":[0.1,12,0,1e+20,2.5e-07,"abc",1000,null]}"#), "\(text)")
        #expect(text.contains(#""00200013":{"vr":"IS","Value":[42,-7,"x1","99999999999999999999"]}"#), "\(text)")
        #expect(text.contains(#""00189219":{"vr":"UV","Value":[18446744073709551615]}"#), "\(text)")
        #expect(text.contains(#"[1,0.1,-2.5e+300,"nan","inf",0,1000000000000000.0,123456789012345]"#), "\(text)")
        #expect(text.contains(#""00209165":{"vr":"AT","Value":["00100020"]}"#), "\(text)")
    }

    @Test func stringsEscapedAsTheTreeEscapesThem() {
        let utf8 = SpecificCharacterSet(terms: ["ISO_IR 192"])
        let ds = Dataset(elements: [
            DataElement(tag: DICOMCore.Tag(0x0008_0005), vr: .CS, string: "ISO_IR 192")!,
            Self.raw(0x0010_0010, .PN, Array("Müller^Jörg=山田^太郎=やまだ^たろう\\==Pho^Ne\\".utf8)),
            Self.raw(0x0010_4000, .LT, Array("tab\tquote\" back\\slash\r\nsoh\u{01}bell\u{07}del\u{7F}".utf8)),
            Self.raw(0x0008_0080, .LO, [0x41, 0x00, 0x1F, 0x42]),
            Self.raw(0x0010_0020, .LO, [0xFF, 0xFE, 0x41, 0x20]),
            .empty(DICOMCore.Tag(0x0010_0030), vr: .DA),
            .sequence(DICOMCore.Tag(0x0040_0275), items: [Dataset(), Dataset(elements: [.empty(DICOMCore.Tag(0x0040_0009), vr: .SH)])]),
            Self.raw(0x0009_1001, .UN, [0, 1, 2, 0xFF]),
        ])
        for indent in [0, 1, 3] { _ = Self.direct(ds, indent: indent) }
        let text = Self.direct(ds, characterSet: utf8)
        #expect(text.contains(#"{"Alphabetic":"Müller^Jörg","Ideographic":"山田^太郎","Phonetic":"やまだ^たろう"}"#), "\(text)")
        #expect(text.contains(#"{"Phonetic":"Pho^Ne"},null]"#), "\(text)")
        #expect(text.contains(#""tab\tquote\" back\\slash\r\nsoh\u0001bell\u0007del\#u{7F}""#), "\(text)")
        #expect(text.contains(#"["A\u0000\u001fB"]"#), "\(text)")
        #expect(text.contains(#""00400275":{"vr":"SQ","Value":[{},{"00400009":{"vr":"SH"}}]}"#), "\(text)")
        #expect(text.contains(#""00091001":{"vr":"UN","InlineBinary":"AAEC/w=="}"#), "\(text)")
        #expect(text.contains(#""x-dicomtap-undecodable":"#), "\(text)")
    }

    @Test func treeValuesAndKeysThroughTheWriter() {
        let value = JSONValue.object([
            ("", .array([])), ("k\"ey\n", .object([])), ("a", .array([.null, .bool(false), .number("1.50"), .double(.nan),
                                                                        .object([("x", .array([.array([])]))])])),
        ])
        #expect(value.serialized() == #"{"":[],"k\"ey\n":{},"a":[null,false,1.50,"nan",{"x":[[]]}]}"#)
        #expect(value.serialized(indent: 1) == "{\n \"\": [],\n \"k\\\"ey\\n\": {},\n \"a\": [\n  null,\n  false,\n  1.50,\n  \"nan\",\n  {\n   \"x\": [\n    []\n   ]\n  }\n ]\n}")
        var tree = JSONTreeBuilder()
        value.write(to: &tree)
        #expect(tree.result == value)
    }
}
