import Dispatch
import Testing

/// Runs the jobs of the tasks that prefer it (`withTaskExecutorPreference`) on a serial dispatch queue of
/// its own instead of Swift's cooperative thread pool, which has one thread per core: on a loaded 2-core
/// machine two tests that block a pool thread (waiting for a process, CPU-heavy mutation tests) can hold
/// back every other task for seconds. A test whose timing matters, such as an SCU that must talk within an
/// idle timeout, runs its loop here and is not starved by the others.
public final class OwnQueueExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// Each test case runs on an `OwnQueueExecutor` of its own (its child tasks too), not on Swift's cooperative pool:
/// for tests whose timing matters (ARTIM, idle and request timeouts of a few seconds) and tests that wait for real
/// peers. On a loaded 2-core machine the pool's two threads can be held for seconds by other tests (CPU-heavy ones,
/// or a synchronous wait); a test here keeps running, shared fairly by the kernel with every other thread.
/// Use `@Suite(.ownExecutor)`, or `.peers`, which also takes one of the peer slots first.
public struct OwnExecutorTrait: TestTrait, SuiteTrait, TestScoping {
    /// Taken for the case's duration (the peer tests' two slots), or none.
    var slots: PeerSlots?

    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        // Per test case (Swift Testing asks for a case's scope once per case; a suite or a whole test function,
        // asked without a case, never holds a slot, so nothing waits for a slot it already holds).
        guard testCase != nil else {
            try await function()
            return
        }
        // The slot is taken and given back on the test's own queue, not on the pool (see `PeerSlots`).
        try await withTaskExecutorPreference(OwnQueueExecutor(label: "test \(test.name)")) {
            try await holdingSlot(of: slots) {
                try await function()
            }
        }
    }
}

extension Trait where Self == OwnExecutorTrait {
    /// Run each test case on a queue of its own rather than on the cooperative pool.
    public static var ownExecutor: Self { OwnExecutorTrait() }
}
