import Dispatch
import Foundation

/// SIGINT and SIGTERM handled by the command instead of by the default action, from creation on
/// (create it before starting servers, so a signal in between is not lost), until it is released.
final class TerminationSignals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private var iterator: AsyncStream<Int32>.Iterator

    init() {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        iterator = signals.makeAsyncIterator()
    }

    /// Waits for the next SIGINT or SIGTERM; returns which one came.
    func next() async -> Int32 {
        await iterator.next() ?? SIGTERM
    }

    deinit { sources.forEach { $0.cancel() } }
}

/// SIGHUP: "read your files again" (the proxy's `--config` file and its certificates, through the one reload path,
/// `Proxy.reload`), handled by `action` on a queue of its own, one at a time,
/// from creation on; the default action (ending the process) is off meanwhile. (The source is only cancelled, in
/// deinit: unchecked Sendable as `TerminationSignals`.)
final class HangUpSignal: @unchecked Sendable {
    private let source: any DispatchSourceSignal

    init(_ action: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "dicomtap.sighup"))
        source.setEventHandler(handler: action)
        source.resume()
    }

    deinit { source.cancel() }
}
