import DICOMPeerSupport
import DICOMTestSupport
import DICOMCore
import DICOMMappingPostgres
import DICOMRewrite
import Foundation
import Testing

/// The URL of `--mapping-store postgresql://...`: no server needed.
struct PostgresStoreSettingsTests {
    @Test func parsesTheURLAndTakesThePasswordFromTheEnvironmentOrAFile() throws {
        let settings = try PostgresStoreSettings(url: "postgresql://dicomtap@db1.example:6543/pseudonyms?sslmode=require",
                                                 environment: ["PGPASSWORD": "s3cret"])
        #expect(settings.host == "db1.example")
        #expect(settings.port == 6543)
        #expect(settings.username == "dicomtap")
        #expect(settings.database == "pseudonyms")
        #expect(settings.tls == .require)
        #expect(settings.password == "s3cret")
        #expect(settings.location == "postgresql://dicomtap@db1.example:6543/pseudonyms?sslmode=require")
        let short = try PostgresStoreSettings(url: "postgres://u@h/d", environment: [:])
        #expect(short.port == 5432 && short.tls == .prefer && short.password == nil)

        let dir = try TemporaryDirectory("pg-settings")
        defer { dir.remove() }
        try "from-file\nignored\n".write(toFile: dir.file("pw"), atomically: true, encoding: .utf8)
        let filed = try PostgresStoreSettings(url: "postgresql://u@h/d", passwordFile: dir.file("pw"), environment: ["PGPASSWORD": "env"])
        #expect(filed.password == "from-file")
    }

    @Test func refusesAPasswordInTheURLAndSaysWhatToDo() {
        do {
            _ = try PostgresStoreSettings(url: "postgresql://dicomtap:hunter2@db1:5432/pseudonyms", environment: [:])
            Issue.record("a URL with a password was accepted")
        } catch {
            let text = error.message
            #expect(text.contains("carries a password") && text.contains("PGPASSWORD") && text.contains("--mapping-store-password-file"))
            #expect(!text.contains("hunter2"))
        }
        for (url, says) in [("postgresql://db1:5432/p", "no user name"), ("postgresql://u@db1:5432/", "no database name"),
                            ("postgresql://u@db1/p?sslmode=sometimes", "sslmode must be"),
                            ("postgresql://u@db1/p?color=blue", "unknown parameter 'color'")] {
            #expect(throws: RewriteError.self) { try PostgresStoreSettings(url: url, environment: [:]) }
            do {
                _ = try PostgresStoreSettings(url: url, environment: [:])
            } catch {
                #expect(error.message.contains(says), "\(url): \(error.message)")
            }
        }
    }
}

/// The PostgreSQL store against a real server: two instances on one database.
@Suite(.postgres, .ownExecutor)
struct PostgresMappingStoreTests {
    static func record(_ n: Int, original: String? = nil, issuer: String? = nil) -> PseudonymRecord {
        PseudonymRecord(pseudonym: "PSEUDO\(n)", original: original ?? "ORIGINAL-\(n)", vr: .LO, tag: .patientID, issuer: issuer)
    }

    @Test func oneInstanceRecordsAndTheOtherMapsBack() async throws {
        let url = try await TestDatabase.create("share")
        let a = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { a.close() }
        let b = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { b.close() }
        try a.commit([Self.record(1), Self.record(2, issuer: "HOSP-A"), Self.record(3)])
        #expect(b.cachedRecord(of: "PSEUDO2") == nil)
        #expect(try b.original(of: "PSEUDO2") == Self.record(2, issuer: "HOSP-A"))
        #expect(b.cachedRecord(of: "PSEUDO2") == Self.record(2, issuer: "HOSP-A"))
        #expect(try b.original(of: "UNKNOWN") == nil)
        #expect(try b.count() == 3)
        // Issued again by B for the same original: no error, one row.
        try b.commit([Self.record(1)])
        #expect(try a.count() == 3)
        // Another client sees the same rows (the schema is what the README says).
        #expect(try await TestDatabase.psql(url, "SELECT original || '|' || coalesce(issuer, '-') || '|' || derivation FROM pseudonym "
                                      + "WHERE pseudonym = 'PSEUDO2'") == "ORIGINAL-2|HOSP-A|\(Pseudonymizer.issuerVersion)")
        #expect(try a.records(after: nil, limit: 2).map(\.pseudonym) == ["PSEUDO1", "PSEUDO2"])
        #expect(try a.records(after: "PSEUDO2", limit: 10).map(\.pseudonym) == ["PSEUDO3"])
    }

    /// A message with one new value takes the prepared one-record INSERT: the issuer is kept, an empty one is no
    /// issuer (NULL, as the batch statement stores it), and the same pseudonym for another issuer is a collision.
    @Test func oneRecordCommitsKeepTheIssuerAndFindCollisions() async throws {
        let url = try await TestDatabase.create("onerecord")
        let a = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { a.close() }
        let b = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { b.close() }
        try a.commit([Self.record(1, issuer: "HOSP-A")])
        try a.commit([Self.record(2, issuer: "")])
        try a.commit([Self.record(3)])
        #expect(try b.original(of: "PSEUDO1") == Self.record(1, issuer: "HOSP-A"))
        #expect(try b.original(of: "PSEUDO2") == Self.record(2))
        #expect(try await TestDatabase.psql(url, "SELECT pseudonym || '|' || coalesce(issuer, '-') FROM pseudonym ORDER BY pseudonym")
                == "PSEUDO1|HOSP-A\nPSEUDO2|-\nPSEUDO3|-")
        // Again, for the same original and issuer: no error.
        try b.commit([Self.record(1, issuer: "HOSP-A")])
        for other in [Self.record(1, issuer: "HOSP-B"), Self.record(1), Self.record(3, original: "SOMEONE-ELSE")] {
            do {
                try b.commit([other])
                Issue.record("\(other) was written over another original")
            } catch {
                #expect(error.code == .collision, "\(error)")
            }
        }
        #expect(try a.count() == 3)
    }

    /// A connection whose preparation of the one-record INSERT failed once (postgres-nio then fails that statement
    /// for the connection's life) still records: the statement is run unprepared.
    @Test func aFailedPreparationDoesNotSpoilTheConnection() async throws {
        let url = try await TestDatabase.create("preparation")
        let store = try PostgresMappingStore(settings: try TestDatabase.settings(url))
        defer { store.close() }
        _ = try await TestDatabase.psql(url, "ALTER TABLE pseudonym RENAME TO pseudonym_away")
        do {
            try store.commit([Self.record(1)])
            Issue.record("a commit without its table succeeded")
        } catch {
            #expect(error.message.contains("pseudonym") && error.message.contains("does not exist"), "\(error)")
        }
        _ = try await TestDatabase.psql(url, "ALTER TABLE pseudonym_away RENAME TO pseudonym")
        // Once the store's check in the background has found the database answering, every connection records again.
        var answered = false
        for _ in 0..<40 where !answered {
            answered = (try? store.count()) != nil
            if !answered { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(answered)
        for n in 1...12 { try store.commit([Self.record(n)]) }
        #expect(try store.count() == 12)
    }

    /// Two instances starting together on an empty database (the schema made under the advisory
    /// lock), then inserting the same records at once, and colliding ones: one row each, and of two
    /// originals racing for one pseudonym exactly one wins, the other is told it is a collision.
    @Test func concurrentStartsAndInsertsFromTwoInstances() async throws {
        let url = try await TestDatabase.create("race")
        let settings = try TestDatabase.settings(url)
        async let first = PostgresMappingStore.open(settings: settings)
        async let second = PostgresMappingStore.open(settings: settings)
        let (a, b) = try await (first, second)
        defer { a.close(); b.close() }
        #expect(try await TestDatabase.psql(url, "SELECT count(*) FROM dicomtap_schema") == "1")

        let same = (0..<200).map { Self.record($0) }
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            let store = index % 2 == 0 ? a : b
            let batch = Array(same[(index / 2 * 10)..<(index / 2 * 10 + 10)]) + Array(same[0..<5])
            do { try store.commit(batch) } catch { failures.withValue { $0.append("\(error)") } }
        }
        #expect(failures.current.isEmpty, "\(failures.current)")
        #expect(try a.count() == 200)

        // Colliding: the same pseudonym for two originals, from both instances at once, 20 times.
        let outcomes = Locked<[Int: [Bool]]>([:])
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            let round = index / 2
            let record = PseudonymRecord(pseudonym: "CLASH\(round)", original: index % 2 == 0 ? "ALICE-\(round)" : "BOB-\(round)",
                                         vr: .LO, tag: .patientID)
            let store = index % 2 == 0 ? a : b
            var won = true
            do throws(RewriteError) {
                try store.commit([record])
            } catch {
                won = false
                #expect(error.code == .collision, "\(error)")
                #expect(error.message.contains("CLASH\(round)"))
            }
            outcomes.withValue { $0[round, default: []].append(won) }
        }
        for (round, results) in outcomes.current {
            #expect(results.filter { $0 }.count == 1, "round \(round): \(results)")
            let original = try #require(try a.original(of: "CLASH\(round)")).original
            #expect(try b.original(of: "CLASH\(round)")?.original == original)
        }
        #expect(try a.count() == 220)
        // A batch with one collision writes nothing of the batch.
        do throws(RewriteError) {
            try a.commit([Self.record(900), PseudonymRecord(pseudonym: "PSEUDO1", original: "SOMEONE-ELSE", vr: .LO, tag: .patientID)])
            Issue.record("a batch with a collision was written")
        } catch {
            #expect(error.code == .collision, "\(error)")
        }
        #expect(try b.original(of: "PSEUDO900") == nil)
    }

    /// The cache is bounded: a store that saw many records keeps at most its limit in memory.
    @Test func theCacheIsBounded() async throws {
        let url = try await TestDatabase.create("cache")
        let store = try PostgresMappingStore(settings: try TestDatabase.settings(url), cacheLimit: 100)
        defer { store.close() }
        try store.commit((0..<1000).map { Self.record($0) })
        #expect(store.cachedCount <= 100)
        #expect(try store.original(of: "PSEUDO3")?.original == "ORIGINAL-3")
    }

    /// The database stopped: what is cached is still known, a commit fails within the timeout
    /// naming the database and what to do; started again, the same store writes again by itself.
    @Test func databaseDownThenBack() async throws {
        let cluster = try await OwnCluster.start()
        defer { cluster.stop() }
        let store = try PostgresMappingStore(settings: try TestDatabase.settings(cluster.url), timeout: .seconds(3))
        defer { store.close() }
        try store.commit([Self.record(1)])
        try await cluster.pause()
        #expect(try store.original(of: "PSEUDO1")?.original == "ORIGINAL-1")
        let started = ContinuousClock.now
        // The first call waits for the database up to the timeout: on a thread of its own, not the test's.
        do {
            try await offThePool { try store.commit([Self.record(2)]) }
            Issue.record("a commit with the database down succeeded")
        } catch let error as RewriteError {
            #expect(error.code == .mappingStore)
            #expect(error.message.contains("PostgreSQL mapping store postgresql://dicomtap@127.0.0.1:"), "\(error.message)")
            #expect(error.message.contains("start the database"), "\(error.message)")
        }
        #expect(ContinuousClock.now - started < .seconds(15))
        // Still down: every later call fails at once (a caller on an event loop would stall its associations while
        // waiting), for longer than the store ever used to wait before trying again (5 s).
        let until = ContinuousClock.now + .seconds(7)
        var calls = 0
        while ContinuousClock.now < until {
            let asked = ContinuousClock.now
            let unknown = "UNKNOWN-\(calls)"
            await #expect(throws: RewriteError.self) { try await offThePool { try store.original(of: unknown) } }
            #expect(ContinuousClock.now - asked < .seconds(1), "call \(calls) waited for the database")
            calls += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        try await cluster.resume()
        var written = false
        for _ in 0..<20 where !written {
            if (try? await offThePool({ try store.commit([Self.record(2)]) })) != nil {
                written = true
            } else {
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        #expect(written)
        #expect(try store.count() == 2)
    }
}
