#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import func DICOMNetwork.writeFully
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
/// private queue (`events.jsonl` is shared by the associations of every event loop);
/// `enqueue` writes without waiting (recordings, written off the event loop). The
/// descriptor is closed when the last reference goes away, so no write can race the close.
/// Files are opened through `PrivateFiles` (mode 0600, no symbolic link, no one else's file).
final class AppendOnlyFile: Sendable {
    let path: String
    private let descriptor: CInt
    private let queue: DispatchQueue
    /// Told once, in words, when a write to a file of ours fails; nothing more is written to it after that.
    private let onFailure: (@Sendable (String) -> Void)?
    /// Only read and written on `queue`.
    private nonisolated(unsafe) var failed = false

    /// Opens the file at `path` for appending, creating it when missing (`PrivateFiles.openForAppending`).
    init(appendingTo path: String, onFailure: (@Sendable (String) -> Void)? = nil) throws(PrivateFiles.Error) {
        descriptor = try PrivateFiles.openForAppending(path)
        self.path = path
        self.onFailure = onFailure
        queue = DispatchQueue(label: "dicomtap.proxy.file")
    }

    /// Creates a new file `directory/stem.suffix`, or with a number after the stem when that name
    /// is taken (`PrivateFiles.createUnique`); `path` is the name it got.
    init(newFileIn directory: String, stem: String, suffix: String,
         onFailure: (@Sendable (String) -> Void)? = nil) throws(PrivateFiles.Error) {
        (descriptor, path) = try PrivateFiles.createUnique(in: directory, stem: stem, suffix: suffix)
        self.onFailure = onFailure
        queue = DispatchQueue(label: "dicomtap.proxy.file")
    }

    func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in queue.sync { writeOnQueue(UnsafeRawBufferPointer(bytes)) } }
    }

    func write(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in queue.sync { writeOnQueue(bytes) } }
    }

    /// Writes `buffer` after the writes before it, without waiting for it.
    func enqueue(_ buffer: ByteBuffer) {
        queue.async { buffer.withUnsafeReadableBytes { self.writeOnQueue($0) } }
    }

    /// Returns once every write before it is done.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { continuation.resume() }
        }
    }

    private func writeOnQueue(_ bytes: UnsafeRawBufferPointer) {
        guard !failed, let failure = writeFully(descriptor, bytes) else { return }
        failed = true
        onFailure?("writing \(path) failed: \(String(cString: strerror(failure))); nothing more is written to it")
    }

    deinit {
        _ = systemClose(descriptor)
    }
}

private func systemClose(_ fd: CInt) -> CInt {
    close(fd)
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
        let bytesText = row.map { hex2($0, uppercase: false) }.joined(separator: " ")
        lines.append(hex(offset, width: 4, uppercase: false) + "  " + bytesText)
        offset += 16
    }
    if buffer.readableBytes > limit { lines.append("... (\(buffer.readableBytes) bytes in all)") }
    return lines
}
