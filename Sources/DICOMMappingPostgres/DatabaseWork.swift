import DICOMRewrite
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// A piece of database work under way (`start`).
struct PendingWork: Sendable {
    var finished = false
    var timer: Scheduled<Void>?
    var task: Task<Void, Never>?
}

/// The result of work on the client's executor, handed to the thread waiting for it.
final class ResultBox<T: Sendable>: Sendable {
    let semaphore = DispatchSemaphore(value: 0)
    private let value = NIOLockedValueBox<Result<T, RewriteError>?>(nil)

    var result: Result<T, RewriteError>? { value.withLockedValue { $0 } }

    func set(_ result: Result<T, RewriteError>) {
        value.withLockedValue { $0 = result }
        semaphore.signal()
    }
}

/// Runs the database client's tasks on the event loop its connections use, not the cooperative pool: a caller
/// that blocks waiting for them (an event loop, a test) cannot starve them, and a task resumed by an answer from
/// the database goes on on the thread that read it.
/// Once the store is closed (the loop shut down), what is left of its tasks runs on Dispatch's threads.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let loop: any EventLoop
    private let lock = NSLock()
    private var closed = false

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let queued = lock.withLock {
            guard !closed else { return false }
            loop.execute { job.runSynchronously(on: executor) }
            return true
        }
        if !queued { DispatchQueue.global().async { job.runSynchronously(on: executor) } }
    }

    /// The loop is about to shut down: no job goes to it any more.
    func close() { lock.withLock { closed = true } }
}
