import DICOMInspect
import struct DICOMNetwork.SocketFailure
import class DICOMNetwork.TLSContext
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A transparent DICOM proxy: SCUs connect to it, and each association is relayed byte for
/// byte to the upstream SCP chosen by the called AE title of its A-ASSOCIATE-RQ, while an
/// `AssociationObserver` decodes it on the side for the console, the log files and the
/// recordings. The proxy never terminates an association; it only speaks to refuse one
/// (A-ASSOCIATE-RJ) or to end a broken one (A-ABORT).
///
/// Every association lives on the event loop of its SCU connection, where its upstream
/// connection is opened too.
package final class DICOMProxyServer: Sendable {
    /// The settings new associations take (`reload` replaces them; open associations keep the ones they started with).
    package var configuration: ProxyConfiguration { shared.withLockedValue { $0.configuration } }
    private let group: any EventLoopGroup
    /// The group the server made itself (and shuts down in `shutdown`), if any.
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let logger: Logger
    /// What a new association takes when it starts (read once, in the channel initializer).
    private let shared: NIOLockedValueBox<ProxyShared>
    private let registry: AssociationRegistry

    /// Prepares the proxy (creates the log and record directories and opens `events.jsonl`, see
    /// `PrivateFiles`: it throws, in words, for a folder or file it cannot or will not write).
    /// `logger` receives the console lines: association start and end and each completed
    /// exchange at `info`, every PDU and message at `debug`, data sets at `trace`; each message
    /// about an association carries `dicom.association_id`.
    package convenience init(configuration: ProxyConfiguration, group: any EventLoopGroup, logger: Logger) throws {
        try self.init(configuration: configuration, group: group, ownedGroup: nil, logger: logger)
    }

    /// A proxy on an event loop group of its own with `threads` threads (default: one per
    /// core), shut down with the proxy.
    package convenience init(configuration: ProxyConfiguration, threads: Int? = nil, logger: Logger) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads ?? System.coreCount)
        do {
            try self.init(configuration: configuration, group: group, ownedGroup: group, logger: logger)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    private init(configuration: ProxyConfiguration, group: any EventLoopGroup, ownedGroup: MultiThreadedEventLoopGroup?,
                 logger: Logger) throws {
        self.group = group
        self.ownedGroup = ownedGroup
        self.logger = logger
        var events: AppendOnlyFile?
        var pages: HTMLLogPages?
        if let directory = configuration.logDirectory {
            try PrivateFiles.makeDirectory(directory)
            events = try AppendOnlyFile(appendingTo: directory + "/events.jsonl") { problem in
                logger.info("the events are incomplete: \(problem)")
            }
            pages = HTMLLogPages(directory: directory, tool: "dicomtap proxy",
                                 redactsIdentifiers: configuration.redactIdentifiers) { problem in logger.info("\(problem)") }
        }
        if let directory = configuration.recordDirectory {
            try PrivateFiles.makeDirectory(directory)
        }
        shared = NIOLockedValueBox(ProxyShared(configuration: configuration, events: events, pages: pages, logger: logger,
                                               tls: TLSContexts(listen: configuration.listenTLS, upstream: configuration.upstreamTLS)))
        registry = AssociationRegistry(eventLoop: group.next(), limit: configuration.maxAssociations)
    }

    /// Binds the listening socket and starts accepting; returns the address bound (with the
    /// port the system chose when the configured port is 0). Throws `SocketFailure` when it
    /// cannot listen there. With a plain and a TLS listener, the plain one's address (see `startListeners`).
    @discardableResult
    package func start() async throws -> SocketAddress {
        let bound = try await startListeners()
        guard let first = bound.first(where: { !$0.tls }) ?? bound.first else { throw ChannelError.inappropriateOperationForState }
        return first.address
    }

    /// Binds `listen` (plain DICOM) and `tlsListen` (DICOM over TLS), those configured, and starts accepting on
    /// both; returns each address bound.
    package func startListeners() async throws -> [(address: SocketAddress, tls: Bool)] {
        var bound: [(address: SocketAddress, tls: Bool)] = []
        if let listen = configuration.listen {
            bound.append((try await bind(listen, tls: false), false))
        }
        if let listen = configuration.tlsListen, configuration.listenTLS != nil {
            bound.append((try await bind(listen, tls: true), true))
        }
        return bound
    }

    /// Replaces the certificates, keys and CAs of new TLS connections (SIGHUP: certificates expire, the proxy runs
    /// on); associations already open keep the TLS session they have. A side given as nil is left as it is.
    package func reloadTLS(listen: TLSContext?, upstream: TLSContext?) {
        shared.withLockedValue { $0.tls }.replace(listen: listen, upstream: upstream)
    }

    /// Replaces the settings of new associations (SIGHUP with `--config`): routes, allow-list, timeouts, limits,
    /// rewriting, console and recording options, TLS certificates. Associations already open keep the settings they
    /// started with; none is dropped. What was bound or opened at start stays as it is until a restart: the listening
    /// addresses, the log and record folders (and `events.jsonl`), the metrics, the tap. Returns the names of the
    /// settings `configuration` changes that only a restart applies (empty: all of it applies).
    @discardableResult
    package func reload(_ configuration: ProxyConfiguration) -> [String] {
        shared.withLockedValue { current in
            let old = current.configuration
            var new = configuration
            var needRestart: [String] = []
            if new.listen != old.listen { needRestart.append("listen") }
            if new.tlsListen != old.tlsListen { needRestart.append("tls-listen") }
            if new.logDirectory != old.logDirectory { needRestart.append("log-dir") }
            if new.recordDirectory != old.recordDirectory { needRestart.append("record") }
            // The HTML pages' redaction is set when they are made (they are the log folder's).
            if new.redactIdentifiers != old.redactIdentifiers && old.logDirectory != nil {
                needRestart.append("redact-identifiers (for the --log-dir HTML pages)")
            }
            // The registry's limit is set when it is made.
            if new.maxAssociations != old.maxAssociations { needRestart.append("max-associations") }
            new.maxAssociations = old.maxAssociations
            new.listen = old.listen
            new.tlsListen = old.tlsListen
            new.logDirectory = old.logDirectory
            new.recordDirectory = old.recordDirectory
            new.metrics = old.metrics
            new.tap = old.tap
            if old.tlsListen == nil { new.listenTLS = nil }
            current.tls.replace(listen: new.listenTLS, upstream: new.upstreamTLS)
            current = ProxyShared(configuration: new, events: current.events, pages: current.pages, logger: current.logger,
                                  tls: current.tls)
            return needRestart
        }
    }

    private func bind(_ listen: ProxyEndpoint, tls: Bool) async throws -> SocketAddress {
        let sharedBox = self.shared
        let registry = self.registry
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    let shared = sharedBox.withLockedValue { $0 }
                    return registry.admit().hop(to: channel.eventLoop).flatMapThrowing { admission in
                        let id = admission.id
                        let relay = AssociationRelay(id: id, channel: channel, shared: shared, overLimit: admission.overLimit,
                                                     onAssociateRequest: { registry.associationRequested($0) },
                                                     onFinish: { registry.remove($0) })
                        if tls, let tls = shared.tls.current.listen {
                            // TLS under the relay's handlers: the recording and the observer see the decrypted stream.
                            let bound = NIOLoopBound(relay, eventLoop: channel.eventLoop)
                            try tls.install(on: channel) { outcome in bound.value.tlsHandshake(outcome, leg: .requestor) }
                        }
                        try channel.pipeline.syncOperations.addHandlers(relay.requestorHandlers())
                        registry.add(SessionHandle(id: id, eventLoop: channel.eventLoop,
                                                   relay: NIOLoopBound(relay, eventLoop: channel.eventLoop),
                                                   finished: relay.finished.futureResult))
                    }
                }
                .bind(host: listen.host, port: listen.port)
                .get()
        } catch {
            throw SocketFailure(listeningOn: listen.host, port: listen.port, error: error)
        }
        registry.addServerChannel(channel)
        guard let address = channel.localAddress else { throw ChannelError.inappropriateOperationForState }
        return address
    }

    /// `127.0.0.1:11112` or `[::1]:11112`.
    package static func describe(_ address: SocketAddress) -> String {
        AssociationRelay.describe(address)
    }

    /// Associations in progress.
    package func openAssociationCount() async -> Int {
        (try? await registry.sessions().get().count) ?? 0
    }

    /// Stops accepting, lets open associations finish for up to `gracePeriod` (default: the
    /// configured one), then aborts those still open (A-ABORT to both peers) and waits until
    /// every log and recording is written.
    package func shutdown(gracePeriod: Duration? = nil) async {
        await stop(gracePeriod: TimeAmount(gracePeriod ?? configuration.gracePeriod))
        // The pages of the associations that just ended, and the index with them.
        shared.withLockedValue { $0.pages }?.flush()
        try? await ownedGroup?.shutdownGracefully()
    }

    private func stop(gracePeriod grace: TimeAmount) async {
        for channel in (try? await registry.takeServerChannels().get()) ?? [] {
            try? await channel.close()
        }
        let loop = registry.eventLoop
        guard let pending = try? await registry.sessions().get(), !pending.isEmpty else { return }
        let plural = pending.count == 1 ? "" : "s"
        logger.info("shutting down: \(pending.count) association\(plural) open, waiting up to \(grace.nanoseconds / 1_000_000) ms")
        let all = EventLoopFuture.andAllComplete(pending.map(\.finished), on: loop)
        if await Self.wait(for: all, upTo: grace, on: loop) { return }
        let open = (try? await registry.sessions().get()) ?? []
        for session in open {
            session.eventLoop.execute { session.relay.value.abortForShutdown() }
        }
        let remaining = EventLoopFuture.andAllComplete(open.map(\.finished), on: loop)
        _ = await Self.wait(for: remaining, upTo: AssociationRelay.closeDeadline + .seconds(1), on: loop)
    }

    /// Whether `future` completed within `timeout`.
    private static func wait(for future: EventLoopFuture<Void>, upTo timeout: TimeAmount, on loop: any EventLoop) async -> Bool {
        let result = loop.flatSubmit {
            let promise = loop.makePromise(of: Bool.self)
            var done = false
            let timer = loop.assumeIsolated().scheduleTask(in: timeout) {
                if !done {
                    done = true
                    promise.succeed(false)
                }
            }
            future.hop(to: loop).assumeIsolated().whenComplete { _ in
                timer.cancel()
                if !done {
                    done = true
                    promise.succeed(true)
                }
            }
            return promise.futureResult
        }
        return (try? await result.get()) ?? false
    }
}

