import CompressNIO
import NIOCore

/// Raw DEFLATE (RFC 1951, no zlib header) for Deflated Explicit VR Little Endian (PS3.5 §A.5).
public enum Deflate {
    /// Inflates `compressed`, failing past `maxSize` bytes (a deflate bomb is an error, not an allocation).
    public static func inflate(_ compressed: ByteBuffer, maxSize: Int, offset: Int) throws(DICOMDecodingError) -> ByteBuffer {
        var input = compressed
        do {
            return try input.decompress(with: .deflate(), maxSize: maxSize)
        } catch {
            throw DICOMDecodingError(.inflateFailed, offset: offset, tag: nil,
                                     "the deflated dataset could not be inflated (\(error)); limit \(maxSize) bytes")
        }
    }

    /// Deflates `data` with zlib's default level, as pydicom and DCMTK do.
    public static func deflate(_ data: ByteBuffer) throws(DICOMDecodingError) -> ByteBuffer {
        var input = data
        do {
            return try input.compress(with: .deflate())
        } catch {
            throw DICOMDecodingError(.unencodable, offset: 0, tag: nil, "deflate failed: \(error)")
        }
    }
}

/// Inflates a deflated data set as its pieces arrive (PS3.5 §A.5), handing the output on in
/// pieces of at most `chunkSize` bytes: memory is zlib's window and one piece, whatever the
/// inflated size. Past `maxSize` inflated bytes it fails (a deflate bomb is an error, never an
/// allocation). Bytes after the end of the deflate stream (the padding to an even length) are
/// ignored. The zlib state is a reference: one owner at a time (copies share it).
public struct StreamingInflater: @unchecked Sendable {
    private final class State {
        let zlib: ZlibDecompressor?
        var produced = 0
        var ended = false
        init() { zlib = try? ZlibDecompressor(algorithm: .deflate) }
    }

    private let state = State()
    public let maxSize: Int
    public let chunkSize: Int
    /// Offset of the deflated bytes in their container, for errors.
    public var offset: Int

    public init(maxSize: Int, chunkSize: Int = 1 << 16, offset: Int = 0) {
        self.maxSize = maxSize
        self.chunkSize = chunkSize
        self.offset = offset
    }

    /// Inflated bytes handed on so far.
    public var producedBytes: Int { state.produced }
    /// Whether the end of the deflate stream was seen.
    public var isEnded: Bool { state.ended }

    /// Inflates the next piece of the deflated stream, calling `output` with each inflated piece.
    public func inflate(_ compressed: ByteBuffer, output: (ByteBuffer) throws(DICOMDecodingError) -> Void) throws(DICOMDecodingError) {
        guard let zlib = state.zlib else {
            throw DICOMDecodingError(.inflateFailed, offset: offset, tag: nil, "zlib could not be initialised")
        }
        var input = compressed
        var more = input.readableBytes > 0
        while more && !state.ended {
            let room = maxSize - state.produced
            // One byte past the limit is enough to know it was passed.
            var out = ByteBufferAllocator().buffer(capacity: room >= chunkSize ? chunkSize : room + 1)
            // zlib is given the readable bytes' address: an empty piece is given a buffer with storage.
            if input.readableBytes == 0 { input = ByteBufferAllocator().buffer(capacity: 16) }
            var full = false
            do {
                try zlib.inflate(from: &input, to: &out)
                // Returned without an error: with input left, the stream ended (what follows is
                // padding); without, all of it was taken and more may come.
                if input.readableBytes > 0 { state.ended = true }
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output piece is full: zlib may hold more output even with no input left
                // (the rest of a match): it is called again.
                full = true
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                // No progress without more input.
            } catch {
                throw DICOMDecodingError(.inflateFailed, offset: offset, tag: nil,
                                         "the deflated data set could not be inflated (corrupt deflate stream after \(state.produced) bytes)")
            }
            state.produced += out.readableBytes
            if state.produced > maxSize {
                throw DICOMDecodingError(.inflateFailed, offset: offset, tag: nil,
                                         "the deflated data set inflates past the limit of \(maxSize) bytes")
            }
            if out.readableBytes > 0 { try output(out) }
            more = full || (input.readableBytes > 0 && !state.ended)
        }
    }
}

/// Deflates a data set as its pieces are written (PS3.5 §A.5, raw DEFLATE at zlib's default
/// level, as pydicom and DCMTK write it), handing the compressed bytes on as they come: memory
/// is zlib's state and one output piece. The zlib state is a reference: one owner at a time.
public struct StreamingDeflater: @unchecked Sendable {
    private final class State {
        let zlib: ZlibCompressor?
        init() { zlib = try? ZlibCompressor(algorithm: .deflate) }
    }

    private let state = State()
    public let chunkSize: Int

    public init(chunkSize: Int = 1 << 16) {
        self.chunkSize = chunkSize
    }

    /// Deflates `plain`; with `finish`, ends the stream. Calls `output` with each compressed piece.
    public func deflate(_ plain: ByteBuffer, finish: Bool, output: (ByteBuffer) -> Void) throws(DICOMDecodingError) {
        guard let zlib = state.zlib else {
            throw DICOMDecodingError(.unencodable, offset: 0, tag: nil, "zlib could not be initialised")
        }
        // zlib is given the readable bytes' address: an empty piece is given a buffer with storage.
        var input = plain.readableBytes > 0 ? plain : ByteBufferAllocator().buffer(capacity: 16)
        // Without `finish`, zlib takes the input and may keep some of it back; with it, it
        // writes everything and ends the stream (Z_STREAM_END: a normal return).
        repeat {
            var out = ByteBufferAllocator().buffer(capacity: chunkSize)
            var done = false
            do {
                try zlib.deflate(from: &input, to: &out, flush: finish ? .finish : .no)
                done = finish
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output piece is full: hand it on and go on.
            } catch {
                throw DICOMDecodingError(.unencodable, offset: 0, tag: nil, "deflate failed: \(error)")
            }
            if out.readableBytes > 0 { output(out) }
            if done { return }
        } while finish || input.readableBytes > 0
    }
}
