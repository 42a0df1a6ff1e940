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
