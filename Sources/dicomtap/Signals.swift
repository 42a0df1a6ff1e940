import Dispatch
import Foundation

/// Waits for SIGINT or SIGTERM (handled here instead of by the default action) and returns which one came.
func waitForTerminationSignal() async -> Int32 {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
    let sources = [SIGINT, SIGTERM].map { number in
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { continuation.yield(number) }
        source.resume()
        return source
    }
    defer { sources.forEach { $0.cancel() } }
    var iterator = signals.makeAsyncIterator()
    return await iterator.next() ?? SIGTERM
}
