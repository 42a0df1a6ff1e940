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

/// A temporary file that keeps the bytes of long data sets for a consumer that needs them again
/// later (replay sends recorded data sets): memory then holds where they are, not what they are.
/// The file is removed when it is opened (it lives as long as the spool). Thread-safe.
public final class DataSetSpool: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    private var end = 0

    /// A spool in `directory` (the system's temporary directory by default).
    public init(directory: String = NSTemporaryDirectory()) throws {
        let path = (directory as NSString).appendingPathComponent("dicomtap-spool-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forUpdatingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        try? FileManager.default.removeItem(atPath: path)
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Bytes written so far.
    public var size: Int { lock.withLock { end } }

    /// Appends `bytes`; returns where they are.
    public func write(_ bytes: ByteBuffer) throws -> (offset: Int, length: Int) {
        try lock.withLock {
            let offset = end
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(bytes.readableBytesView))
            end += bytes.readableBytes
            return (offset, bytes.readableBytes)
        }
    }

    /// `length` bytes from `offset`.
    public func read(offset: Int, length: Int) throws -> ByteBuffer {
        try lock.withLock {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: length) ?? Data()
            return ByteBuffer(bytes: data)
        }
    }
}
