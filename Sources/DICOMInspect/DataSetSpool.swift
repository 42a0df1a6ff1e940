import DICOMCore
import Foundation
import NIOCore

/// Where a long data set's bytes went instead of memory: pieces of a `DataSetSpool` file.
public struct SpooledBytes: Sendable {
    public let spool: DataSetSpool
    /// (offset in the spool file, length), in the data set's order.
    public var chunks: [(offset: Int, length: Int)]
    public var length: Int { chunks.reduce(0) { $0 + $1.length } }

    /// The bytes from `offset` in the data set, at most `length` of them.
    public func read(from offset: Int, length: Int) throws -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(length)
        var skip = offset
        var wanted = length
        for chunk in chunks where wanted > 0 {
            if skip >= chunk.length {
                skip -= chunk.length
                continue
            }
            let n = min(chunk.length - skip, wanted)
            var piece = try spool.read(offset: chunk.offset + skip, length: n)
            out.writeBuffer(&piece)
            wanted -= n
            skip = 0
        }
        return out
    }

    /// All of it (for a caller that must decode it whole).
    public func readAll() throws -> ByteBuffer { try read(from: 0, length: length) }
}

/// A spool file that cannot be created, written or read; says which file and why, in words.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ what: String, path: String, _ error: any Error) {
        let ns = error as NSError
        let why = ns.domain == NSPOSIXErrorDomain ? systemErrorWords(Int32(ns.code))
            : (ns.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? systemErrorWords(Int32($0.code)) : nil }
            ?? ns.localizedDescription
        description = "cannot \(what) the spool file \(path) (\(why)); set TMPDIR to a directory with room"
    }
}

/// A temporary file that keeps the bytes of long data sets for a consumer that needs them again
/// later (replay sends recorded data sets): memory then holds where they are, not what they are.
/// The file is removed when it is opened (it lives as long as the spool). Thread-safe.
public final class DataSetSpool: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private var end = 0

    /// A spool in `directory` (the system's temporary directory by default).
    public init(directory: String = NSTemporaryDirectory()) throws(SpoolError) {
        let path = (directory as NSString).appendingPathComponent("dicomtap-spool-\(UUID().uuidString)")
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forUpdatingAtPath: path) else {
            throw SpoolError("create", path: path, NSError(domain: NSPOSIXErrorDomain, code: Int(errno)))
        }
        try? FileManager.default.removeItem(atPath: path)
        self.handle = handle
    }

    /// Where the file was (it is removed once open).
    public let path: String

    deinit { try? handle.close() }

    /// Bytes written so far.
    public var size: Int { lock.withLock { end } }

    /// Appends `bytes`; returns where they are.
    public func write(_ bytes: ByteBuffer) throws(SpoolError) -> (offset: Int, length: Int) {
        do {
            return try lock.withLock {
                let offset = end
                try handle.seek(toOffset: UInt64(offset))
                try handle.write(contentsOf: Data(bytes.readableBytesView))
                end += bytes.readableBytes
                return (offset, bytes.readableBytes)
            }
        } catch {
            throw SpoolError("write to", path: path, error)
        }
    }

    /// `length` bytes from `offset`.
    public func read(offset: Int, length: Int) throws(SpoolError) -> ByteBuffer {
        do {
            return try lock.withLock {
                try handle.seek(toOffset: UInt64(offset))
                let data = try handle.read(upToCount: length) ?? Data()
                return ByteBuffer(bytes: data)
            }
        } catch {
            throw SpoolError("read", path: path, error)
        }
    }
}
