import DICOMInspect
import class DICOMNetwork.TLSContext
import DICOMMetrics
import DICOMRewrite
import DICOMUL
import NIOCore

/// A TCP endpoint given as `HOST:PORT` (`[v6-address]:PORT` for IPv6 literals).
package struct ProxyEndpoint: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int
    /// The upstream speaks DICOM over TLS (PS3.15 B.12): `tls://HOST:PORT`; the proxy's upstream TLS settings apply.
    package var tls: Bool

    package init(host: String, port: Int, tls: Bool = false) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or, when `defaultHost` is given, a bare `PORT`; `tls://` before any of them
    /// marks a TLS upstream.
    package init?(parsing given: String, defaultHost: String? = nil) {
        let tls = given.hasPrefix("tls://")
        let text = tls ? String(given.dropFirst("tls://".count)) : given
        self.tls = tls
        var host: Substring
        var portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // A bare IPv6 address has more than one colon: it needs brackets.
            guard !host.contains(":") else { return nil }
        } else if let defaultHost {
            host = Substring(defaultHost)
            portText = Substring(text)
        } else {
            return nil
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    package var description: String { (tls ? "tls://" : "") + (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)") }
}

/// Which upstream (SCP) an association goes to, chosen by the called AE title of its
/// A-ASSOCIATE-RQ (PS3.8 §9.3.2, Table 9-11), with a default for every other title.
package struct RoutingTable: Sendable, Hashable {
    /// Called AE title (leading and trailing spaces are not significant, PS3.5 §6.2) → upstream.
    package var routes: [String: ProxyEndpoint]
    package var defaultUpstream: ProxyEndpoint?

    package init(routes: [String: ProxyEndpoint] = [:], defaultUpstream: ProxyEndpoint? = nil) {
        self.routes = [:]
        for (title, endpoint) in routes { self.routes[Self.normalized(title)] = endpoint }
        self.defaultUpstream = defaultUpstream
    }

    /// The upstream for an association to `calledAETitle`, `nil` when there is no route and no default.
    package func upstream(forCalledAETitle calledAETitle: String) -> ProxyEndpoint? {
        routes[Self.normalized(calledAETitle)] ?? defaultUpstream
    }

    static func normalized(_ title: String) -> String {
        title.trimmingCharacters(in: " ")
    }
}

/// Everything `DICOMProxyServer` needs to know.
package struct ProxyConfiguration: Sendable {
    /// Where the proxy listens for SCUs speaking plain DICOM (port 0: chosen by the system); nil: only `tlsListen`.
    package var listen: ProxyEndpoint?
    /// Where the proxy listens for SCUs speaking DICOM over TLS (PS3.15 B.12), with `listenTLS`; a TLS port is never
    /// also a plain one.
    package var tlsListen: ProxyEndpoint?
    /// Our certificate and the CA of accepted client certificates, for `tlsListen`.
    package var listenTLS: TLSContext?
    /// Whom the proxy trusts and which certificate it shows towards TLS upstreams (`tls://` routes, `--upstream-tls`).
    package var upstreamTLS: TLSContext?
    package var routing: RoutingTable
    /// Calling AE titles (and the addresses they may come from) the proxy relays; others get
    /// A-ASSOCIATE-RJ 1/1/3 and a `calling-ae-not-allowed` finding. nil: any.
    package var allowList: CallingAEAllowList?
    /// How long to wait for the upstream: for the TCP connection and then for its answer to the
    /// A-ASSOCIATE-RQ. When it runs out the SCU gets an A-ASSOCIATE-RJ (rejected-transient,
    /// service-provider presentation, temporary-congestion).
    package var connectTimeout: Duration = .seconds(5)
    /// An association with no PDU in either direction for this long is aborted.
    package var idleTimeout: Duration = .seconds(300)
    /// On shutdown, how long open associations may take to finish before they are aborted.
    package var gracePeriod: Duration = .seconds(10)
    /// ARTIM (PS3.8 §9.1.5): a connection that has sent no complete A-ASSOCIATE-RQ this long after it was
    /// accepted is closed.
    package var artimTimeout: Duration = .seconds(30)
    /// Connections relayed at once (nil: no limit). Past it, the oldest connection still waiting for its
    /// A-ASSOCIATE-RQ is closed to make room; when every one holds an association, the new one's A-ASSOCIATE-RQ
    /// gets A-ASSOCIATE-RJ 2/3/2 (local-limit-exceeded). See `AssociationRegistry`.
    package var maxAssociations: Int?
    /// With rewriting on, the smallest Maximum Length (PS3.8 Table D.3-1) a peer may advertise: an SCU's
    /// A-ASSOCIATE-RQ below it gets A-ASSOCIATE-RJ 1/1/1, an SCP's A-ASSOCIATE-AC below it ends the association
    /// (RJ 1/1/1 to the SCU, A-ABORT to the SCP), rather than cutting messages into thousands of tiny PDUs.
    /// 0: no minimum (below 8, which leaves no room for an even fragment, is refused all the same). Without
    /// rewriting the PDUs pass as the peers made them and this is not checked.
    package var minimumMaximumPDULength: UInt32 = 4096
    /// Largest PDU (PDU-length field) relayed; a longer one is a malformed PDU (both peers get A-ABORT).
    package var maximumPDULength: Int = PDUFrameDecoder.defaultMaximumPDULength
    /// One annotated text file per association and `events.jsonl` go here (nil: no files).
    package var logDirectory: String?
    /// One pcap per association goes here (nil: no recording): the SCU leg, or with rewriting
    /// on the upstream (SCP) leg, which carries no original identifier.
    package var recordDirectory: String?
    /// Identifier rewriting (nil: every PDU is relayed byte for byte). With a rewriter, P-DATA
    /// is assembled into messages, rewritten and fragmented again for the receiving peer, and
    /// the logs, events and recordings show what went on the wire towards the SCP.
    package var rewriter: Rewriter?
    /// With rewriting on: also write the original identifiers (rewritten values and what they
    /// were) to the console and text logs, and the SCU's bytes in the hex dumps of a PDU that
    /// cannot be framed or decoded. Off by default: logs show only the SCP side, and errors
    /// about the SCU's stream only offsets and lengths.
    package var logOriginals = false
    /// Keep patient identifiers off the console: exchange lines leave out the Patient ID and
    /// data sets are not dumped there (`--redact-identifiers`; the text logs and events keep them).
    package var redactIdentifiers = false
    /// Write User Identity credentials (PS3.7 D.3.3.7: a passcode, Kerberos ticket, SAML
    /// assertion or JSON Web Token, and the SCP's server response) to recordings and hex dumps
    /// as they are. Off by default: they are zeros of the same length there, in every mode (the
    /// peers always get the real ones; the text logs never show them).
    package var recordSecrets = false
    /// Rendering of the per-association text files.
    package var textLogOptions = AnnotatedDumpRenderer.Options(allDataSets: false, showDataPDUs: true)
    /// Decoding options of the association observers.
    package var observer = AssociationObserver.Configuration()
    /// Called with every byte buffer read from and written to each peer (tests and taps).
    package var tap: (@Sendable (TapEvent) -> Void)?

    /// What `--metrics-listen` serves: every association's observations, refusals, upstream failures and rewrites
    /// are counted here (nil: nothing is counted).
    package var metrics: DICOMMetrics?

    package init(listen: ProxyEndpoint?, routing: RoutingTable) {
        self.listen = listen
        self.routing = routing
    }
}

/// Bytes seen on one of the two connections of an association.
package struct TapEvent: Sendable {
    package enum Direction: Sendable, Hashable {
        /// Read from the peer in `role`.
        case read
        /// Written to the peer in `role` (reported when the write completed).
        case written
    }

    package var associationID: String
    package var role: PeerRole
    package var direction: Direction
    package var bytes: ByteBuffer
}
