import Testing

/// Tests that start real peers (pynetdicom, DCMTK, the proxy, our SCP) run at most `width` at a time across
/// all suites, so that a 2-core machine does not starve the peers' own timeouts; other tests still run in
/// parallel with them. Each runs on a queue of its own (see `OwnExecutorTrait`). Use `@Suite(.peers)` (or on a
/// single `@Test`).
public struct PeerSlotsTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        // A slot per test case (Swift Testing asks for a case's scope once per case; a suite or a whole test
        // function, asked without a case, never holds one, so nothing waits for a slot it already holds).
        guard testCase != nil else {
            try await function()
            return
        }
        await PeerSlots.shared.acquire()
        do {
            // On a queue of its own: a test waiting for a peer is not held back by a busy cooperative pool.
            try await withTaskExecutorPreference(OwnQueueExecutor(label: "peers \(test.name)")) {
                try await function()
            }
        } catch {
            await PeerSlots.shared.release()
            throw error
        }
        await PeerSlots.shared.release()
    }
}

extension Trait where Self == PeerSlotsTrait {
    /// Run among the tests that start real peers, a few at a time.
    public static var peers: Self { PeerSlotsTrait() }
}

/// A counting semaphore for async code.
public actor PeerSlots {
    static let shared = PeerSlots(width: 2)
    /// For short programs that take a core each while they run (tshark on a capture): two at a time, so that a
    /// parameterized test does not start one per case at once.
    public static let programs = PeerSlots(width: 2)

    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { available = width }

    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
