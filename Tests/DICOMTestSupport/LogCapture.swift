import DICOMPeerSupport

/// Log lines a `Logger` wrote, formatted as on the console (`ConsoleLogHandler(sink:)`).
public final class LogCapture: Sendable {
    public init() {}
    public let lines = Locked<[String]>([])
    public var text: String { lines.current.joined(separator: "\n") }
    public func contains(_ s: String) -> Bool { lines.current.contains { $0.contains(s) } }
}
