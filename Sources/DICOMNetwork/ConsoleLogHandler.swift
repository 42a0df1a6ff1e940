#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMInspect
import Dispatch
import Logging

/// A `LogHandler` for a terminal: one line per message, `HH:MM:SS.mmm [association] text`
/// (local time), continuation lines of a multi-line message indented under the first. Each
/// message is written with one `write(2)` straight away, so lines appear as they happen.
/// The CLI gives it to the proxy's and our SCP's `Logger`; the libraries never bootstrap logging.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    /// Where each formatted message goes (standard output, or a caller's sink).
    private let output: @Sendable (String) -> Void

    /// A handler writing to standard output.
    public init() {
        let console = ConsoleLogHandler.standardOutput
        output = { console.write($0) }
    }

    /// A handler handing each formatted message (the console's text, with its final newline)
    /// to `sink` instead, e.g. to keep the lines a test reads.
    public init(sink: @escaping @Sendable (String) -> Void) {
        output = sink
    }

    private static let standardOutput = StandardOutput()

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        output(Self.format(message: "\(event.message)", level: event.level, metadata: merged, time: .wallClock()))
    }

    /// The text of one message as it appears on the console (with its final newline).
    static func format(message: String, level: Logger.Level, metadata: Logger.Metadata, time: Timestamp) -> String {
        var prefix = localTimeOfDay(time)
        if let id = metadata[DICOMLogKey.associationID] { prefix += " [\(id)]" }
        if level >= .warning { prefix += " \(level)" }
        let pad = String(repeating: " ", count: prefix.count)
        var out = ""
        for (i, line) in message.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            out += (i == 0 ? prefix : pad) + " " + line + "\n"
        }
        return out
    }
}

/// Standard output, written with one `write(2)` per message (no user-space buffer). Writes are
/// serialised on a private queue: every association of every event loop logs to it. A failed
/// write loses that write only; standard output stays the caller's, never closed.
final class StandardOutput: Sendable {
    private let queue = DispatchQueue(label: "dicomtap.console.stdout")

    func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in queue.sync { _ = writeFully(STDOUT_FILENO, UnsafeRawBufferPointer(bytes)) } }
    }
}

/// `HH:MM:SS.mmm` in local time.
func localTimeOfDay(_ t: Timestamp) -> String {
    var seconds = time_t(t.nanoseconds / 1_000_000_000)
    var parts = tm()
    localtime_r(&seconds, &parts)
    let millis = Int((t.nanoseconds / 1_000_000) % 1000)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
    return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)"
}
