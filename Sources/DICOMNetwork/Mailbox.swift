import NIOConcurrencyHelpers
import NIOCore

/// A single-consumer queue from a connection's event loop to async code: the handler posts `ULEvent`s,
/// one task awaits them, optionally with a deadline.
final class Mailbox: Sendable {
    private struct State {
        var queue: [ULEvent] = []
        var waiter: (id: Int, continuation: CheckedContinuation<ULEvent?, any Error>)?
        var timer: Scheduled<Void>?
        var nextWaiterID = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    func post(_ event: ULEvent) {
        let waiter: CheckedContinuation<ULEvent?, any Error>? = state.withLockedValue { s in
            if case .closed = event { s.closed = true }
            if let w = s.waiter {
                s.waiter = nil
                s.timer?.cancel()
                s.timer = nil
                return w.continuation
            }
            s.queue.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event; nil once `.closed` has been taken. Throws `AssociationError.timedOut` past `timeout`.
    func next(timeout: TimeAmount? = nil, on eventLoop: any EventLoop, what: @autoclosure () -> String = "waiting for the peer") async throws -> ULEvent? {
        let description = what()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ULEvent?, any Error>) in
            let id: Int? = state.withLockedValue { s in
                if !s.queue.isEmpty {
                    continuation.resume(returning: s.queue.removeFirst())
                    return nil
                }
                if s.closed {
                    continuation.resume(returning: nil)
                    return nil
                }
                s.nextWaiterID += 1
                s.waiter = (s.nextWaiterID, continuation)
                return s.nextWaiterID
            }
            if let id, let timeout {
                let timer = eventLoop.scheduleTask(in: timeout) { [self] in
                    let expired: CheckedContinuation<ULEvent?, any Error>? = state.withLockedValue { s in
                        guard let w = s.waiter, w.id == id else { return nil }
                        s.waiter = nil
                        s.timer = nil
                        return w.continuation
                    }
                    expired?.resume(throwing: AssociationError.timedOut(description))
                }
                // Kept so that an answer in time cancels it (a timer per wait would otherwise pile up).
                let stillWaiting = state.withLockedValue { s -> Bool in
                    guard s.waiter?.id == id else { return false }
                    s.timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        }
    }
}
