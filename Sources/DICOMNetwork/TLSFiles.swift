import DICOMCore
import Foundation
import NIOSSL

/// A certificate, key or CA file that cannot be used, in words a person can act on: the option and file,
/// what is wrong with it, what to do (`--tls-key server.key: holds a certificate, not a private key; give the
/// key file made with the certificate`). No library type names, no error numbers.
public struct TLSFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The command-line option that named the file (`--tls-cert`), or empty.
    public var option: String
    public var path: String
    public var problem: String
    public var advice: String?

    public init(option: String, path: String, problem: String, advice: String? = nil) {
        self.option = option
        self.path = path
        self.problem = problem
        self.advice = advice
    }

    public var description: String {
        (option.isEmpty ? path : "\(option) \(path)") + ": \(problem)" + (advice.map { "; \($0)" } ?? "")
    }
}

/// PEM files of certificates and keys (PS3.15 B.12 leaves the format to the site; PEM is what OpenSSL, DCMTK and
/// pynetdicom's `ssl` module read), loaded with checks that name the file and the fix.
public enum TLSFiles {
    /// The certificates of a PEM file (a chain, leaf first, or a CA bundle), with the option it came from.
    public static func certificates(_ path: String, option: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        let text = try pemText(path, option: option, what: "certificate")
        guard text.contains("-----BEGIN CERTIFICATE-----") else {
            if text.contains("PRIVATE KEY-----") {
                throw TLSFileError(option: option, path: path, problem: "holds a private key, not a certificate",
                                   advice: "give the certificate (-----BEGIN CERTIFICATE-----) here and the key to the key option")
            }
            throw TLSFileError(option: option, path: path, problem: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                               advice: "a DER certificate converts with: openssl x509 -inform der -in \(path) -out \(path).pem")
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMBytes(Array(text.utf8))
            guard !certificates.isEmpty else { throw TLSFileError(option: option, path: path, problem: "holds no certificate") }
            return certificates
        } catch let error as TLSFileError {
            throw error
        } catch {
            throw TLSFileError(option: option, path: path, problem: "a certificate in it is damaged and cannot be read",
                               advice: "check it with: openssl x509 -in \(path) -noout -text")
        }
    }

    /// The private key of a PEM file (PKCS#8, RSA or EC), unencrypted.
    public static func privateKey(_ path: String, option: String) throws(TLSFileError) -> NIOSSLPrivateKey {
        let text = try pemText(path, option: option, what: "private key")
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
            throw TLSFileError(option: option, path: path, problem: "the key is protected by a passphrase",
                               advice: "give an unencrypted copy (openssl pkey -in \(path) -out plain.key), readable only by this user")
        }
        guard text.contains("PRIVATE KEY-----") else {
            if text.contains("-----BEGIN CERTIFICATE-----") {
                throw TLSFileError(option: option, path: path, problem: "holds a certificate, not a private key",
                                   advice: "give the key file made with the certificate (-----BEGIN PRIVATE KEY-----)")
            }
            throw TLSFileError(option: option, path: path, problem: "holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
                               advice: "a DER key converts with: openssl pkey -inform der -in \(path) -out \(path).pem")
        }
        do {
            return try NIOSSLPrivateKey(bytes: Array(text.utf8), format: .pem)
        } catch {
            throw TLSFileError(option: option, path: path, problem: "the private key is damaged or of an unsupported kind",
                               advice: "check it with: openssl pkey -in \(path) -noout -check")
        }
    }

    private static func pemText(_ path: String, option: String, what: String) throws(TLSFileError) -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw TLSFileError(option: option, path: path, problem: "no such file", advice: "give the PEM \(what) file")
        }
        guard !isFolder.boolValue else {
            throw TLSFileError(option: option, path: path, problem: "a folder, not a file", advice: "give the PEM \(what) file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSFileError(option: option, path: path, problem: "cannot be read (permission denied?)",
                               advice: "make it readable by this user")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1), !data.isEmpty else {
            throw TLSFileError(option: option, path: path, problem: "is empty", advice: "give the PEM \(what) file")
        }
        return text
    }
}

extension NIOSSLCertificate {
    /// `CN=storescp,O=Hospital`: the subject as people read it (most significant part first as OpenSSL prints it).
    var subjectDescription: String { Self.describe(subjectName) }
    var issuerDescription: String { Self.describe(issuerName) }

    private static func describe(_ names: [SSLCertificateName]) -> String {
        let parts = names.map { name -> String in
            let key = switch name.type {
            case .commonName: "CN"
            case .organization: "O"
            case .organizationalUnit: "OU"
            case .country: "C"
            case .state: "ST"
            case .city: "L"
            case .emailAddress: "emailAddress"
            case .userId: "UID"
            default: "?"
            }
            return "\(key)=\(name.value)"
        }
        return parts.isEmpty ? "(no name)" : parts.joined(separator: ",")
    }
}

/// `2025-03-01 12:00:00 UTC`: a certificate date (seconds since 1970) as the messages say it.
func certificateDate(_ seconds: Int) -> String {
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let (year, month, day) = CivilCalendar.civil(fromDays: days)
    let second = seconds - days * 86_400
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(year)-\(two(month))-\(two(day)) \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60)) UTC"
}
