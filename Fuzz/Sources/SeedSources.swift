import DICOMCapture
import DICOMCore
import DICOMInspect
import DICOMUL
import Foundation
import NIOCore

/// Where the seed corpora come from: the captures in `captures/`, the Part 10 fixtures of the
/// tests, and what the observer finds in the captures (PDUs, command sets, data sets).
enum SeedSources {
    static let fixtureDirectories = ["Tests/DICOMCoreTests/Fixtures/datasets", "captures"]

    static func captureFiles(root: String) -> [String] {
        files(in: "captures", root: root, suffixes: [".pcap", ".pcapng"])
    }

    /// Each capture's associations: the PDUs each side sent, in order, encoded again.
    static func streams(root: String) throws -> [[(PeerRole, [UInt8])]] {
        var streams: [[(PeerRole, [UInt8])]] = []
        for path in captureFiles(root: root) {
            for association in associations(path) {
                var stream: [(PeerRole, [UInt8])] = []
                for case .pdu(let pdu, let sender, _, _, _) in association.events {
                    stream.append((sender, Array(pdu.encoded().readableBytesView)))
                }
                if !stream.isEmpty { streams.append(stream) }
            }
        }
        return streams
    }

    /// Data sets in their transfer syntax: every fixture's (deflated again for a deflated one),
    /// then every command set (implicit VR LE) and kept data set of the captures' messages.
    static func dataSets(root: String) throws -> [(TransferSyntax, [UInt8])] {
        var out: [(TransferSyntax, [UInt8])] = []
        for path in fixtureDirectories.flatMap({ files(in: $0, root: root, suffixes: [".dcm"]) }) {
            guard let file = try? DICOMFile(decoding: ByteBuffer(bytes: try readFile(path))) else { continue }
            var body = try DatasetEncoder().encode(file.dataset, encoding: file.transferSyntax.encoding)
            if file.transferSyntax.isDeflated { body = try Deflate.deflate(body) }
            out.append((file.transferSyntax, Array(body.readableBytesView)))
        }
        var seen = Set<[UInt8]>()
        for path in captureFiles(root: root) {
            for association in associations(path) {
                for case .message(let message, _) in association.events {
                    let command = Array(message.commandBytes.readableBytesView)
                    if seen.insert(command).inserted { out.append((.implicitVRLittleEndian, command)) }
                    if let bytes = message.dataSetBytes, let syntax = message.transferSyntax {
                        let dataSet = Array(bytes.readableBytesView)
                        if seen.insert(dataSet).inserted { out.append((syntax, dataSet)) }
                    }
                }
            }
        }
        return out
    }

    static func associations(_ path: String) -> [CaptureAnalyzer.Association] {
        var configuration = CaptureAnalyzer.Configuration()
        configuration.keepEvents = true
        configuration.observer.emitsEvents = true
        configuration.dicomPorts = [104, 11112, 4242]
        var associations: [CaptureAnalyzer.Association] = []
        _ = try? CaptureAnalyzer.analyze(path: path, configuration: configuration) { associations.append($0) }
        return associations
    }
}
