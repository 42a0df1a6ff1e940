import Dispatch

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
