#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMInspect
import Dispatch
import NIOCore

/// The wall clock, as observers and pcap records take it.
func wallClock() -> Timestamp {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Timestamp(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
}

/// A file opened for appending whose every `write` goes straight to the kernel (no user-space
/// buffer): a killed proxy loses at most the write in flight. Writes are serialised on a
/// private queue (`events.jsonl` and stdout are shared by the associations of every event
/// loop). The descriptor is closed when the last reference goes away, so no write can race
/// the close.
final class AppendOnlyFile: Sendable {
    struct Error: Swift.Error, CustomStringConvertible {
        var path: String
        var errno: CInt
        var description: String { "cannot open \(path): \(String(cString: strerror(errno)))" }
    }

    let path: String
    private let descriptor: CInt
    private let ownsDescriptor: Bool
    private let queue: DispatchQueue

    /// Opens (creating it; appending, or truncating when `truncate`) the file at `path`.
    init(path: String, truncate: Bool = false) throws(Error) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0o644)
        guard fd >= 0 else { throw Error(path: path, errno: errno) }
        self.path = path
        descriptor = fd
        ownsDescriptor = true
        queue = DispatchQueue(label: "dicomtap.proxy.file")
    }

    /// Writes to a descriptor the caller keeps open (standard output).
    init(borrowing fd: CInt, name: String) {
        path = name
        descriptor = fd
        ownsDescriptor = false
        queue = DispatchQueue(label: "dicomtap.proxy.\(name)")
    }

    func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    func write(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { write($0) }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        queue.sync {
            guard var base = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                let n = systemWrite(descriptor, base, remaining)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                remaining -= n
                base += n
            }
        }
    }

    deinit {
        if ownsDescriptor { _ = systemClose(descriptor) }
    }
}

private func systemWrite(_ fd: CInt, _ base: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, base, count)
}

private func systemClose(_ fd: CInt) -> CInt {
    close(fd)
}

/// Creates `path` and its parents when missing (like `mkdir -p`).
func makeDirectory(_ path: String) throws(AppendOnlyFile.Error) {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw AppendOnlyFile.Error(path: current, errno: errno)
        }
    }
}

/// `<UTC start yyyyMMdd-HHmmss>-<association id>-<calling>-<called>`: the name (without
/// extension) of an association's text log and recording.
func associationFileStem(start: Timestamp, id: String, calling: String?, called: String?) -> String {
    // iso8601 is `2026-01-01T12:34:56.000000Z`.
    let iso = Array(iso8601(start))
    let date = String(iso[0..<4]) + String(iso[5..<7]) + String(iso[8..<10])
    let time = String(iso[11..<13]) + String(iso[14..<16]) + String(iso[17..<19])
    return "\(date)-\(time)-\(id)-\(fileNameComponent(calling))-\(fileNameComponent(called))"
}

/// An AE title made safe for a file name: letters, digits, `.`, `_` and `-` are kept, anything
/// else becomes `_`; an empty or missing title is `unknown`.
func fileNameComponent(_ title: String?) -> String {
    let trimmed = (title ?? "").trimmingCharacters(in: " ")
    guard !trimmed.isEmpty else { return "unknown" }
    let mapped = trimmed.unicodeScalars.map { s -> Character in
        switch s {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": return Character(s)
        default: return "_"
        }
    }
    let name = String(mapped)
    return name.allSatisfy { $0 == "." } ? "unknown" : name
}

/// Bytes as rows of 16 hex bytes with their offset, for logging malformed PDUs.
func hexDump(_ buffer: ByteBuffer, limit: Int = 256) -> [String] {
    let bytes = buffer.getBytes(at: buffer.readerIndex, length: min(buffer.readableBytes, limit)) ?? []
    var lines: [String] = []
    var offset = 0
    while offset < bytes.count {
        let row = bytes[offset..<min(offset + 16, bytes.count)]
        let hex = row.map { b -> String in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: " ")
        let o = String(offset, radix: 16)
        lines.append(String(repeating: "0", count: max(0, 4 - o.count)) + o + "  " + hex)
        offset += 16
    }
    if buffer.readableBytes > limit { lines.append("... (\(buffer.readableBytes) bytes in all)") }
    return lines
}
