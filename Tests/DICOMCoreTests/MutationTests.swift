import DICOMPeerSupport
import NIOCore
import Testing
@testable import DICOMCore

/// Deterministic mutations of every fixture (fixed seed): truncations, bit flips, byte
/// overwrites with interesting values. Each must end in a typed error or a dataset; a
/// dataset that decodes must re-encode to exactly the mutated input.
@Suite(.cpuHeavy) struct MutationTests {
    static let interesting: [UInt8] = [0x00, 0xFF, 0xFE, 0x7F, 0x80, 0x01, 0xE0, 0xDD, 0x0D]

    @Test func mutationsNeverCrash() throws {
        var rng = XorShift(seed: 0xD1C0_7A90)
        var decoded = 0, failed = 0
        for entry in Fixtures.manifest() {
            let original = Array(Fixtures.bytes(entry.name + ".dcm").readableBytesView)
            for round in 0..<150 {
                var bytes = original
                switch round % 3 {
                case 0:
                    bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                case 1:
                    for _ in 0..<(1 + round % 4) {
                        let i = Int.random(in: 132..<bytes.count, using: &rng)
                        bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                    }
                default:
                    let i = Int.random(in: 132..<bytes.count, using: &rng)
                    bytes[i] = Self.interesting.randomElement(using: &rng) ?? 0
                }
                let input = ByteBuffer(bytes: bytes)
                do {
                    let file = try DICOMFile(decoding: input, options: DecodingOptions(maxInflatedSize: 1 << 24))
                    decoded += 1
                    let output = try file.encode()
                    #expect(output == input, "\(entry.name) round \(round): decoded but did not re-encode byte for byte")
                    _ = DICOMJSONRenderer().render(file.dataset).serialized()
                    _ = TextDumpRenderer().render(file.dataset)
                } catch {
                    failed += 1
                    #expect(!error.description.isEmpty)
                }
            }
        }
        #expect(decoded + failed >= 3000)
        #expect(failed > 0 && decoded > 0)
    }
}
