import DICOMCore
import DICOMRewrite
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// The pseudonyms issued, pseudonym → original, in a PostgreSQL database several proxies share
/// (issue 21): an answer that comes back through one proxy for a pseudonym another issued is
/// mapped back. The table is created (or migrated) at start under an advisory lock, so instances
/// starting together do not race; a pseudonym recorded for another original is found by the
/// primary key (INSERT ... ON CONFLICT DO NOTHING, then the row that won is compared), so two
/// instances inserting at once cannot both succeed. Lookups go through a bounded cache of recent
/// records (`RecentRecords`); a miss is remembered for a moment only, since another instance may
/// record the pseudonym next. postgres-nio's client keeps a pool and reconnects by itself; every
/// operation is bounded by `timeout`, so a database that is down makes a commit fail (the proxy
/// refuses the association) instead of hanging. The client and its tasks run on an event loop of their own
/// (`EventLoopTaskExecutor`): callers block (a proxy event loop on a cache miss, GRDB-like) without starving it,
/// and a commit's statement, its answer and the code around them run on one thread, without a hop between.
package final class PostgresMappingStore: PseudonymStore, @unchecked Sendable {
    package let settings: PostgresStoreSettings
    package var location: String { settings.location }
    let client: PostgresClient
    let group: MultiThreadedEventLoopGroup
    let loop: any EventLoop
    let executor: EventLoopTaskExecutor
    private let runner: Task<Void, Never>
    let timeout: Duration
    let lock = NSLock()
    private var cache: RecentRecords
    /// Pseudonyms looked up and absent, with when: forgotten after `missLifetime`.
    private var misses: [String: ContinuousClock.Instant] = [:]
    private static let maximumMisses = 10_000
    private static let missLifetime = Duration.seconds(2)
    /// The last failure to reach the database, until a check in the background finds it answering again.
    private var recentFailure: RewriteError?
    /// A check of the database is scheduled or under way.
    private var rechecking = false
    private var closed = false
    static let logger = Logger(label: "dicomtap.mapping-store") { _ in SwiftLogNoOpLogHandler() }
    /// The schema this program writes (`dicomtap_schema.version`).
    package static let schemaVersion = 1

    /// Connects to the database `settings` names and creates or migrates the schema. Blocks for at
    /// most about `timeout` per step: call it off the cooperative pool (`open`).
    package init(settings: PostgresStoreSettings, cacheLimit: Int = MappingStore.defaultCacheLimit,
                 timeout: Duration = .seconds(5)) throws(RewriteError) {
        self.settings = settings
        self.timeout = timeout
        cache = RecentRecords(limit: cacheLimit)
        var configuration = PostgresClient.Configuration(host: settings.host, port: settings.port, username: settings.username,
                                                         password: settings.password, database: settings.database, tls: .disable)
        configuration.tls = try Self.tls(settings)
        configuration.options.connectTimeout = min(timeout, .seconds(10))
        configuration.options.maximumConnections = 8
        // Four connections stay open and postgres-nio's keep-alive query is off: every time a connection goes back
        // to the pool it starts a task group with a sleeping timer for the keep-alive, and one for the idle timeout
        // of a connection beyond the minimum, so per commit (measured: cold commits 70 to 89% of SQLite's rate with
        // the keep-alive, 87 to 97% without; a proxy busy for seconds after a burst running down such timers). A
        // connection the server closed is found closed and replaced; against a firewall that drops idle connections
        // silently, the README has the server send TCP keep-alives (ALTER ROLE ... SET tcp_keepalives_idle).
        configuration.options.minimumConnections = 4
        configuration.options.keepAliveBehavior = nil
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let client = PostgresClient(configuration: configuration, eventLoopGroup: group, backgroundLogger: Self.logger)
        self.client = client
        loop = group.next()
        let executor = EventLoopTaskExecutor(loop: loop)
        self.executor = executor
        runner = Task(executorPreference: executor) { await client.run() }
        do {
            try probe()
            try migrate()
        } catch {
            close()
            throw error
        }
    }

    /// `init` on a thread of its own, for async callers (the proxy's start).
    package static func open(settings: PostgresStoreSettings, cacheLimit: Int = MappingStore.defaultCacheLimit,
                             timeout: Duration = .seconds(5)) async throws(RewriteError) -> PostgresMappingStore {
        let result: Result<PostgresMappingStore, RewriteError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                do throws(RewriteError) {
                    continuation.resume(returning: .success(try PostgresMappingStore(settings: settings, cacheLimit: cacheLimit,
                                                                                     timeout: timeout)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    deinit { close() }

    package func close() {
        let wasClosed = lock.withLock {
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        runner.cancel()
        executor.close()
        group.shutdownGracefully { _ in }
    }

    // MARK: Running database work from synchronous callers

    /// Runs `body` on the client's executor and waits for its result (at most about `timeout`).
    func wait<T: Sendable>(_ doing: String, recordsFailure: Bool = true,
                                   _ body: @escaping @Sendable (PostgresClient) async throws -> T) throws(RewriteError) -> T {
        let box = ResultBox<T>()
        start(doing, body, recordsFailure: recordsFailure) { box.set($0) }
        // `start` answers within `timeout`; the backstop only guards against its timer not running in time.
        _ = box.semaphore.wait(timeout: .now() + Self.seconds(timeout) + 1)
        switch box.result {
        case .success(let value)?: return value
        case .failure(let error)?: throw error
        case nil: throw failure(doing, because: "it did not answer within \(Self.format(timeout))")
        }
    }

    /// After a failure to reach the database, how often it is checked (`SELECT 1`) until it answers again.
    static let recheckInterval: Duration = .seconds(1)

    /// Runs `body` on the client's executor; `completion` gets its result once: the value, the error in words, or
    /// a failure after `timeout` (the work is then cancelled). After a failure to reach the database, calls fail at
    /// once until a check in the background finds it answering: callers on an event loop (a response's pseudonym not
    /// cached) would otherwise each wait `timeout` while it is down, and the associations on that loop with them.
    /// Without `recordsFailure` (the metrics' count), a failure does not make the next calls fail at once;
    /// `isCheck` (that check) runs even while the last failure stands.
    private func start<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T,
                                    recordsFailure: Bool = true, isCheck: Bool = false,
                                    completion: @escaping @Sendable (Result<T, RewriteError>) -> Void) {
        if !isCheck, let recent = lock.withLock({ recentFailure }) {
            completion(.failure(recent))
            return
        }
        // Whether it finished, and what to cancel when it does: the work at the timeout, the timer when the work ends.
        let state = NIOLockedValueBox(PendingWork())
        let finish: @Sendable (Result<T, RewriteError>) -> Bool = { [self] result in
            guard let pending = state.withLockedValue({ state -> PendingWork? in
                defer { state.finished = true }
                return state.finished ? nil : state
            }) else { return false }
            pending.timer?.cancel()
            switch result {
            case .success: lock.withLock { recentFailure = nil }
            // Not a collision (the database answered): the database could not be reached or did not answer.
            case .failure(let error) where error.code == .mappingStore && recordsFailure:
                lock.withLock { recentFailure = error }
                recheckLater()
            case .failure: break
            }
            completion(result)
            return true
        }
        guard !lock.withLock({ closed }) else {
            completion(.failure(failure(doing, because: "the store is closed")))
            return
        }
        let client = self.client
        let task = Task(executorPreference: executor) { [self] in
            // The timer is made here, on the store's loop, which it does not need to wake (once the store is closed,
            // this runs elsewhere and the closed pool fails the work at once).
            if loop.inEventLoop {
                let timer = loop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                    if finish(.failure(failure(doing, because: "it did not answer within \(Self.format(timeout))"))) {
                        state.withLockedValue { $0.task }?.cancel()
                    }
                }
                state.withLockedValue { $0.timer = timer }
            }
            do {
                _ = finish(.success(try await body(client)))
            } catch let error as RewriteError {
                _ = finish(.failure(error))
            } catch {
                // A collision found inside a transaction comes back wrapped in the transaction's error.
                if let rewrite = (error as? PostgresTransactionError)?.closureError as? RewriteError {
                    _ = finish(.failure(rewrite))
                } else {
                    _ = finish(.failure(failure(doing, because: Self.describe(error: error))))
                }
            }
        }
        state.withLockedValue { $0.task = task }
    }

    /// Checks the database after `recheckInterval` (unless a check is already scheduled or the store is closed);
    /// an answer clears the last failure, another failure schedules the next check.
    private func recheckLater() {
        lock.withLock {
            guard !rechecking, !closed else { return }
            rechecking = true
            loop.scheduleTask(in: TimeAmount(Self.recheckInterval)) { [weak self] in
                self?.start("read", { client in
                    for try await _ in try await client.query("SELECT 1", logger: Self.logger).decode(Int.self) {}
                    return true
                }, recordsFailure: false, isCheck: true) { [weak self] result in
                    // An answer has cleared the failure (as any success does); else the next check.
                    guard let self else { return }
                    lock.withLock { rechecking = false }
                    if case .failure = result { recheckLater() }
                }
            }
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func failure(_ doing: String, because reason: String) -> RewriteError {
        let advice = switch doing {
        case "open": "is the database running, and are --mapping-store and its password right?"
        case "write to": "until it is back, associations that need a new pseudonym are refused: start the database "
            + "(associations whose values are known go on)"
        default: "until it is back, answers with pseudonyms this proxy has not cached cannot be mapped back and are refused: "
            + "start the database"
        }
        return RewriteError(.mappingStore, "cannot \(doing) the PostgreSQL mapping store \(location): \(reason); \(advice)")
    }

    static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }

    // MARK: Schema

    /// Creates the table (or brings an older schema up to date) under an advisory lock held for the transaction.
    private func migrate() throws(RewriteError) {
        let version = try wait("open") { client in
            try await client.withTransaction(logger: Self.logger) { connection -> Int in
                // Any constant both instances agree on: "DICOMTap" in ASCII.
                try await connection.query("SELECT pg_advisory_xact_lock(4921657244123865456)", logger: Self.logger)
                try await connection.query("CREATE TABLE IF NOT EXISTS dicomtap_schema (version INTEGER NOT NULL)", logger: Self.logger)
                var found: Int?
                for try await (version) in try await connection.query("SELECT max(version) FROM dicomtap_schema", logger: Self.logger)
                    .decode(Int?.self) {
                    found = version
                }
                if let found, found > Self.schemaVersion { return found }
                if found == nil {
                    try await connection.query("""
                        CREATE TABLE IF NOT EXISTS pseudonym (
                            pseudonym TEXT COLLATE "C" PRIMARY KEY,
                            original TEXT NOT NULL,
                            vr TEXT NOT NULL,
                            tag BIGINT NOT NULL,
                            issued TIMESTAMPTZ NOT NULL DEFAULT now(),
                            issuer TEXT,
                            derivation TEXT NOT NULL
                        )
                        """, logger: Self.logger)
                    try await connection.query("INSERT INTO dicomtap_schema (version) VALUES (\(Self.schemaVersion))", logger: Self.logger)
                }
                return Self.schemaVersion
            }
        }
        if version > Self.schemaVersion {
            throw RewriteError(.mappingStore, "the PostgreSQL mapping store \(location) has schema version \(version), made by a "
                               + "newer dicomtap (this one knows version \(Self.schemaVersion)): use that version")
        }
    }

    // MARK: PseudonymStore

    package func cachedRecord(of pseudonym: String) -> PseudonymRecord? {
        lock.withLock { cache.record(of: pseudonym) }
    }

    /// Records in the cache: for tests.
    package var cachedCount: Int { lock.withLock { cache.count } }

    package func commit(_ records: [PseudonymRecord]) throws(RewriteError) {
        guard !records.isEmpty else { return }
        try Self.checkBatch(records)
        try wait("write to", write(records))
        remember(records)
    }

    package func commitInBackground(_ records: [PseudonymRecord], completion: @escaping @Sendable (RewriteError?) -> Void) {
        do throws(RewriteError) {
            try Self.checkBatch(records)
        } catch {
            completion(error)
            return
        }
        guard !records.isEmpty else { return completion(nil) }
        start("write to", write(records)) { [self] result in
            switch result {
            case .success:
                remember(records)
                completion(nil)
            case .failure(let error):
                completion(error)
            }
        }
    }

    /// The batch is recorded: it is in the cache, and no longer a remembered miss.
    private func remember(_ records: [PseudonymRecord]) {
        lock.withLock {
            for record in records {
                misses.removeValue(forKey: record.pseudonym)
                cache.insert(record)
            }
        }
    }

    /// One pseudonym twice in the batch for two originals: ON CONFLICT would keep the first silently.
    private static func checkBatch(_ records: [PseudonymRecord]) throws(RewriteError) {
        var inBatch: [String: PseudonymRecord] = [:]
        for record in records {
            if let earlier = inBatch.updateValue(record, forKey: record.pseudonym),
               earlier.original != record.original || (earlier.issuer ?? "") != (record.issuer ?? "") {
                throw MappingStore.collision(record)
            }
        }
    }

    /// The database work of a commit.
    private func write(_ records: [PseudonymRecord]) -> @Sendable (PostgresClient) async throws -> Void {
        let location = self.location
        return { client in
            // One statement, atomic on its own, instead of a transaction (BEGIN and COMMIT were two more round trips
            // per new patient): nothing of the batch is written when one of its pseudonyms is already recorded for
            // another original (the guard). Rows are never changed or deleted, so reading those that were there
            // already needs no transaction either. Only when another instance records a colliding value at the same
            // moment can the batch's other, correct, rows be written before the collision is found. In one order
            // (the key's), so that two instances inserting overlapping batches cannot deadlock.
            try await client.withConnection { connection in
                var written = Set<String>()
                // One record (a message with one new patient, the usual case): a plain INSERT, prepared once per
                // connection, which the server runs in a fraction of the guarded one's time; ON CONFLICT alone keeps
                // a colliding row out.
                if records.count == 1 {
                    let insert = InsertOne(records[0])
                    do {
                        for try await name in try await connection.execute(insert, logger: Self.logger) { written.insert(name) }
                    } catch let error as PSQLError where error.serverInfo != nil {
                        // The server refused it (a preparation that failed once fails for the connection's life in
                        // postgres-nio): the same statement unprepared, which says the server's reason if it fails too.
                        for try await name in try await connection.query(insert.unprepared, logger: Self.logger).decode(String.self) {
                            written.insert(name)
                        }
                    }
                } else {
                    let inserted = try await connection.query("""
                    WITH n AS (
                        SELECT * FROM unnest(\(records.map(\.pseudonym))::text[], \(records.map(\.original))::text[],
                                             \(records.map(\.vr.code))::text[], \(records.map { Int64($0.tag.rawValue) })::int8[],
                                             \(records.map { $0.issuer ?? "" })::text[], \(records.map(\.derivation))::text[])
                            AS u(p, o, v, t, i, d))
                    INSERT INTO pseudonym (pseudonym, original, vr, tag, issuer, derivation)
                    SELECT p, o, v, t, NULLIF(i, ''), d FROM n
                    WHERE NOT EXISTS (SELECT 1 FROM n JOIN pseudonym x ON x.pseudonym = n.p
                                      WHERE x.original <> n.o OR coalesce(x.issuer, '') <> n.i)
                    ORDER BY p COLLATE "C"
                    ON CONFLICT (pseudonym) DO NOTHING
                    RETURNING pseudonym
                    """, logger: Self.logger)
                    for try await name in inserted.decode(String.self) { written.insert(name) }
                }
                let others = records.filter { !written.contains($0.pseudonym) }
                guard !others.isEmpty else { return }
                // Already there (from another instance, or issued before): the same original, or a collision.
                var known: [String: (original: String, issuer: String?)] = [:]
                let rows = try await connection.query("""
                    SELECT pseudonym, original, issuer FROM pseudonym WHERE pseudonym = ANY(\(others.map(\.pseudonym))::text[])
                    """, logger: Self.logger)
                for try await (name, original, issuer) in rows.decode((String, String, String?).self) {
                    known[name] = (original, issuer)
                }
                // A collision first: it kept the whole batch out, the rows missing with it.
                for record in others {
                    if let row = known[record.pseudonym], row.original != record.original || (row.issuer ?? "") != (record.issuer ?? "") {
                        throw MappingStore.collision(record)
                    }
                }
                if let missing = others.first(where: { known[$0.pseudonym] == nil }) {
                    throw RewriteError(.mappingStore, "the PostgreSQL mapping store \(location) did not keep pseudonym "
                                       + "'\(missing.pseudonym)' (was the table changed by hand?)")
                }
            }
        }
    }

    package func original(of pseudonym: String) throws(RewriteError) -> PseudonymRecord? {
        let now = ContinuousClock.now
        let known: PseudonymRecord?? = lock.withLock {
            if let record = cache.record(of: pseudonym) { return .some(record) }
            if let missed = misses[pseudonym], now - missed < Self.missLifetime { return .some(nil) }
            return nil
        }
        if let known { return known }
        let found = try records(matching: pseudonym, after: nil, limit: 1).first
        lock.withLock {
            if let found {
                misses.removeValue(forKey: pseudonym)
                cache.insert(found)
            } else {
                if misses.count >= Self.maximumMisses { misses.removeAll() }
                misses[pseudonym] = now
            }
        }
        return found
    }

    /// Export's and the metrics' count (a scan of the table): its failure does not refuse the next associations.
    package func count() throws(RewriteError) -> Int {
        try wait("read", recordsFailure: false) { client in
            var total = 0
            for try await count in try await client.query("SELECT count(*) FROM pseudonym", logger: Self.logger).decode(Int.self) {
                total = count
            }
            return total
        }
    }

    package func records(after pseudonym: String?, limit: Int) throws(RewriteError) -> [PseudonymRecord] {
        try records(matching: nil, after: pseudonym ?? "", limit: limit)
    }

    /// The row of `pseudonym`, or the rows after `after` in order.
    private func records(matching pseudonym: String?, after: String?, limit: Int) throws(RewriteError) -> [PseudonymRecord] {
        let location = self.location
        return try wait("read") { client in
            let query: PostgresQuery = if let pseudonym {
                "SELECT pseudonym, original, vr, tag, issuer FROM pseudonym WHERE pseudonym = \(pseudonym)"
            } else {
                "SELECT pseudonym, original, vr, tag, issuer FROM pseudonym WHERE pseudonym > \(after ?? "") ORDER BY pseudonym LIMIT \(limit)"
            }
            var found: [PseudonymRecord] = []
            let rows = try await client.query(query, logger: Self.logger)
            for try await (name, original, vrCode, tag, issuer) in rows.decode((String, String, String, Int64, String?).self) {
                guard let vr = VR(code: vrCode), let rawTag = UInt32(exactly: tag) else {
                    throw RewriteError(.mappingStore, "the PostgreSQL mapping store \(location) is damaged: the row of pseudonym "
                                       + "'\(name)' has VR '\(vrCode)' and tag \(tag)")
                }
                found.append(PseudonymRecord(pseudonym: name, original: original, vr: vr, tag: Tag(rawValue: rawTag), issuer: issuer))
            }
            return found
        }
    }
}

/// The INSERT of one record, prepared once per connection (the server parses and plans it once).
private struct InsertOne: PostgresPreparedStatement {
    static let name = "dicomtap_insert_one_pseudonym"
    static let sql = """
        INSERT INTO pseudonym (pseudonym, original, vr, tag, issuer, derivation) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (pseudonym) DO NOTHING RETURNING pseudonym
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .int8, .text, .text]
    typealias Row = String
    let record: PseudonymRecord

    /// An empty issuer is no issuer (NULL), as the batch statement stores it.
    init(_ record: PseudonymRecord) {
        var record = record
        if record.issuer?.isEmpty == true { record.issuer = nil }
        self.record = record
    }

    /// The same INSERT, parsed at each run.
    var unprepared: PostgresQuery {
        """
        INSERT INTO pseudonym (pseudonym, original, vr, tag, issuer, derivation)
        VALUES (\(record.pseudonym), \(record.original), \(record.vr.code), \(Int64(record.tag.rawValue)), \(record.issuer),
                \(record.derivation))
        ON CONFLICT (pseudonym) DO NOTHING RETURNING pseudonym
        """
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(record.pseudonym)
        bindings.append(record.original)
        bindings.append(record.vr.code)
        bindings.append(Int64(record.tag.rawValue))
        bindings.append(record.issuer)
        bindings.append(record.derivation)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
}
