import Testing

extension Trait where Self == OwnExecutorTrait {
    /// Tests that start real peers (pynetdicom, DCMTK, the proxy, our SCP) run at most two at a time across all
    /// suites, so that a 2-core machine does not starve the peers' own timeouts; other tests still run in parallel
    /// with them. Each runs on a queue of its own (see `OwnExecutorTrait`). Use `@Suite(.peers)` (or on a single
    /// `@Test`).
    public static var peers: Self { OwnExecutorTrait(slots: PeerSlots.shared) }

    /// Tests that keep a core busy for seconds in a debug build (mutation loops, whole captures against their
    /// goldens, tens of thousands of messages, tshark's PDML read back): at most two at a time across all suites,
    /// each on a queue of its own. On Swift's cooperative pool (one thread per core) they held both threads for
    /// tens of seconds at the start of a run (sampled with gdb), and every task that needs the pool stood still
    /// meanwhile: a test server's handlers, which two C-GET tests of ServerLimitsTests wait for, timed out.
    public static var cpuHeavy: Self { OwnExecutorTrait(slots: PeerSlots.cpuHeavy) }
}

/// A counting semaphore for async code.
public actor PeerSlots {
    static let shared = PeerSlots(width: 2)
    /// For short programs that take a core each while they run (tshark on a capture): two at a time, so that a
    /// parameterized test does not start one per case at once.
    public static let programs = PeerSlots(width: 2)
    /// For `.cpuHeavy` tests: two at a time.
    static let cpuHeavy = PeerSlots(width: 2)

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

/// `body` run holding one of `slots` (released however it ends), or at once without slots.
public func holdingSlot<T>(of slots: PeerSlots?, _ body: () async throws -> T) async throws -> T {
    guard let slots else { return try await body() }
    await slots.acquire()
    do {
        let value = try await body()
        await slots.release()
        return value
    } catch {
        await slots.release()
        throw error
    }
}
