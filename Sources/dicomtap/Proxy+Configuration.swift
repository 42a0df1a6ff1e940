import ArgumentParser
import DICOMNetwork
import DICOMProxy
import DICOMRewrite
import Foundation
import Logging

extension Proxy {
    /// The proxy's settings from the options (the TLS certificates and keys, the rewriting rules and key read now),
    /// at start and on every SIGHUP. `warn` gets what is worth saying but stops nothing, `say` the limits worth saying
    /// at start. `rewriterInUse`: the rewriter of the running proxy, kept when the rules are the same (its mapping
    /// store stays open, not opened twice).
    func makeConfiguration(warn: (String) -> Void, say: (String) -> Void = { _ in }, rewriterInUse: Rewriter? = nil) throws
        -> ProxyConfiguration {
        var defaultUpstream = upstream.flatMap { ProxyEndpoint(parsing: $0) }
        if tls.upstreamTls { defaultUpstream?.tls = true }
        var configuration = ProxyConfiguration(
            listen: listen.flatMap { ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") },
            routing: RoutingTable(routes: try parsedRoutes(), defaultUpstream: defaultUpstream))
        if let tlsListen = tls.tlsListen {
            configuration.tlsListen = ProxyEndpoint(parsing: tlsListen, defaultHost: "0.0.0.0")
        }
        let contexts = try tls.load(routesUseTLS: routesUseTLS)
        for context in [contexts.listen, contexts.upstream].compactMap({ $0 }) { context.warnings.forEach(warn) }
        configuration.listenTLS = contexts.listen
        configuration.upstreamTLS = contexts.upstream
        configuration.allowList = try parsedAllowList()
        configuration.connectTimeout = .seconds(connectTimeout)
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.gracePeriod = .seconds(gracePeriod)
        configuration.maximumPDULength = maxPDULength
        configuration.observer = limits.applied(to: configuration.observer)
        configuration.logDirectory = logDir
        configuration.recordDirectory = record
        configuration.recordSecrets = recordSecrets
        connectionLimits.apply(to: &configuration).forEach(say)
        if let rules = try rewriteRules() {
            if let rewriterInUse, rewriterInUse.rules == rules {
                configuration.rewriter = rewriterInUse
            } else {
                do {
                    // A postgresql:// store is opened here (its client runs on its own event loop, so waiting
                    // for it holds no thread it needs); a SQLite file is opened by `Rewriter.open`.
                    let database = try MappingStoreOpening.database(for: rules, passwordFile: mappingStorePasswordFile)
                    let rewriter = try Rewriter.open(rules: rules, store: database)
                    rewriter.warnings.forEach(warn)
                    configuration.rewriter = rewriter
                } catch {
                    throw CLIError("\(error)", exitCode: 2)
                }
            }
            configuration.logOriginals = logOriginals
        }
        configuration.redactIdentifiers = redactIdentifiers
        return configuration
    }

    /// SIGHUP: the command line and the `--config` file read again and checked as at start; new associations take
    /// the result, open ones keep what they started with. A file that does not load (or settings that do not hold
    /// together) leaves the settings in use, and stderr says why.
    func reload(server: DICOMProxyServer, logger: Logger) {
        func refuse(_ why: String) {
            if let config {
                FileHandle.standardError.write(Data("dicomtap proxy: SIGHUP: --config \(config) not reloaded, the settings in use stay: \(why)\n".utf8))
            } else {
                logger.info("SIGHUP: TLS certificates not reloaded, the ones in use stay: \(why)")
                FileHandle.standardError.write(Data("dicomtap proxy: SIGHUP: TLS certificates not reloaded, the ones in use stay: \(why)\n".utf8))
            }
        }
        let reread: Proxy
        do {
            let arguments = try ProxyConfigFile.expand(Array(CommandLine.arguments.dropFirst()))
            reread = try Proxy.parse(Array(arguments.dropFirst()))
        } catch let error as ProxyConfigFile.Failure {
            return refuse(error.description)
        } catch {
            return refuse(Proxy.message(for: error))
        }
        var warnings: [String] = []
        let configuration: ProxyConfiguration
        do {
            configuration = try reread.makeConfiguration(warn: { warnings.append($0) },
                                                         rewriterInUse: server.configuration.rewriter)
        } catch {
            return refuse("\(error)")
        }
        var restart = server.reload(configuration)
        for (key, old, new) in [("metrics-listen", metricsOptions.metricsListen, reread.metricsOptions.metricsListen),
                                ("verbose", "\(verbose)", "\(reread.verbose)"), ("debug", "\(debug)", "\(reread.debug)")]
        where old != new {
            restart.append(key)
        }
        let later = restart.isEmpty ? "" : "; \(restart.joined(separator: ", ")) changed: applied at the next start"
        let said = warnings.map { "; warning: \($0)" }.joined()
        if let config {
            logger.info("SIGHUP: --config \(config) read again; new associations use it, open associations keep their settings\(later)\(said)")
        } else {
            logger.info("SIGHUP: TLS certificates read again; new connections use them, open associations keep theirs\(said)")
        }
    }
}
