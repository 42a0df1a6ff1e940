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
    let deadline = ContinuousClock.now + .seconds(60)
    while try await runProgram(echo, ["-aec", "ORTHANC", "127.0.0.1", String(dicom)]).status != 0 {
        guard orthanc.process.isRunning else { throw TimeoutError(what: "Orthanc exited: \(orthanc.stderr)") }
        guard ContinuousClock.now < deadline else { throw TimeoutError(what: "Orthanc answering C-ECHO on port \(dicom)") }
        try await Task.sleep(for: .milliseconds(100))
    }
    return (orthanc, dicom, http)
}
