#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore
import Dispatch
import NIOCore

/// A file opened for appending whose every `write` goes straight to the kernel (no user-space
/// buffer): a killed process loses at most the write in flight. Writes are serialised on a
/// private queue (`events.jsonl` is shared by the associations of every event loop);
/// `enqueue` writes without waiting (nothing uses it now: recordings are written with `write`,
/// on the association's event loop, so a kill -9 cannot lose queued packets). The
/// descriptor is closed when the last reference goes away, so no write can race the close.
/// Files are opened through `PrivateFiles` (mode 0600, no symbolic link, no one else's file).
package final class AppendOnlyFile: Sendable {
    package let path: String
    private let descriptor: CInt
    private let queue: DispatchQueue
    /// Told once, in words, when a write to a file of ours fails; nothing more is written to it after that.
    private let onFailure: (@Sendable (String) -> Void)?
    /// Only read and written on `queue`.
    private nonisolated(unsafe) var failed = false

    /// Opens the file at `path` for appending, creating it when missing (`PrivateFiles.openForAppending`).
    package init(appendingTo path: String, onFailure: (@Sendable (String) -> Void)? = nil) throws(PrivateFiles.Error) {
        descriptor = try PrivateFiles.openForAppending(path)
        self.path = path
        self.onFailure = onFailure
        queue = DispatchQueue(label: "dicomtap.proxy.file")
    }

    /// Creates a new file `directory/stem.suffix`, or with a number after the stem when that name
    /// is taken (`PrivateFiles.createUnique`); `path` is the name it got.
    package init(newFileIn directory: String, stem: String, suffix: String,
         onFailure: (@Sendable (String) -> Void)? = nil) throws(PrivateFiles.Error) {
        (descriptor, path) = try PrivateFiles.createUnique(in: directory, stem: stem, suffix: suffix)
        self.onFailure = onFailure
        queue = DispatchQueue(label: "dicomtap.proxy.file")
    }

    package func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in queue.sync { writeOnQueue(UnsafeRawBufferPointer(bytes)) } }
    }

    package func write(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in queue.sync { writeOnQueue(bytes) } }
    }

    /// Writes `buffer` after the writes before it, without waiting for it.
    package func enqueue(_ buffer: ByteBuffer) {
        queue.async { buffer.withUnsafeReadableBytes { self.writeOnQueue($0) } }
    }

    /// Returns once every write before it is done.
    package func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { continuation.resume() }
        }
    }

    private func writeOnQueue(_ bytes: UnsafeRawBufferPointer) {
        guard !failed, let failure = writeFully(descriptor, bytes) else { return }
        failed = true
        onFailure?("writing \(path) failed: \(systemErrorWords(failure)); nothing more is written to it")
    }

    deinit {
        _ = systemClose(descriptor)
    }
}

private func systemClose(_ fd: CInt) -> CInt {
    close(fd)
}

/// Writes all of `bytes` to `descriptor`, after short writes and writes interrupted by a signal
/// (`EINTR`). Returns `nil` once everything is written, else the `errno` of the write that failed.
package func writeFully(_ descriptor: CInt, _ bytes: UnsafeRawBufferPointer) -> CInt? {
    guard var base = bytes.baseAddress else { return nil }
    var remaining = bytes.count
    while remaining > 0 {
        let n = systemWrite(descriptor, base, remaining)
        if n < 0 {
            let failure = errno
            if failure == EINTR { continue }
            return failure
        }
        remaining -= n
        base += n
    }
    return nil
}

private func systemWrite(_ fd: CInt, _ base: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, base, count)
}

