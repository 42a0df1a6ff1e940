import class DICOMNetwork.TLSContext
import NIOConcurrencyHelpers

/// The proxy's TLS sides as new connections take them: the listening side (`--tls-listen`) and the upstream side
/// (`--upstream-tls`, `tls://` routes). Replaced whole on reload; a connection reads them once, when it starts, so
/// an open association keeps the session it has.
final class TLSContexts: Sendable {
    private let box: NIOLockedValueBox<(listen: TLSContext?, upstream: TLSContext?)>

    init(listen: TLSContext?, upstream: TLSContext?) {
        box = NIOLockedValueBox((listen, upstream))
    }

    var current: (listen: TLSContext?, upstream: TLSContext?) { box.withLockedValue { $0 } }

    func replace(listen: TLSContext?, upstream: TLSContext?) {
        box.withLockedValue { sides in
            if let listen { sides.listen = listen }
            if let upstream { sides.upstream = upstream }
        }
    }
}
