import DICOMInspect
import NIOCore

/// `--tls-keylog FILE`: the TLS session secrets of every leg in the NSS key log format (`CLIENT_RANDOM ...`,
/// `CLIENT_HANDSHAKE_TRAFFIC_SECRET ...`, one line each), which Wireshark reads to decrypt a capture of the
/// encrypted wire taken elsewhere. Whoever has the file can read those associations: it is 0600 (`PrivateFiles`),
/// appended to across runs, never written through a symbolic link.
package enum TLSKeyLog {
    /// Opens (or creates) the file; the returned callback appends one secret line, as the TLS library hands it.
    package static func open(_ path: String) throws -> @Sendable (ByteBuffer) -> Void {
        let file = try AppendOnlyFile(appendingTo: path)
        return { line in file.write(line) }
    }
}
