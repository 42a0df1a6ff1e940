#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open files (RLIMIT_NOFILE): every connection and every log or recording file takes
/// one. A server raises its soft limit to the hard one at start, so that a flood of idle connections does not
/// lock out real associations at the default 1,024.
public enum FileLimit {
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var before: UInt64
        public var after: UInt64
        public var description: String { "open file limit raised from \(before) to \(after)" }
    }

    /// The soft limit now (nil when it cannot be read; `UInt64.max` for no limit).
    public static var current: UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return UInt64(limit.rlim_cur)  // RLIM_INFINITY is the largest value
    }

    /// Raises the soft limit to the hard one; returns what changed, or nil when nothing did (already at the hard
    /// limit, or the system refused).
    @discardableResult
    public static func raiseToHardLimit() -> Change? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let before = UInt64(limit.rlim_cur)
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return Change(before: before, after: UInt64(limit.rlim_max))
    }
}
