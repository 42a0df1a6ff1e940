import DICOMCore
import DICOMUL
import Foundation
import NIOCore
import NIOSSL

/// Why a TLS handshake failed, in words a person can act on, from what the library threw (BoringSSL's reason
/// names, NIOSSL's errors), the first byte the peer sent, and the peer's certificate when it sent one.
enum TLSFailureReason {
    /// First byte of every TLS record of a handshake (RFC 8446 §5.1: content type handshake or alert).
    private static let tlsRecordTypes: ClosedRange<UInt8> = 20...23

    static func explain(_ error: any Error, context tls: TLSContext, peerCertificate: NIOSSLCertificate?,
                        firstPeerByte: UInt8?, host: String?) -> String {
        let peerWord = tls.side == .server ? "client" : "server"
        // Plain DICOM where TLS was expected: an A-ASSOCIATE-RQ (0x01) at our TLS port, or a plain answer
        // (A-ASSOCIATE-RJ, A-ABORT...) to our ClientHello.
        if let first = firstPeerByte, !tlsRecordTypes.contains(first) {
            if tls.side == .server {
                return first == PDUType.associateRequest.rawValue
                    ? "peer speaks plain DICOM on a TLS port (it sent an A-ASSOCIATE-RQ, not a TLS handshake); "
                        + "configure it for TLS or connect it to the plain port"
                    : "peer does not speak TLS (its first byte is 0x\(hex2(first))); configure it for TLS or connect it to the plain port"
            }
            return (PDUType(rawValue: first) != nil
                ? "the server answered in plain DICOM: \(host.map { "\($0) at " } ?? "")this port is not a TLS port"
                : "the server does not speak TLS on this port (its first byte is 0x\(hex2(first)))")
                + "; connect to its TLS port or without TLS"
        }
        let names = reasonNames(error)
        func has(_ name: String) -> Bool { names.contains { $0.contains(name) } }

        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            let name = tls.serverName ?? host ?? "the host"
            return "server certificate is not for \(name) (its subject: \(peerCertificate?.subjectDescription ?? "?")); connect by a "
                + "name or address the certificate holds, or give \(tls.options.serverName) with one"
        }
        if has("CERTIFICATE_VERIFY_FAILED") {
            return unverifiedPeer(peerWord, peerCertificate, tls)
        }
        if has("PEER_DID_NOT_RETURN_A_CERTIFICATE") {
            return "client sent no certificate, and this port requires one (--tls-require-client-cert); give the client a "
                + "certificate signed by the CA in \(tls.options.ca)"
        }
        if has("CERTIFICATE_REQUIRED") {
            return "server requires a client certificate; give \(tls.options.certificate) and \(tls.options.key)"
        }
        if has("ALERT_CERTIFICATE_EXPIRED") {
            return "\(peerWord) refused our certificate as expired\(ownExpiry(tls)); renew \(tls.options.certificate)"
        }
        if has("ALERT_UNKNOWN_CA") || has("ALERT_BAD_CERTIFICATE") || has("ALERT_CERTIFICATE_UNKNOWN") {
            let ours = tls.ownCertificate.map { " (ours: \($0.subjectDescription) issued by \($0.issuerDescription))" } ?? ""
            return tls.ownCertificate == nil && tls.side == .client
                ? "server refused the connection without a client certificate; give \(tls.options.certificate) and \(tls.options.key)"
                : "\(peerWord) refused our certificate: not signed by a CA it trusts\(ours); give it our CA's certificate"
        }
        if has("NO_SHARED_CIPHER") || has("NO_CIPHERS_AVAILABLE") || has("ALERT_HANDSHAKE_FAILURE") || has("NO_COMMON_SIGNATURE") {
            return "no cipher suite in common: we speak PS3.15's \(TLSProfile.name) profile (TLS 1.3, or TLS 1.2 with ECDHE "
                + "and AES-GCM); configure the \(peerWord) for it (DCMTK: +tls with its default profile +py)"
        }
        if has("UNSUPPORTED_PROTOCOL") || has("ALERT_PROTOCOL_VERSION") || has("TLSV1_ALERT_INAPPROPRIATE_FALLBACK") {
            return "\(peerWord) offers only TLS versions below 1.2, which PS3.15's \(TLSProfile.name) profile forbids; "
                + "configure it for TLS 1.2 or 1.3"
        }
        if has("WRONG_VERSION_NUMBER") || has("HTTP_REQUEST") || has("UNEXPECTED_RECORD") {
            return "\(peerWord) does not speak TLS here; configure it for TLS or use the plain port"
        }
        if reasonError(error) == BoringSSLInternalError.eofDuringHandshake { return closedEarly(peerWord) }
        if error is ChannelError || (error as? BoringSSLError) == .syscallError || error is IOError {
            return closedEarly(peerWord)
        }
        return "\(names.first.map { "the TLS library said \($0)" } ?? "\(error)")"
    }

    private static func closedEarly(_ peerWord: String) -> String {
        "\(peerWord) closed the connection during the TLS handshake (it may have refused our certificate, or it speaks "
            + "plain DICOM)"
    }

    /// A peer certificate the library could not verify: expired, not yet valid, or from another CA.
    private static func unverifiedPeer(_ peerWord: String, _ certificate: NIOSSLCertificate?, _ tls: TLSContext) -> String {
        guard let certificate else {
            return "\(peerWord) certificate could not be verified against \(tls.caPath != nil ? "the CA in \(tls.options.ca)" : "this system's CAs")"
        }
        let now = Int(time(nil))
        let expiry = Int(certificate.notValidAfter)
        if expiry < now {
            return "\(peerWord) certificate expired on \(certificateDate(expiry)) (\(certificate.subjectDescription)); "
                + "the \(peerWord) must renew it"
        }
        let start = Int(certificate.notValidBefore)
        if start > now {
            return "\(peerWord) certificate is not valid before \(certificateDate(start)) (\(certificate.subjectDescription)); "
                + "check the clocks of both machines"
        }
        let issuer = certificate.issuerDescription
        guard tls.caPath != nil else {
            return "\(peerWord) certificate not signed by a CA this system trusts (issued by \(issuer)); give that CA's "
                + "certificate with \(tls.options.ca)"
        }
        if !tls.trustedCASubjects.contains(issuer) {
            return "\(peerWord) certificate not signed by the CA in \(tls.options.ca) (issued by \(issuer); \(tls.options.ca) holds "
                + "\(tls.trustedCASubjects.joined(separator: "; ")))"
        }
        return "\(peerWord) certificate (\(certificate.subjectDescription)) names the CA in \(tls.options.ca) as issuer but does "
            + "not verify against it (another key of the same name, or an unusable certificate)"
    }

    private static func ownExpiry(_ tls: TLSContext) -> String {
        tls.ownCertificate.map { " (\(tls.options.certificate) expires \(certificateDate(Int($0.notValidAfter))))" } ?? ""
    }

    private static func reasonError(_ error: any Error) -> BoringSSLInternalError? {
        guard case .handshakeFailed(.sslError(let stack))? = error as? NIOSSLError else { return nil }
        return stack.first
    }

    /// BoringSSL's reason names (`CERTIFICATE_VERIFY_FAILED`, `TLSV1_ALERT_UNKNOWN_CA`) in a handshake error.
    static func reasonNames(_ error: any Error) -> [String] {
        let stack: [BoringSSLInternalError]
        switch error {
        case NIOSSLError.handshakeFailed(.sslError(let errors)), NIOSSLError.handshakeFailed(.unknownError(let errors)):
            stack = errors
        case BoringSSLError.sslError(let errors), BoringSSLError.unknownError(let errors):
            stack = errors
        default:
            return []
        }
        // "Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at file:line"
        return stack.map { entry in
            let text = entry.description
            let beforeFile = text.components(separatedBy: " at ").first ?? text
            return beforeFile.components(separatedBy: ":").last ?? beforeFile
        }
    }
}
