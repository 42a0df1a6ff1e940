import DICOMCore
import CPcap
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One packet record of a capture file, as libpcap returned it.
public struct CapturedPacket: Sendable {
    /// 1-based packet number, as Wireshark shows it.
    public var index: Int
    /// Nanoseconds since the Unix epoch (libpcap scales microsecond files up).
    public var timestampNanoseconds: Int64
    /// The file's link-layer type as libpcap reports it (`pcap_datalink`, a DLT_ value).
    public var linkType: Int32
    /// Bytes present in the file (`data.readableBytes`).
    public var capturedLength: Int
    /// Bytes the packet had on the wire (larger than `capturedLength` when the snapshot length cut it).
    public var originalLength: Int
    /// The captured bytes, starting with the link-layer header.
    public var data: ByteBuffer

    public init(index: Int, timestampNanoseconds: Int64, linkType: Int32, originalLength: Int, data: ByteBuffer) {
        self.index = index
        self.timestampNanoseconds = timestampNanoseconds
        self.linkType = linkType
        self.capturedLength = data.readableBytes
        self.originalLength = originalLength
        self.data = data
    }
}

/// Reads a pcap or pcapng file through libpcap, one packet at a time: the file is never
/// loaded, only the current record is in memory (libpcap's buffer) and each packet's bytes
/// are copied once into a `ByteBuffer` (the previous packet's storage when nothing kept it).
///
/// ```swift
/// let reader = try CaptureReader(path: "dicom.pcapng")
/// do {
///     while let packet = try reader.next() { ... }
/// } catch let error where error.code == .truncated {
///     print("warning: capture cut after packet \(error.packetIndex)")
/// }
/// ```
///
/// How libpcap reports a cut file (libpcap 1.10):
/// - pcap: a cut inside a record header or inside a packet's bytes makes `pcap_next_ex` fail
///   with "truncated dump file; tried to read N captured bytes, only got M" after the packets
///   before it; a cut exactly between two records is indistinguishable from the end of the file.
/// - pcapng: a cut inside any block fails with "truncated pcapng dump file; tried to read N
///   bytes, only got M" — also when the cut block is not a packet (dumpcap writes an Interface
///   Statistics Block after the last packet, so a pcapng cut after its last packet is still
///   reported). A cut inside the first blocks (section header, interface description) makes
///   opening fail with the same text: reported as `truncated` with packet 0.
/// After reporting a cut, libpcap returns end-of-file; so does this reader.
///
/// A final class that owns the `pcap_t` and closes it in `deinit`; not `Sendable` (use it
/// from one task).
public final class CaptureReader {
    public let path: String
    /// The link-layer type of the file (`pcap_datalink`): e.g. 1 Ethernet, 113 Linux SLL,
    /// 276 Linux SLL2, 0 BSD NULL, 108 LOOP, 12 raw IP (files' LINKTYPE_RAW 101), 228, 229.
    public let linkType: Int32
    /// The snapshot length recorded in the file (`pcap_snapshot`).
    public let snapshotLength: Int
    /// Packets returned so far; the next one gets `packetsRead + 1`.
    // `@exclusivity(unchecked)`: the reader is used from one task (not `Sendable`), and the
    // dynamic exclusivity checks of class properties cost more per packet than reading it.
    @exclusivity(unchecked) public private(set) var packetsRead = 0
    /// Set once `next()` has returned `nil` or thrown.
    @exclusivity(unchecked) public private(set) var isFinished = false
    /// The error that ended reading, if any (kept for callers that only look after the loop).
    @exclusivity(unchecked) public private(set) var endError: CaptureError?

    private let pcap: OpaquePointer
    /// The bytes of the packet last returned. Reused for the next packet when nothing holds on to
    /// them any more (`clear` keeps the storage when it is uniquely referenced): packets whose
    /// bytes nobody keeps, such as pure ACKs, then cost no allocation; a packet whose payload is
    /// kept gets storage of its own size (storage more than 4 times a packet's size, and over
    /// 4 KiB, is not reused for it).
    @exclusivity(unchecked) private var scratch = ByteBufferAllocator().buffer(capacity: 2048)

    /// Opens a capture file (pcap or pcapng, any byte order, micro- or nanosecond timestamps).
    public init(path: String) throws(CaptureError) {
        self.path = path
        // Tell "cannot open" from "not a capture" with the system's own message.
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            throw CaptureError(.cannotOpen, packetIndex: 0, systemErrorWords(errno), path: path)
        }
        var status = stat()
        let statResult = fstat(fd, &status)
        close(fd)
        if statResult == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
            throw CaptureError(.cannotOpen, packetIndex: 0, "is a directory", path: path)
        }

        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), buffer.baseAddress)
        }
        guard let pointer = opened else {
            let message = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let code: CaptureError.Code = message.contains("truncated") ? .truncated : .notACapture
            throw CaptureError(code, packetIndex: 0, message, path: path)
        }
        self.pcap = pointer
        self.linkType = pcap_datalink(pointer)
        self.snapshotLength = Int(pcap_snapshot(pointer))
    }

    deinit {
        pcap_close(pcap)
    }

    /// The next packet, `nil` at the end of the file. Throws once if the file is cut or
    /// damaged (after every packet before the damage), then returns `nil`.
    public func next() throws(CaptureError) -> CapturedPacket? {
        if isFinished { return nil }
        var header: UnsafeMutablePointer<pcap_pkthdr>? = nil
        var bytes: UnsafePointer<UInt8>? = nil
        var result = pcap_next_ex(pcap, &header, &bytes)
        while result == 0 { // a live capture's timeout; never for a file
            result = pcap_next_ex(pcap, &header, &bytes)
        }
        switch result {
        case 1:
            guard let header, let bytes else {
                return try fail(.corrupt, "libpcap returned a packet without data")
            }
            packetsRead += 1
            let capturedLength = Int(header.pointee.caplen)
            if scratch.storageCapacity > max(4096, 4 * capturedLength) {
                // After a large packet: a small one that is kept must not pin the large storage.
                scratch = ByteBufferAllocator().buffer(capacity: capturedLength)
            } else {
                scratch.clear(minimumCapacity: capturedLength)
            }
            scratch.writeBytes(UnsafeRawBufferPointer(start: bytes, count: capturedLength))
            let data = scratch
            // With PCAP_TSTAMP_PRECISION_NANO libpcap puts nanoseconds in tv_usec.
            let seconds = Int64(header.pointee.ts.tv_sec)
            let fraction = Int64(header.pointee.ts.tv_usec)
            let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            let timestamp = overflow ? (seconds < 0 ? Int64.min : Int64.max) : scaled &+ fraction
            return CapturedPacket(index: packetsRead, timestampNanoseconds: timestamp, linkType: linkType,
                                  originalLength: max(Int(header.pointee.len), capturedLength), data: data)
        case PCAP_ERROR_BREAK: // -2: end of file
            isFinished = true
            return nil
        default: // PCAP_ERROR: a cut or damaged file
            let message = pcap_geterr(pcap).map { String(cString: $0) } ?? "unknown libpcap error"
            return try fail(message.contains("truncated") ? .truncated : .corrupt, message)
        }
    }

    private func fail(_ code: CaptureError.Code, _ message: String) throws(CaptureError) -> CapturedPacket? {
        isFinished = true
        let error = CaptureError(code, packetIndex: packetsRead, message, path: path)
        endError = error
        throw error
    }
}

extension CaptureError {
    /// For a pcap file that ends inside its last packet record (a recorder killed mid-write: `dicomtap proxy
    /// --record` after a kill -9, a crashed tcpdump): the bytes of that record present and the bytes it needed,
    /// from libpcap's text ("truncated dump file; tried to read N captured bytes, only got M", or "N header
    /// bytes" for a cut inside the 16-byte record header). nil for any other error (pcapng, a damaged record).
    public var cutShortRecord: (present: Int, needed: Int)? {
        guard code == .truncated, message.hasPrefix("truncated dump file; tried to read ") else { return nil }
        let numbers = message.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count == 2 else { return nil }
        return (numbers[1], numbers[0])
    }

    /// What a reader tells its user about a capture that ends early: a last packet record cut short is left
    /// out, with why ("the file was not closed cleanly"); any other cut or damage keeps libpcap's words, and
    /// everything before it is reported.
    public var endWarning: String {
        if let cut = cutShortRecord {
            return "the last packet record is cut short (\(cut.present) of \(cut.needed) bytes): the file was not closed "
                + "cleanly; it is left out"
        }
        return "\(message); everything up to the cut is reported"
    }
}
