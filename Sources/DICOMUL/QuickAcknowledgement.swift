#if canImport(Glibc)
import Glibc
#endif
import NIOCore

extension Channel {
    /// Asks the kernel to acknowledge what this connection receives at once rather than delay the
    /// ACK (Linux `TCP_QUICKACK`; the kernel falls back to delayed ACKs by itself, so it is set
    /// again after every read). A peer that sends a PDU in two writes with Nagle's algorithm on
    /// (pynetdicom, DCMTK) otherwise waits for the delayed ACK, about 40 ms, before its second
    /// write: every DIMSE exchange pays it. Elsewhere it does nothing.
    package func acknowledgeQuickly() {
        #if os(Linux)
        try? syncOptions?.setOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_QUICKACK))), value: 1)
        #endif
    }
}
