import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@_exported import DICOMProxyTestSupport
@testable import DICOMProxy

// Test support shared by the rewriting tests (the peers, subprocesses and the in-process proxy
// follow Tests/DICOMProxyTests/TestSupport.swift).

// MARK: - Peers on this machine

/// The real peers the tests run: pynetdicom/pydicom through `Peers/rewrite_peer.py`.
extension Peers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static let script = directory.appendingPathComponent("rewrite_peer.py").path
}

extension Subprocess {
    /// Runs `rewrite_peer.py` with python.
    static func python(_ arguments: [String], name: String, directory: TemporaryDirectory, lifetime: Int = 600) throws -> Subprocess {
        try python(script: Peers.script, ["--lifetime", String(lifetime)] + arguments, name: name, directory: directory)
    }
}

/// The JSON objects of a JSON-lines file.
func jsonLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw TimeoutError(what: "not a JSON object: \($0)")
        }
        return object
    }
}

/// The JSON object a peer printed on stdout.
func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw TimeoutError(what: "not a JSON object: \(text)")
    }
    return object
}

/// Every file under `directory` (recursively), with its bytes.
func filesBytes(under directory: String) -> [(path: String, bytes: [UInt8])] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var out: [(String, [UInt8])] = []
    for case let name as String in enumerator {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: path) else { continue }
        out.append((path, [UInt8](data)))
    }
    return out
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
