import DICOMNetwork
import Foundation

/// `demo --tls`: a throwaway CA and certificates for the SCP, the proxy and the SCU, made by the `openssl` command
/// in a new temporary folder (removed when the demo stops). For a demonstration only: real sites have their own CA.
struct DemoCertificates: Sendable {
    let folder: String

    /// A problem making them, in words.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let openssl = "/usr/bin/openssl"

    static func make() throws -> DemoCertificates {
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw Failure(description: "demo --tls makes its throwaway certificates with \(openssl), which is missing; "
                + "install it (Debian package openssl) or run the demo without --tls")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dicomtap-demo-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let made = DemoCertificates(folder: folder)
        do {
            try made.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", made.key("ca"), "-out", made.certificate("ca"),
                          "-days", "1", "-subj", "/CN=DICOMTap demo CA"])
            for name in ["serve", "proxy", "scu"] {
                try made.signed(name)
            }
        } catch {
            made.remove()
            throw error
        }
        return made
    }

    func certificate(_ name: String) -> String { "\(folder)/\(name).crt" }
    func key(_ name: String) -> String { "\(folder)/\(name).key" }

    /// The listening side of `name` (its certificate; clients must show one of the demo CA).
    func server(_ name: String) throws -> TLSContext {
        try TLSContext.server(TLSServerSettings(certificatePath: certificate(name), keyPath: key(name), caPath: certificate("ca"),
                                                requireClientCertificate: true))
    }

    /// The connecting side of `name` (trusting only the demo CA).
    func client(_ name: String) throws -> TLSContext {
        try TLSContext.client(TLSClientSettings(caPath: certificate("ca"), certificatePath: certificate(name), keyPath: key(name)))
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }

    private func signed(_ name: String) throws {
        let request = "\(folder)/\(name).csr"
        let extensions = "\(folder)/\(name).ext"
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8).write(to: URL(fileURLWithPath: extensions))
        try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key(name), "-out", request, "-subj", "/CN=demo \(name)"])
        try run(["x509", "-req", "-in", request, "-CA", certificate("ca"), "-CAkey", key("ca"), "-CAcreateserial",
                 "-out", certificate(name), "-days", "1", "-extfile", extensions])
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.openssl)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl \(arguments.first ?? "") could not make the demo's certificates in \(folder): "
                + text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
