import ArgumentParser
import DICOMCore
import DICOMMetrics
import DICOMNetwork
import DICOMProxy
import DICOMRewrite
import DICOMUL
import Dispatch
import Foundation
import Logging
import NIOPosix

struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relay DICOM associations between SCUs and an SCP byte for byte, decoding them on the side.",
        discussion: """
        Listens for SCUs; each association goes to the upstream SCP chosen by the called AE title of its \
        A-ASSOCIATE-RQ (--route), else to --upstream. The peers' own PDUs are relayed unchanged; the proxy only \
        answers an A-ASSOCIATE-RJ when the calling AE title is not allowed (--allow), there is no upstream or it \
        does not answer, --max-associations are open (2/3/2) or, with rewriting, a peer's maximum PDU length is \
        below --min-max-pdu (1/1/1), and an A-ABORT to both peers for a malformed PDU, an idle association or at \
        shutdown. A connection without an A-ASSOCIATE-RQ is closed after --artim-timeout, or earlier when the \
        proxy at its limit needs its place.
        Rewriting identifiers (--rewrite RULES.yaml, --pseudonymize ATTR --key-file FILE, --called-ae, --calling-ae): \
        requests towards the SCP carry pseudonyms, responses towards the SCU get the originals back; messages are \
        re-assembled, rewritten and fragmented again for the receiving peer, and the logs, events and recordings \
        show only the SCP's side (originals with --log-originals); a PDU from the SCU that cannot be framed is \
        described by its offset, not its bytes.
        User Identity credentials (passcode, Kerberos ticket, SAML assertion, JSON Web Token, the SCP's response) are \
        zeros of the same length in recordings and hex dumps, in every mode (--record-secrets keeps them). Folders the \
        proxy creates are 0700, its files 0600; it refuses to write through a symbolic link or another user's file.
        stdout: one line per association start and end and per completed exchange; -v adds every PDU and DIMSE \
        message, -d the data sets. SIGINT/SIGTERM: stop accepting, let open associations finish within \
        --grace-period, abort the rest, write every log and recording, exit 0.
        TLS (PS3.15 B.12, BCP 195: TLS 1.2 or 1.3): --tls-listen takes SCUs over TLS beside (or instead of) the \
        plain --listen; --upstream-tls and --route AE=tls://HOST:PORT speak TLS to the SCP, checking its \
        certificate (--upstream-tls-ca) and name. Any combination bridges: a plain modality to a TLS archive, a TLS \
        SCU to a plain SCP, TLS on both legs. Each leg's TLS version, cipher suite and peer certificate are logged; \
        a failed handshake is logged with its reason. Recordings hold the decrypted stream (-decrypted in the name). \
        SIGHUP reads the certificates, keys and CAs again for new connections (open associations keep theirs; a file \
        that cannot be used leaves the ones in use).
        --config FILE (YAML, keys named as the options without dashes, see examples/dicomtap-proxy.yaml): options \
        on the command line win over the file's; SIGHUP reads the file again: new associations use the new routes, \
        allow-list, rewriting, limits and certificates, open ones keep theirs, a file that does not load leaves the \
        settings in use (stderr says why); listen addresses, --log-dir, --record and --metrics-listen change at a restart.

        FILES (folders are created if missing):
          --log-dir DIR: DIR/events.jsonl
              one JSON object per line: association start and end, PDU, DIMSE
              message, exchange, finding (appended to across runs)
          --log-dir DIR: DIR/START-ID-CALLING-CALLED.txt
              one annotated text log per association, START in UTC, e.g.
              20260101-101500-0001-MODALITY-ARCHIVE.txt
          --log-dir DIR: DIR/START-ID-CALLING-CALLED.html
              the association's page, written when it ends: ladder diagram,
              negotiation, exchanges (runs of alike ones as one band; past 500
              rows, the rest as one band), findings; self-contained, no network
          --log-dir DIR: DIR/index.html
              one row per ended association, newest first, linked to its page;
              rewritten at most every 2 s (a whole file, renamed into place);
              the last 10,000 listed, older ones counted; an index.html found at
              start is kept as index-before-START.html and linked
          --record DIR: DIR/START-ID-CALLING-CALLED.pcap
              one pcap file per association: its SCU leg, both directions (with
              rewriting, the upstream leg), for analyze, replay and Wireshark;
              ...-decrypted.pcap when a leg speaks TLS (the decrypted stream)
          --tls-keylog FILE: the TLS secrets, NSS key log format (0600)
          A name already taken gets -2, -3, ... before its extension.

        EXAMPLES:
          dicomtap proxy --listen 11112 --upstream 127.0.0.1:104 \\
              --log-dir logs --record rec
          head -c 32 /dev/urandom > pseudonym.key && chmod 600 pseudonym.key
          dicomtap proxy --listen 11112 --upstream pacs.example:104 \\
              --allow MODALITY@10.1.2.0/24 \\
              --rewrite tools/rewrite-annex-e.yaml --key-file pseudonym.key
          dicomtap proxy --listen 11112 --route ARCHIVE=tls://archive.example:2762 \\
              --upstream-tls-ca ca.crt --upstream-tls-cert proxy.crt \\
              --upstream-tls-key proxy.key
        """)

    @Option(help: ArgumentHelp("Read the options from this YAML file (keys: the option names without dashes; options on the "
                               + "command line win; SIGHUP reads it again for new associations).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Where to listen for SCUs speaking plain DICOM.", valueName: "[host:]port"))
    var listen: String?

    @Option(help: ArgumentHelp("The SCP for associations without a route.", valueName: "host:port"))
    var upstream: String?

    @Option(name: .customLong("route"),
            help: ArgumentHelp("Send associations whose called AE title is AE to host:port (repeatable).",
                               valueName: "AE=host:port"))
    var routes: [String] = []

    @Option(name: .customLong("allow"),
            help: ArgumentHelp("Relay only associations whose calling AE title is AE, from anywhere or only from "
                               + "ADDRESS[/PREFIX] (repeatable; default: any; others get A-ASSOCIATE-RJ 1/1/3).",
                               valueName: "AE[@address[/prefix]]"))
    var allowed: [String] = []

    @Option(help: ArgumentHelp("Seconds to wait for the upstream to connect and answer the A-ASSOCIATE-RQ.",
                               valueName: "seconds"))
    var connectTimeout: Double = 5

    @Option(help: ArgumentHelp("Abort associations with no PDU for this many seconds.", valueName: "seconds"))
    var idleTimeout: Double = 300

    @Option(help: ArgumentHelp("On SIGINT/SIGTERM, seconds open associations get to finish before they are aborted.",
                               valueName: "seconds"))
    var gracePeriod: Double = 10

    @Option(help: ArgumentHelp("Write \(Proxy.logDirContents) here (see FILES).", valueName: "dir"))
    var logDir: String?

    @Option(help: ArgumentHelp("Write \(Proxy.recordContents) here (see FILES).", valueName: "dir"))
    var record: String?

    static let logDirContents = "events.jsonl, index.html, and per association a text log and an HTML page, START-ID-CALLING-CALLED.txt/.html"
    static let recordContents = "one pcap file per association (its SCU leg), START-ID-CALLING-CALLED.pcap"

    @Option(help: ArgumentHelp("Largest PDU relayed, in bytes (a longer one is aborted as malformed).", valueName: "bytes"))
    var maxPDULength: Int = 16 << 20

    @Option(help: ArgumentHelp("Rewrite identifiers with the rules in this YAML file (see tools/rewrite-annex-e.yaml).",
                               valueName: "rules.yaml"))
    var rewrite: String?

    @Option(name: .customLong("profile-option"),
            help: ArgumentHelp("Switch on an option set of the --rewrite rules, e.g. retain-uids, retain-modified-dates (repeatable).",
                               valueName: "name"))
    var profileOptions: [String] = []

    @Option(name: .customLong("pseudonymize"),
            help: ArgumentHelp("Send a keyed pseudonym instead of this attribute's values, by keyword or tag (repeatable).",
                               valueName: "attribute"))
    var pseudonymize: [String] = []

    @Option(help: ArgumentHelp("The secret key for pseudonyms: the file's bytes (at least 32 random bytes; owned by you, mode 0600 or 0400).",
                               valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp(MappingStoreOpening.help, valueName: "file|url"))
    var mappingStore: String?

    @Option(help: ArgumentHelp(MappingStoreOpening.passwordHelp, valueName: "file"))
    var mappingStorePasswordFile: String?

    @Option(name: .customLong("called-ae"),
            help: ArgumentHelp("Send the called AE title OLD to the SCP as NEW (repeatable).", valueName: "OLD=NEW"))
    var calledAE: [String] = []

    @Option(name: .customLong("calling-ae"),
            help: ArgumentHelp("Send the calling AE title OLD to the SCP as NEW (repeatable).", valueName: "OLD=NEW"))
    var callingAE: [String] = []

    @Flag(help: "Do not map responses back to the original identifiers (reverse-map: false).")
    var noReverseMap = false

    @Flag(help: "With rewriting: also log the original identifiers (console and text logs) and the SCU's bytes in hex dumps.")
    var logOriginals = false

    @Flag(help: ArgumentHelp("Record User Identity passcodes, tickets, assertions, tokens and the SCP's response as they are "
                             + "(default: zeros of the same length in recordings and hex dumps)."))
    var recordSecrets = false

    @OptionGroup(title: "Limits per association")
    var limits: LimitOptions

    @Flag(help: "Keep patient identifiers off the console and the --log-dir HTML pages: no Patient ID or name, no data set dumps, no values findings quote (the text logs and events.jsonl keep them).")
    var redactIdentifiers = false

    @Flag(name: [.short, .long], help: "Also print every PDU and DIMSE message.")
    var verbose = false

    @Flag(name: [.short, .long], help: "Also print every data set (implies --verbose).")
    var debug = false

    @OptionGroup(title: "DICOM over TLS")
    var tls: ProxyTLSOptions

    @OptionGroup(title: "Operations")
    var metricsOptions: MetricsOptions

    @OptionGroup(title: "Connection limits")
    var connectionLimits: ConnectionLimitOptions

    /// A route (or, with --upstream-tls, the default upstream) speaks TLS.
    var routesUseTLS: Bool { routes.contains { $0.contains("=tls://") } }

    func validate() throws {
        guard listen != nil || tls.tlsListen != nil else {
            throw ValidationError("give --listen [HOST:]PORT (plain DICOM), --tls-listen [HOST:]PORT (DICOM over TLS), or both")
        }
        for (option, value) in [("--listen", listen), ("--tls-listen", tls.tlsListen)] {
            if let value, ProxyEndpoint(parsing: value, defaultHost: "0.0.0.0") == nil || value.hasPrefix("tls://") {
                throw ValidationError("\(option) must be [host:]port, not '\(value)'")
            }
        }
        if let plain = listen.flatMap({ ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") }),
           let secure = tls.tlsListen.flatMap({ ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") }),
           plain.port != 0, plain.port == secure.port {
            throw ValidationError("--listen and --tls-listen must use different ports: a TLS port is never also a plain one")
        }
        if let upstream, ProxyEndpoint(parsing: upstream) == nil || upstream.hasPrefix("tls://") {
            throw ValidationError("--upstream must be host:port, not '\(upstream)' (--upstream-tls makes it a TLS upstream)")
        }
        try tls.validate(routesUseTLS: routesUseTLS)
        _ = try parsedRoutes()
        _ = try parsedAllowList()
        for (name, value) in [("--connect-timeout", connectTimeout), ("--idle-timeout", idleTimeout),
                              ("--grace-period", gracePeriod)] {
            try checkSeconds(value, name)
        }
        if redactIdentifiers && logOriginals {
            throw ValidationError("--redact-identifiers keeps identifiers off the console, --log-originals puts them there: choose one")
        }
        if upstream == nil && routes.isEmpty {
            throw ValidationError("give --upstream, --route, or both")
        }
        _ = try rewriteRules()
    }

    /// The rewriting rules from --rewrite and the flags; nil when rewriting is off.
    func rewriteRules() throws -> RewriteRules? {
        var rules = RewriteRules()
        var given = false
        if let rewrite {
            do {
                rules = try RewriteRulesLoader.load(path: rewrite)
            } catch {
                throw ValidationError("--rewrite: \(error)")
            }
            given = true
        }
        // Options first: a flag given on the command line wins over an option's rules.
        for name in profileOptions {
            guard rewrite != nil else { throw ValidationError("--profile-option needs --rewrite (the option sets are defined in the rules file)") }
            do {
                try rules.enable(option: name)
            } catch {
                throw ValidationError("--profile-option: \(error.message)")
            }
        }
        for name in pseudonymize {
            guard let tag = RewriteRules.tag(named: name) else {
                throw ValidationError("--pseudonymize: unknown attribute '\(name)' (a keyword such as PatientID, or a tag (0010,0020))")
            }
            if let vr = DataDictionary.vr(for: tag), let problem = Pseudonymizer.problem(with: PseudonymFormat(), vr: vr) {
                throw ValidationError("--pseudonymize \(name): \(problem)")
            }
            rules.add(AttributeRule(tag: tag, action: .pseudonymize(PseudonymFormat()), source: "--pseudonymize"))
            given = true
        }
        for (option, pairs) in [("--called-ae", calledAE), ("--calling-ae", callingAE)] {
            for pair in pairs {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 16 }) else {
                    throw ValidationError("\(option) must be OLD=NEW with AE titles of 1 to 16 characters, not '\(pair)'")
                }
                if option == "--called-ae" { rules.aeTitles.called[parts[0]] = parts[1] } else { rules.aeTitles.calling[parts[0]] = parts[1] }
                given = true
            }
        }
        if let keyFile { rules.keyFile = keyFile }
        if let mappingStore { rules.mappingStore = mappingStore }
        if noReverseMap { rules.reverseMap = false }
        guard given else {
            if keyFile != nil || mappingStore != nil || logOriginals || noReverseMap {
                throw ValidationError("--key-file, --mapping-store, --no-reverse-map and --log-originals need --rewrite, --pseudonymize, --called-ae or --calling-ae")
            }
            return nil
        }
        return rules
    }

    /// --allow as an allow-list; nil when none is given (any calling AE title).
    func parsedAllowList() throws -> CallingAEAllowList? {
        guard !allowed.isEmpty else { return nil }
        do { return try CallingAEAllowList(parsing: allowed) } catch { throw ValidationError("--allow \(error)") }
    }

    func parsedRoutes() throws -> [String: ProxyEndpoint] {
        var table: [String: ProxyEndpoint] = [:]
        for route in routes {
            guard let eq = route.firstIndex(of: "="), let endpoint = ProxyEndpoint(parsing: String(route[route.index(after: eq)...])),
                  !route[..<eq].isEmpty else {
                throw ValidationError("--route must be AE=host:port or AE=tls://host:port, not '\(route)'")
            }
            table[String(route[..<eq])] = endpoint
        }
        return table
    }

    func run() async throws {
        let listenAddress = listen.flatMap { ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") }
        // Before anything is opened or created: the paths, then the port.
        if let logDir { try PathCheck.writableFolder(logDir, "--log-dir", contents: Self.logDirContents) }
        if let record { try PathCheck.writableFolder(record, "--record", contents: Self.recordContents) }
        if let keyFile { try PathCheck.readableFile(keyFile, "--key-file") }
        if let mappingStore { try MappingStoreOpening.check(mappingStore, passwordFile: mappingStorePasswordFile) }
        do {
            for address in [listenAddress, tls.tlsListen.flatMap { ProxyEndpoint(parsing: $0, defaultHost: "0.0.0.0") }].compactMap({ $0 }) {
                try SocketFailure.checkListening(host: address.host, port: address.port)
            }
        } catch {
            throw CLIError("\(error)")
        }
        try metricsOptions.checkListening()
        var limitLines: [String] = []
        var configuration = try makeConfiguration(warn: { FileHandle.standardError.write(Data("dicomtap proxy: warning: \($0)\n".utf8)) },
                                                  say: { limitLines.append($0) })
        let metrics = metricsOptions.endpoint.map { _ in DICOMMetrics() }
        configuration.metrics = metrics

        var logger = Logger(label: "dicomtap.proxy") { _ in ConsoleLogHandler() }
        logger.logLevel = debug ? .trace : verbose ? .debug : .info

        // Signals are handled here, not by the default action.
        let signals = TerminationSignals()

        let server: DICOMProxyServer
        do {
            server = try DICOMProxyServer(configuration: configuration, logger: logger)
            let addresses = try await server.startListeners()
            guard let address = addresses.first?.address else { throw ExitCode(2) }
            var routesText = configuration.routing.routes.sorted { $0.key < $1.key }.map { "\($0.key) -> \($0.value)" }
            if let upstream = configuration.routing.defaultUpstream { routesText.append("default -> \(upstream)") }
            let allowedText = configuration.allowList.map { "; allowed: \($0)" } ?? ""
            let listening = addresses.map { DICOMProxyServer.describe($0.address) + ($0.tls ? " (TLS)" : "") }
            logger.info("listening on \(listening.joined(separator: " and ")); \(routesText.joined(separator: ", "))\(allowedText)")
            if let rules = configuration.rewriter?.rules {
                var attributes = rules.orderedRules.map { "\($0.attributeName) \($0.action)" }
                if attributes.count > 12 {
                    // A profile: counted by action, not listed.
                    let counts = Dictionary(grouping: rules.orderedRules, by: { $0.action.name }).mapValues(\.count)
                    attributes = ["\(rules.orderedRules.count) attribute rules (" + counts.sorted { $0.key < $1.key }
                        .map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"]
                }
                if !rules.patterns.isEmpty { attributes.append("\(rules.patterns.count) repeating-group rules") }
                if rules.privateAttributes != .keep { attributes.append("private attributes \(rules.privateAttributes.rawValue)") }
                if !rules.enabledOptions.isEmpty { attributes.append("options \(rules.enabledOptions.joined(separator: ", "))") }
                let titles = (rules.aeTitles.called.sorted { $0.key < $1.key }.map { "called \($0.key)->\($0.value)" }
                    + rules.aeTitles.calling.sorted { $0.key < $1.key }.map { "calling \($0.key)->\($0.value)" })
                logger.info("rewriting: \((attributes + titles).joined(separator: ", "))\(rules.reverseMap ? "; responses mapped back" : "")")
                if configuration.allowList == nil, rules.mapsOriginalsBack {
                    FileHandle.standardError.write(Data(Self.openDoorWarning(DICOMProxyServer.describe(address)).utf8))
                }
            }
        } catch {
            FileHandle.standardError.write(Data("dicomtap proxy: \(error)\n".utf8))
            throw ExitCode(1)
        }

        for line in limitLines { logger.info("\(line)") }
        // --metrics-listen: /healthz is healthy while every upstream accepts a TCP connection (checked every 10 s).
        var metricsEndpoint: MetricsEndpoint?
        var probe: UpstreamProbe?
        let storeGauge = metrics.flatMap { metrics in
            configuration.rewriter.map { MappingStoreGauge(store: $0.store, metrics: metrics) }
        }
        if let metrics {
            let upstreams = ([configuration.routing.defaultUpstream].compactMap { $0 }
                + configuration.routing.routes.sorted { $0.key < $1.key }.map(\.value))
                .map { UpstreamProbe.Target(host: $0.host, port: $0.port) }
            let check = UpstreamProbe(targets: upstreams) { _, reason in
                metrics.upstreamFailed(reason == "timed out" ? .timeout : reason == "connection refused" ? .refused : .other)
            }
            check.start(on: MultiThreadedEventLoopGroup.singleton.next())
            probe = check
            do {
                metricsEndpoint = try await metricsOptions.start(metrics, health: { check.status() })
            } catch {
                check.stop()
                storeGauge?.stop()
                await server.shutdown()
                throw error
            }
        }

        // SIGHUP: with --config, the file read again for new associations; the TLS certificates, keys and CAs read
        // again. Open associations keep what they have.
        let reloadable = config != nil || configuration.listenTLS != nil || configuration.upstreamTLS != nil
        let hangUp = reloadable ? HangUpSignal { [self, log = logger] in reload(server: server, logger: log) } : nil
        let received = await signals.next()
        _ = hangUp
        logger.info("\(received == SIGINT ? "SIGINT" : "SIGTERM"): no new associations")
        probe?.stop()
        storeGauge?.stop()
        await metricsEndpoint?.close()
        await server.shutdown()
        logger.info("stopped")
    }

    /// Said once at start when responses are mapped back and no --allow restricts who may ask.
    static func openDoorWarning(_ address: String) -> String {
        """
        dicomtap proxy: WARNING: rewriting maps the archive's answers back to the original identifiers, and no --allow \
        is given: ANY client that can reach \(address) can associate with any AE title and get originals back \
        (a C-FIND with universal matching returns every patient this proxy pseudonymized, with real names and IDs).
        Restrict who may use the proxy: --allow AE (calling AE title) or --allow AE@ADDRESS/PREFIX \
        (e.g. --allow MODALITY@10.1.2.0/24, --allow WS1@127.0.0.1; repeatable); others get A-ASSOCIATE-RJ.

        """
    }
}
