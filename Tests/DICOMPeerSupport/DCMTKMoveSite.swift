import DICOMCore
import Foundation
import NIOCore

/// What the C-MOVE tests share about their DCMTK site: dcmqrscp's configuration (one AE, DCMQRSCP, storing
/// in `storage`, with one Move Destination), DCMTK movescu asking it for one patient, a listening check that
/// sends no packet, and the Secondary Capture images stored there.
public enum DCMTKMoveSite {
    /// Writes dcmqrscp's configuration to `path`: it listens on `qrPort`, AE DCMQRSCP stores in `storage`, and
    /// the only Move Destination it knows is `destination` at 127.0.0.1:`storePort`.
    public static func writeConfiguration(to path: String, qrPort: Int, storage: String, destination: String, storePort: Int) throws {
        try """
        NetworkTCPPort  = \(qrPort)
        MaxPDUSize      = 16384
        MaxAssociations = 16

        HostTable BEGIN
        storescp = (\(destination), 127.0.0.1, \(storePort))
        HostTable END

        VendorTable BEGIN
        VendorTable END

        AETable BEGIN
        DCMQRSCP   \(storage)   RW   (10, 1024mb)   ANY
        AETable END

        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// DCMTK movescu: Patient Root C-MOVE of `patientID` to `destination`; `-d` prints every response's status,
    /// sub-operation counts and Error Comment. Waits for it to end.
    public static func movescu(_ port: Int, patientID: String, destination: String, name: String,
                               directory: TemporaryDirectory, timeout: Duration) async throws -> Subprocess {
        let p = try Subprocess(Peers.movescu, ["-d", "-aet", "MOVESCU", "-aec", "DCMQRSCP", "-aem", destination, "-P",
                                               "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=\(patientID)",
                                               "127.0.0.1", String(port)],
                               name: name, directory: directory)
        _ = try await p.wait(timeout: timeout)
        return p
    }

    /// A 2 x 2 Secondary Capture image of `patientID` as a Part 10 file (explicit VR little endian), in study
    /// `studyUID` (a new one when nil), numbered `number` when given.
    public static func secondaryCaptureFile(patientID: String, patientName: String, studyUID: String? = nil,
                                            number: Int? = nil) throws -> Data {
        let sopClass = "1.2.840.10008.5.1.4.1.1.7", instance = "2.25.\(UInt64.random(in: 1...UInt64.max))"
        let study = studyUID ?? instance + ".1"
        let ts = TransferSyntax.explicitVRLittleEndian
        var ds = Dataset()
        func text(_ tag: UInt32, _ vr: VR, _ value: String) {
            if let e = DataElement(tag: DICOMCore.Tag(tag), vr: vr, string: value) { ds.set(e) }
        }
        text(0x0008_0016, .UI, sopClass)
        text(0x0008_0018, .UI, instance)
        text(0x0008_0060, .CS, "OT")
        text(0x0010_0010, .PN, patientName)
        text(0x0010_0020, .LO, patientID)
        text(0x0020_000D, .UI, study)
        text(0x0020_000E, .UI, study + ".1")
        if let number { text(0x0020_0013, .IS, String(number + 1)) }
        text(0x0028_0004, .CS, "MONOCHROME2")
        for (tag, value) in [(0x0028_0002, 1), (0x0028_0010, 2), (0x0028_0011, 2), (0x0028_0100, 8), (0x0028_0101, 8),
                             (0x0028_0102, 7), (0x0028_0103, 0)] as [(UInt32, UInt16)] {
            ds.set(.integers(DICOMCore.Tag(tag), vr: .US, [value]))
        }
        ds.set(DataElement(tag: DICOMCore.Tag(0x7FE0_0010), vr: .OB,
                           value: .bytes(ByteBuffer(bytes: [0, 64, 128, UInt8(truncatingIfNeeded: number ?? 255)]))))

        var meta = Dataset()
        meta.set(DataElement(tag: DICOMCore.Tag(0x0002_0001), vr: .OB, value: .bytes(ByteBuffer(bytes: [0, 1]))))
        for (tag, value) in [(0x0002_0002, sopClass), (0x0002_0003, instance), (0x0002_0010, ts.uid),
                             (0x0002_0012, "1.2.826.0.1.3680043.10.1")] as [(UInt32, String)] {
            if let e = DataElement(tag: DICOMCore.Tag(tag), vr: .UI, string: value) { meta.set(e) }
        }
        let groupLength = try DatasetEncoder().encode(meta, encoding: .explicitLittleEndian).readableBytes
        meta.set(.integers(DICOMCore.Tag(0x0002_0000), vr: .UL, [UInt32(groupLength)]))
        let bytes = try DICOMFile(fileMetaInformation: meta, transferSyntax: ts, dataset: ds).encode()
        return Data(bytes.readableBytesView)
    }
}

/// Whether a socket listens on `port` (read from /proc/net/tcp: unlike `canConnect`, sends no packet a capture
/// would record). With `process`, its exit while we wait is an error naming it.
public func listens(_ port: Int, _ process: Subprocess? = nil) throws -> Bool {
    if let process, !process.process.isRunning { throw TimeoutError(what: "\(process.name) exited: \(process.stderr)") }
    let wanted = String(format: ":%04X", port)
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            if fields.count > 3, fields[1].hasSuffix(wanted), fields[3] == "0A" { return true }
        }
    }
    return false
}
