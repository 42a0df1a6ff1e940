import DICOMCore
import DICOMPeerSupport
import Foundation
import NIOCore
import Testing
@testable import DICOMStore

/// Whatever identifier arrives, `find` answers with an outcome: no crash, no trap, no thrown error.
@Suite("Mutated request identifiers", .cpuHeavy)
struct MutationTests {
    /// xorshift64*, fixed seed: the same mutations on every run.

    @Test func mutatedIdentifiersGiveOutcomes() throws {
        let store = try demoStore()
        var rng = XorShiftGenerator(state: 0x5EED_1DE7_0000_0007)
        let seeds = [
            requestIdentifier(patientID: "PAT-0001", extraReturnKeys: ["PatientBirthDate", "OtherPatientIDsSequence"]),
            requestIdentifier(patientID: "PAT-0003", issuer: "HOSP-A", characterSet: ["ISO_IR 192"]),
            requestIdentifier(patientID: "PAT-0004", template: "9000"),
        ]
        var decoded = 0, outcomes: [String: Int] = [:]
        for seed in seeds {
            for encoding in [DatasetEncoding.implicitLittleEndian, .explicitLittleEndian] {
                let original = Array(try DatasetEncoder().encode(seed, encoding: encoding).readableBytesView)
                for _ in 0..<400 {
                    var bytes = original
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        let i = Int.random(in: 0..<bytes.count, using: &rng)
                        bytes[i] = UInt8.random(in: 0...255, using: &rng)
                    }
                    guard let ds = try? DatasetDecoder(options: .lenient).decode(ByteBuffer(bytes: bytes), encoding: encoding) else {
                        continue
                    }
                    decoded += 1
                    for model in RPIQueryModel.allCases {
                        let name: String
                        switch try store.find(identifier: ds, model: model) {
                        case .match: name = "match"
                        case .noMatch: name = "none"
                        case .multipleMatches: name = "multiple"
                        case .templateUnsupported: name = "template"
                        case .invalidIdentifier: name = "invalid"
                        }
                        outcomes[name, default: 0] += 1
                    }
                }
            }
        }
        #expect(decoded > 100)
        #expect(outcomes["invalid", default: 0] > 0)
        #expect(outcomes["match", default: 0] > 0)
    }
}
