import Foundation

/// Certificates for the TLS tests, made by `openssl` in a temporary folder at test time (no key is ever
/// committed): a CA, a server certificate for 127.0.0.1 and localhost, one for the name localhost only
/// (`named-server`) and a client certificate signed by it;
/// another CA with a client certificate of its own; a server certificate of the CA that expired in 2020.
/// Each `name` gives `name.crt` and `name.key` in `directory`.
public struct TestCertificates: Sendable {
    public let directory: String

    public func certificate(_ name: String) -> String { "\(directory)/\(name).crt" }
    public func key(_ name: String) -> String { "\(directory)/\(name).key" }
    public var ca: String { certificate("ca") }
    public var otherCA: String { certificate("other-ca") }

    /// Makes them all in `directory` (about a second of RSA key generation, on a thread of its own: see `offThePool`).
    public static func make(in directory: String) async throws -> TestCertificates {
        try await offThePool { try makeNow(in: directory) }
    }

    private static func makeNow(in directory: String) throws -> TestCertificates {
        let made = TestCertificates(directory: directory)
        try made.selfSigned("ca", subject: "/CN=DICOMTap Test CA/O=DICOMTap tests")
        try made.selfSigned("other-ca", subject: "/CN=Other Test CA/O=Elsewhere")
        try made.signed("server", by: "ca", subject: "/CN=localhost/O=DICOMTap tests",
                        extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost")
        try made.signed("named-server", by: "ca", subject: "/CN=localhost/O=DICOMTap tests", extensions: "subjectAltName=DNS:localhost")
        try made.signed("client", by: "ca", subject: "/CN=modality/O=DICOMTap tests")
        try made.signed("stranger", by: "other-ca", subject: "/CN=stranger/O=Elsewhere")
        try made.expired("expired-server", by: "ca", subject: "/CN=expired/O=DICOMTap tests",
                         extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost")
        return made
    }

    private func selfSigned(_ name: String, subject: String) throws {
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key(name), "-out", certificate(name),
                     "-days", "2", "-subj", subject])
    }

    private func request(_ name: String, subject: String, extensions: String?) throws -> String {
        let csr = "\(directory)/\(name).csr"
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key(name), "-out", csr, "-subj", subject]
            + (extensions.map { ["-addext", $0] } ?? []))
        return csr
    }

    private func signed(_ name: String, by ca: String, subject: String, extensions: String? = nil) throws {
        let csr = try request(name, subject: subject, extensions: nil)
        var arguments = ["x509", "-req", "-in", csr, "-CA", certificate(ca), "-CAkey", key(ca), "-CAcreateserial",
                         "-out", certificate(name), "-days", "2"]
        if let extensions {
            let file = "\(directory)/\(name).ext"
            try Data((extensions + "\n").utf8).write(to: URL(fileURLWithPath: file))
            arguments += ["-extfile", file]
        }
        try openssl(arguments)
    }

    /// `openssl x509 -req` cannot date a certificate in the past; `openssl ca` can (-startdate/-enddate).
    private func expired(_ name: String, by ca: String, subject: String, extensions: String) throws {
        let csr = try request(name, subject: subject, extensions: extensions)
        let folder = "\(directory)/ca-db"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(folder)/index.txt", contents: Data())
        try Data("01\n".utf8).write(to: URL(fileURLWithPath: "\(folder)/serial"))
        let configuration = """
            [ca]
            default_ca = test
            [test]
            database = \(folder)/index.txt
            new_certs_dir = \(folder)
            serial = \(folder)/serial
            default_md = sha256
            policy = anything
            copy_extensions = copy
            unique_subject = no
            [anything]
            commonName = supplied
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: "\(folder)/ca.cnf"))
        try openssl(["ca", "-config", "\(folder)/ca.cnf", "-batch", "-notext", "-cert", certificate(ca), "-keyfile", key(ca),
                     "-in", csr, "-out", certificate(name), "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TimeoutError(what: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(text)")
        }
    }
}
