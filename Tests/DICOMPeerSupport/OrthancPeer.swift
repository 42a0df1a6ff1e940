import Foundation

/// Orthanc 1.10 on free ports (DICOM AE ORTHANC, HTTP without authentication on loopback), its database in
/// `dir`, every DICOM peer allowed to store, find, move, get and echo (a test archive); returns once it answers a
/// DCMTK C-ECHO. Stop it with the returned subprocess.
public func startOrthanc(_ dir: TemporaryDirectory) async throws -> (Subprocess, dicom: Int, http: Int) {
    let dicom = try freePort()
    let http = try freePort()
    let configuration: [String: Any] = [
        "Name": "dicomtap-test", "StorageDirectory": dir.file("orthanc-db"), "IndexDirectory": dir.file("orthanc-db"),
        "DicomAet": "ORTHANC", "DicomPort": dicom, "HttpPort": http, "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false, "DicomCheckCalledAet": false, "DicomAlwaysAllowStore": true,
        "DicomAlwaysAllowFind": true, "DicomAlwaysAllowMove": true, "DicomAlwaysAllowGet": true,
        "DicomAlwaysAllowEcho": true, "Plugins": [], "StableAge": 1, "ConcurrentJobs": 1, "HttpThreadsCount": 4,
    ]
    let path = dir.file("orthanc.json")
    try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: path))
    let orthanc = try Subprocess(Peers.orthanc ?? "/usr/sbin/Orthanc", [path], name: "orthanc", directory: dir)
    let echo = Peers.echoscu
    try await eventually("Orthanc answering C-ECHO on port \(dicom)", timeout: .seconds(60)) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: echo)
        p.arguments = ["-aec", "ORTHANC", "127.0.0.1", String(dicom)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
    return (orthanc, dicom, http)
}
