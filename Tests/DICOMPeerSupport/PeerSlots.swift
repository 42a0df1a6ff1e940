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

/// A counting semaphore for async code. Not an actor: an actor's methods run on the cooperative pool, so taking
/// or giving back a slot waited for every job queued there (at the start of a run on two cores, tens of seconds),
/// and the next peer test could not start until the pool's queue had drained. Here a waiter is resumed on its own
/// executor (the test's queue, see `OwnExecutorTrait`).
public final class PeerSlots: Sendable {
    static let shared = PeerSlots(width: 2)
    /// For short programs that take a core each while they run (tshark on a capture): two at a time, so that a
    /// parameterized test does not start one per case at once.
    public static let programs = PeerSlots(width: 2)
    /// For `.cpuHeavy` tests: two at a time.
    static let cpuHeavy = PeerSlots(width: 2)

    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Locked<State>

    init(width: Int) { state = Locked(State(available: width)) }

    public func acquire() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withValue { state in
                guard state.available > 0 else {
                    state.waiters.append(waiter)
                    return false
                }
                state.available -= 1
                return true
            }
            if now { waiter.resume() }
        }
    }

    public func release() {
        let next = state.withValue { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// `body` run holding one of `slots` (released however it ends), or at once without slots.
public func holdingSlot<T>(of slots: PeerSlots?, _ body: () async throws -> T) async throws -> T {
    guard let slots else { return try await body() }
    await slots.acquire()
    defer { slots.release() }
    return try await body()
}
