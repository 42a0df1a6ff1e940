import Foundation
import NIOCore
@testable import DICOMCore

/// Fixture files live beside the tests; located through #filePath so no bundle is needed.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let datasets = directory.appendingPathComponent("datasets")

    struct Entry: Decodable, Sendable, CustomStringConvertible {
        let name: String
        let transferSyntax: String
        let features: [String]
        var description: String { name }
    }

    static func manifest() -> [Entry] {
        guard let data = FileManager.default.contents(atPath: datasets.appendingPathComponent("manifest.json").path),
              let entries = try? JSONDecoder().decode([Entry].self, from: data) else { return [] }
        return entries
    }

    static func bytes(_ name: String) -> ByteBuffer {
        ByteBuffer(bytes: FileManager.default.contents(atPath: datasets.appendingPathComponent(name).path) ?? Data())
    }

    static func json(_ name: String) -> Any? {
        guard let data = FileManager.default.contents(atPath: datasets.appendingPathComponent(name).path) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }
}

/// Deterministic xorshift64* generator for the mutation test (no system randomness).
struct XorShift: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

/// Compares two parsed JSON values, treating numbers numerically. Returns the path of the
/// first difference, or nil when equal.
func jsonDifference(_ a: Any?, _ b: Any?, path: String = "$") -> String? {
    switch (a, b) {
    case (nil, nil): return nil
    case let (x as [String: Any], y as [String: Any]):
        for key in Set(x.keys).union(y.keys).sorted() {
            if let d = jsonDifference(x[key], y[key], path: path + "." + key) { return d }
        }
        return nil
    case let (x as [Any], y as [Any]):
        guard x.count == y.count else { return "\(path): \(x.count) values vs \(y.count)" }
        for (i, (p, q)) in zip(x, y).enumerated() {
            if let d = jsonDifference(p, q, path: path + "[\(i)]") { return d }
        }
        return nil
    case let (x as String, y as String):
        return x == y ? nil : "\(path): \"\(x)\" vs \"\(y)\""
    case let (x as NSNumber, y as NSNumber):
        let dx = x.doubleValue, dy = y.doubleValue
        if dx == dy || abs(dx - dy) <= 1e-12 * max(abs(dx), abs(dy)) { return nil }
        return "\(path): \(x) vs \(y)"
    case (is NSNull, is NSNull): return nil
    // PS3.18 §F.2.5 renders an empty value in a multi-valued string as null; pydicom writes "".
    case (is NSNull, let y as String) where y.isEmpty: return nil
    case (let x as String, is NSNull) where x.isEmpty: return nil
    default:
        return "\(path): \(String(describing: a)) vs \(String(describing: b))"
    }
}

/// Parses our JSON output back into Foundation objects for comparison.
func parsed(_ value: JSONValue) -> Any? {
    try? JSONSerialization.jsonObject(with: Data(value.serialized().utf8), options: [.fragmentsAllowed])
}

/// pydicom writes InlineBinary of a big endian dataset in the file's byte order; PS3.18
/// §F.2.7 (and our renderer) use little endian. Swaps pydicom's words to compare.
func littleEndianInlineBinary(_ json: Any?) -> Any? {
    guard let object = json as? [String: Any] else { return json }
    var out: [String: Any] = [:]
    for (key, value) in object {
        guard var element = value as? [String: Any], let vr = element["vr"] as? String else {
            out[key] = value
            continue
        }
        if let items = element["Value"] as? [Any], vr == "SQ" {
            element["Value"] = items.map { littleEndianInlineBinary($0) as Any }
        }
        let sizes = ["OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8]
        if let size = sizes[vr], let b64 = element["InlineBinary"] as? String, let data = Data(base64Encoded: b64) {
            var bytes = Array(data)
            var i = 0
            while i + size <= bytes.count {
                bytes[i..<(i + size)].reverse()
                i += size
            }
            element["InlineBinary"] = Data(bytes).base64EncodedString()
        }
        out[key] = element
    }
    return out
}
