import DICOMCore
import DICOMInspect
import struct DICOMNetwork.TLSSessionInfo

extension AssociationEventFormat {
    /// `{"type": "tls", "leg": "requestor", "version": "TLS 1.3", "cipherSuite": ..., "peerSubject": ..., "peerIssuer": ...}`:
    /// the TLS session of one leg (requestor: the SCU's connection to us; acceptor: ours to the SCP).
    func tls(_ session: TLSSessionInfo, leg: PeerRole, time: Timestamp) -> JSONValue {
        object(type: "tls", time: time, [
            ("leg", .string(leg.rawValue)),
            ("version", .string(session.version)),
            ("cipherSuite", .string(session.cipherSuite)),
            ("peerSubject", session.peerSubject.map(JSONValue.string) ?? .null),
            ("peerIssuer", session.peerIssuer.map(JSONValue.string) ?? .null),
        ])
    }

    /// `{"type": "tls-handshake-failed", "leg": ..., "peer": "SCU 10.0.0.5:40112", "reason": "client certificate not ..."}`.
    func tlsFailure(_ reason: String, leg: PeerRole, peer: String, time: Timestamp) -> JSONValue {
        object(type: "tls-handshake-failed", time: time, [
            ("leg", .string(leg.rawValue)),
            ("peer", .string(peer)),
            ("reason", .string(reason)),
        ])
    }
}
