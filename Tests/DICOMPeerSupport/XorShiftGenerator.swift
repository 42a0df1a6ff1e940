/// A small deterministic random number generator (xorshift64*) for tests that must be replayable
/// from a fixed seed (mutation and property tests).
public struct XorShiftGenerator: RandomNumberGenerator {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
