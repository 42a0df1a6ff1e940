import DICOMCore
import DICOMPeerSupport
import NIOCore
import Testing
@testable import DICOMInspect

/// Fixed-seed mutations of the real-peer streams (bit flips, overwrites with interesting
/// values, truncations, inserted garbage) fed to the observer: it must report findings and
/// carry on, never trap or hang, and stay within its bounds.
@Suite(.cpuHeavy) struct ObserverMutationTests {
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    @Test func mutatedPeerStreamsNeverCrashTheObserver() {
        var rng = Rng(state: 0x0BAD_5EED)
        var observed = 0
        let interesting: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x04, 0x07, 0xFE]
        for scenario in PeerStreams.scenarios() {
            for round in 0..<40 {
                var observer = AssociationObserver()
                for direction in ["rq", "ac"] {
                    var bytes = Array(PeerStreams.bytes(scenario.name, direction).readableBytesView)
                    guard !bytes.isEmpty else { continue }
                    switch round % 4 {
                    case 0:
                        for _ in 0..<(1 + round % 5) {
                            let i = Int.random(in: 0..<bytes.count, using: &rng)
                            bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                        }
                    case 1:
                        let i = Int.random(in: 0..<bytes.count, using: &rng)
                        bytes[i] = interesting.randomElement(using: &rng) ?? 0
                    case 2:
                        bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                    default:
                        let i = Int.random(in: 0..<bytes.count, using: &rng)
                        bytes.insert(contentsOf: (0..<Int.random(in: 1..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) },
                                     at: i)
                    }
                    // Fed in random-sized pieces.
                    var offset = 0
                    while offset < bytes.count {
                        let n = min(Int.random(in: 1..<300, using: &rng), bytes.count - offset)
                        _ = observer.receive(ByteBuffer(bytes: bytes[offset..<(offset + n)]),
                                             from: direction == "rq" ? .requestor : .acceptor,
                                             at: Timestamp(nanoseconds: Int64(offset)))
                        offset += n
                    }
                }
                _ = observer.connectionClosed(at: Timestamp(nanoseconds: 1))
                // Whatever was decoded renders.
                _ = AssociationJSON().render(index: 1, client: "c", server: "s", observer: observer).serialized()
                observed += 1
            }
        }
        #expect(observed >= 900)
    }
}
