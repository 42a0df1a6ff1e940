import DICOMCore
import DICOMNetwork
import DICOMServices
import DICOMTestSupport
import Foundation
import Testing

/// The README's deployment, run for real: HAProxy (TCP mode, `/healthz` checks) in front of two `dicomtap proxy`
/// processes pseudonymizing PatientID on one PostgreSQL mapping store, `dicomtap serve` behind them holding the
/// patients under their pseudonyms. 200 associations of our SCU (three RPI C-FINDs each) go through the balancer;
/// halfway, one proxy is killed (SIGKILL). The associations it carried end (the connection is cut), every one
/// begun after the kill is served by the survivor, and no association ever gets another patient's identity back.
@Suite(.peers, .postgres, .requires(.dicomtap, .haproxy))
struct HAProxyFailoverTests {
    /// Patients of demo/patients.json with plain ASCII names (compared as text below).
    static let patients = ["PAT-0001": "Meyer^Anna", "PAT-0004": "Garcia^Maria^Luisa", "PAT-0005": "Okafor^Daniel",
                           "PAT-0006": "Nguyen^Linh", "PAT-0007": "Kowalski^Piotr"]
    static let associations = 200
    static let concurrency = 20
    static let queriesPerAssociation = 3

    enum Outcome: Sendable {
        case served
        case ended(String)
        case wrong(String)
    }

    struct Run: Sendable {
        var index: Int
        var started: ContinuousClock.Instant
        var finished: ContinuousClock.Instant
        var outcome: Outcome
    }

    @Test func oneProxyKilledHalfwayLosesOnlyItsOwnAssociations() async throws {
        let dir = try TemporaryDirectory("haproxy-failover")
        defer { dir.remove() }
        let haproxy = try #require(Peers.haproxy)
        let key = dir.file("pseudonym.key")
        _ = FileManager.default.createFile(atPath: key, contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
        chmod(key, 0o600)
        let url = try await TestDatabase.create("failover")

        // The archive holds each patient under the pseudonym the proxies send (as a site prepares it with
        // `dicomtap pseudonym`); a C-FIND for the original ID then has its one match, mapped back by the proxy.
        let originals = Self.patients.keys.sorted()
        let pseudonymRun = try Subprocess(Peers.dicomtap, ["pseudonym", "--key-file", key] + originals, name: "pseudonym", directory: dir)
        #expect(try await pseudonymRun.wait() == 0, "\(pseudonymRun.stderr)")
        let pseudonyms = pseudonymRun.stdout.split(separator: "\n").map(String.init)
        try #require(pseudonyms.count == originals.count, "\(pseudonymRun.stdout)")
        let pseudonymOf = Dictionary(uniqueKeysWithValues: zip(originals, pseudonyms))
        let demo = try JSONSerialization.jsonObject(with: Data(contentsOf: Peers.repository.appendingPathComponent("demo/patients.json")))
        var document = try #require(demo as? [String: Any])
        let all = try #require(document["patients"] as? [[String: Any]])
        document["patients"] = all.compactMap { patient -> [String: Any]? in
            guard let id = patient["patientID"] as? String, let pseudonym = pseudonymOf[id] else { return nil }
            var copy = patient
            copy["patientID"] = pseudonym
            return copy
        }
        let patientsFile = dir.file("patients.json")
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: patientsFile))

        let serve = try Subprocess(Peers.dicomtap, ["serve", "--host", "127.0.0.1", "--port", "0", "--db", dir.file("rpi.sqlite"),
                                                    "--import", patientsFile], name: "serve", directory: dir)
        defer { serve.stop() }
        try await eventually("serve to listen", timeout: .seconds(60)) {
            if !serve.process.isRunning { throw TimeoutError(what: "serve exited: \(serve.stderr)") }
            return serve.stdout.contains("listening on")
        }
        let servePort = try #require(printedPort(after: "listening on 127.0.0.1:", in: serve.stdout), "\(serve.stdout)")

        var proxies: [(process: Subprocess, port: Int, metrics: Int)] = []
        defer { proxies.forEach { $0.process.stop() } }
        for name in ["a", "b"] {
            let proxy = try Subprocess(Peers.dicomtap, [
                "proxy", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(servePort)",
                "--pseudonymize", "PatientID", "--key-file", key, "--mapping-store", url, "--allow", "FAILOVER",
            ], name: "proxy-\(name)", directory: dir)
            proxies.append((proxy, 0, 0))
            try await eventually("proxy \(name) to listen", timeout: .seconds(60)) {
                if !proxy.process.isRunning { throw TimeoutError(what: "proxy \(name) exited: \(proxy.stderr)") }
                return proxy.stdout.contains("/metrics and /healthz")
            }
            proxies[proxies.count - 1].port = try #require(printedPort(after: "listening on 127.0.0.1:", in: proxy.stdout))
            proxies[proxies.count - 1].metrics = try #require(printedPort(after: "metrics on http://127.0.0.1:", in: proxy.stdout))
        }
        for proxy in proxies {
            let deadline = ContinuousClock.now + .seconds(60)
            while (try? await MetricsHTTP.get("/healthz", port: proxy.metrics))?.hasPrefix("HTTP/1.1 200") != true {
                try #require(ContinuousClock.now < deadline, "\(proxy.process.name) did not become healthy: \(proxy.process.stderr)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        // The README's HAProxy configuration, on ports of this test: TCP passed through, /healthz checked, a
        // connection refused by a dead instance tried again on the other (retries, redispatch).
        let front = try freePort()
        let configuration = dir.file("haproxy.cfg")
        try """
            global
                maxconn 1000
            defaults
                mode tcp
                timeout connect 2s
                timeout client 120s
                timeout server 120s
                retries 3
                option redispatch
            frontend dicom
                bind 127.0.0.1:\(front)
                default_backend proxies
            backend proxies
                balance roundrobin
                option httpchk GET /healthz
                timeout check 5s
                server a 127.0.0.1:\(proxies[0].port) check port \(proxies[0].metrics) inter 300ms fall 2 rise 2
                server b 127.0.0.1:\(proxies[1].port) check port \(proxies[1].metrics) inter 300ms fall 2 rise 2

            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let balancer = try Subprocess(haproxy, ["-f", configuration, "-db"], name: "haproxy", directory: dir)
        defer { balancer.stop() }
        try await eventually("haproxy to listen", timeout: .seconds(30)) { try canConnect(port: front, balancer) }
        // Both instances seen up by HAProxy's checks before the run (rise 2: two checks 300 ms apart).
        try await Task.sleep(for: .seconds(1))

        let begun = Locked(0)
        // The kill is sent at one instant; the process is gone (its listening socket closed) a little later: a
        // connection HAProxy made to it in between is cut like those it carried.
        let killedAt = Locked<(sent: ContinuousClock.Instant, gone: ContinuousClock.Instant)?>(nil)
        let victim = proxies[0].process
        let runs = try await withThrowingTaskGroup(of: Run.self) { group in
            var next = 0
            var runs: [Run] = []
            func start(_ index: Int) {
                group.addTask {
                    let started = ContinuousClock.now
                    let count = begun.withValue { value in
                        value += 1
                        return value
                    }
                    if count == Self.associations / 2 {
                        let sent = ContinuousClock.now
                        kill(victim.pid, SIGKILL)
                        while victim.process.isRunning { try? await Task.sleep(for: .milliseconds(1)) }
                        killedAt.withValue { $0 = (sent, .now) }
                    }
                    let outcome = await Self.association(index, port: front)
                    return Run(index: index, started: started, finished: .now, outcome: outcome)
                }
            }
            while next < Self.concurrency {
                start(next)
                next += 1
            }
            while let run = try await group.next() {
                runs.append(run)
                if next < Self.associations {
                    start(next)
                    next += 1
                }
            }
            return runs
        }
        let killed = try #require(killedAt.current)
        #expect(runs.count == Self.associations)
        var served = 0
        var ended: [Run] = []
        for run in runs {
            switch run.outcome {
            case .served: served += 1
            case .ended: ended.append(run)
            case .wrong(let what): Issue.record("association \(run.index) got a wrong identity back: \(what)")
            }
        }
        // The killed instance carried some associations (round robin): they ended, and only they: each was open
        // when the kill came; every association begun after the kill was served by the survivor.
        #expect(!ended.isEmpty, "no association ended: the killed instance carried none")
        for run in ended {
            #expect(run.started <= killed.gone && run.finished >= killed.sent,
                    "association \(run.index) ended without being open at the kill: \(run.outcome)")
        }
        #expect(served + ended.count == Self.associations)
        for run in runs where run.started > killed.gone {
            if case .served = run.outcome { continue }
            Issue.record("association \(run.index), begun \(run.started - killed.gone) after the killed proxy was gone, was not served: \(run.outcome)")
        }
        #expect(proxies[1].process.process.isRunning, "\(proxies[1].process.stderr)")
        // The survivor ended none of its own: nothing aborted there, and it accepted associations.
        let metrics = try await MetricsHTTP.get("/metrics", port: proxies[1].metrics)
        #expect(metrics.contains("dicomtap_associations_accepted_total"), "\(metrics.prefix(400))")
        #expect(!metrics.contains("dicomtap_associations_aborted_total{"), "\(metrics)")
    }

    /// One association through the balancer: three C-FINDs for one patient, 100 ms apart, then A-RELEASE.
    static func association(_ index: Int, port: Int) async -> Outcome {
        let originals = patients.keys.sorted()
        let patientID = originals[index % originals.count]
        let name = patients[patientID]!
        let query = RPIQuery(patientID: patientID, callingAETitle: "FAILOVER", timeout: .seconds(60))
        let client: DICOMClient
        do {
            client = try await DICOMClient.connect(host: "127.0.0.1", port: port, parameters: query.associationParameters)
        } catch {
            return .ended("association \(index) not established: \(error)")
        }
        do {
            for round in 0..<queriesPerAssociation {
                if round > 0 { try await Task.sleep(for: .milliseconds(100)) }
                let result = try await query.run(on: client)
                let matches = result.responses.compactMap(\.identifier)
                guard result.responses.last?.status == 0x0000 else {
                    return .wrong("query \(round) for \(patientID) ended with status \(result.responses.last.map { String($0.status, radix: 16) } ?? "none")")
                }
                guard matches.count == 1 else { return .wrong("\(matches.count) matches for \(patientID)") }
                let gotID = matches[0][Tag.patientID]?.string()
                let gotName = matches[0][Tag.patientName]?.string()
                guard gotID == patientID, gotName == name else {
                    return .wrong("asked for \(patientID) (\(name)), got \(gotID ?? "no ID") (\(gotName ?? "no name"))")
                }
            }
            try await client.release()
            return .served
        } catch {
            await client.abort()
            return .ended("\(error)")
        }
    }
}
