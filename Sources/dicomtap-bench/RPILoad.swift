// Relevant Patient Information C-FIND load from our SCU (a fast client, so the figures are the server's):
// COUNT queries either on one association or one association per query; prints queries per second and
// the latency of each query (send to final response) as median and p99. Mode `distinct` asks for PATIENT-ID-1,
// PATIENT-ID-2, ... on one association each (ASSOCIATIONS of them, each its own numbers): a patient the archive does
// not hold, so no match, and through a pseudonymizing proxy a new pseudonym per query the first time (the mapping
// store's cold path), a known one when run again with the same PATIENT-ID (warm). With DICOMTAP_BENCH_TLS_CA=FILE set,
// the one-association mode speaks DICOM over TLS, trusting the CA in FILE (tools/bench_proxy.sh's TLS case).
// With RATE (queries per second over all associations), the load is open: each association sends its queries on a
// fixed schedule (a query whose time comes while the last is unanswered goes as soon as it is), and a latency runs
// from the query's scheduled time, so a stall counts in full for every query it delays (no coordinated omission).
// Without RATE each association sends its next query the moment the last is answered (closed loop: the figures are
// the system's capacity, and under saturation the latency is the queue's length).
import DICOMNetwork
import DICOMServices
import DICOMStore
import Foundation
import NIOCore

func rpiLoad(_ args: [String]) async {
    guard args.count >= 5, let port = Int(args[1]), let count = Int(args[2]), ["one", "per-query", "echo", "distinct"].contains(args[3]),
          args.count < 6 || (Int(args[5]) ?? 0) > 0, args.count < 7 || (Double(args[6]) ?? 0) > 0 else {
        FileHandle.standardError.write(Data(
            "usage: dicomtap-bench rpi-load HOST PORT COUNT one|per-query|echo|distinct PATIENT-ID [ASSOCIATIONS [RATE]]\n".utf8))
        exit(2)
    }
    let host = args[0], perQuery = args[3] == "per-query", patientID = args[4]
    let rate = args.count >= 7 ? Double(args[6]) : nil
    if args[3] == "distinct" || (args[3] == "one" && args.count >= 6 && ((Int(args[5]) ?? 1) > 1 || rate != nil)) {
        let associations = args.count >= 6 ? Int(args[5]) ?? 1 : 1
        await concurrentLoad(host: host, port: port, count: count, associations: associations, patientID: patientID,
                             distinct: args[3] == "distinct", rate: rate)
        return
    }
    if args[3] == "echo" {
        await echoLoad(host: host, port: port, count: count)
        return
    }
    let query = RPIQuery(patientID: patientID, calledAETitle: "ANY-SCP")
    let clock = ContinuousClock()
    var latencies: [Double] = []
    latencies.reserveCapacity(count)
    let start = clock.now
    do {
        if perQuery {
            for _ in 0..<count {
                let t0 = clock.now
                let result = try await query.run(host: host, port: port)
                guard result.matches.count == 1 else { throw LoadError.unexpected("\(result.responses.map(\.status))") }
                latencies.append(seconds(clock.now - t0) * 1000)
            }
        } else {
            latencies = try await queriesOnOneAssociation(host: host, port: port, count: count, query: query)
        }
    } catch {
        print("rpi-load: \(error)")
        exit(1)
    }
    let total = seconds(clock.now - start)
    latencies.sort()
    let median = latencies[latencies.count / 2]
    let p99 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
    print(String(format: "%d queries (%@) in %.3f s: %.0f queries/s, latency median %.3f ms, p99 %.3f ms",
                 count, perQuery ? "one association per query" : "one association", total, Double(count) / total, median, p99))
}

enum LoadError: Error { case unexpected(String) }

/// When an open load's association sends its queries: once every association of the load is established
/// (`StartLine`), after `offset`, then one every `interval`.
struct Schedule: Sendable {
    var startLine: StartLine
    var offset: Duration
    var interval: Duration
}

/// Where the associations of an open load wait for one another, so that none is scheduled to send while others are
/// still associating: the last to arrive sets the common start.
actor StartLine {
    private var waiting: [CheckedContinuation<ContinuousClock.Instant, Never>] = []
    private var expected: Int
    private(set) var start: ContinuousClock.Instant?

    init(associations: Int) { expected = associations }

    func arrive() async -> ContinuousClock.Instant {
        if let start { return start }
        return await withCheckedContinuation { continuation in
            waiting.append(continuation)
            if waiting.count >= expected { release() }
        }
    }

    /// One association failed to associate: the others do not wait for it.
    func leave() {
        expected -= 1
        if start == nil, !waiting.isEmpty, waiting.count >= expected { release() }
    }

    private func release() {
        let now = ContinuousClock.now
        start = now
        for continuation in waiting { continuation.resume(returning: now) }
        waiting = []
    }
}

/// COUNT queries on one association; the latency of each (send, or with a `schedule` its scheduled time, to final
/// response) in milliseconds. With `distinctPrefix`, query i asks for PREFIX-i and expects no match; else each asks
/// for `query`'s patient and expects its one match.
func queriesOnOneAssociation(host: String, port: Int, count: Int, query: RPIQuery,
                             distinctPrefix: String? = nil, schedule: Schedule? = nil) async throws -> [Double] {
    var query = query
    query.callingAETitle = "BENCH"
    query.tls = try ProcessInfo.processInfo.environment["DICOMTAP_BENCH_TLS_CA"].map {
        try TLSContext.client(TLSClientSettings(caPath: $0, certificatePath: nil, keyPath: nil, serverName: nil, verifyServer: true))
    }
    let model = query.model
    let clock = ContinuousClock()
    var latencies: [Double] = []
    latencies.reserveCapacity(count)
    let client: DICOMClient
    let context: AcceptedContext
    var identifier: ByteBuffer
    do {
        client = try await DICOMClient.connect(host: host, port: port, parameters: query.associationParameters, tls: query.tls)
        guard let accepted = client.context(for: model.sopClassUID) else { throw LoadError.unexpected("no context") }
        context = accepted
        identifier = try context.encode(query.identifier())
    } catch {
        // The others do not wait for this one.
        await schedule?.startLine.leave()
        throw error
    }
    let start = await schedule?.startLine.arrive()
    for i in 0..<count {
        if let distinctPrefix {
            var distinct = query
            distinct.patientID = "\(distinctPrefix)-\(i + 1)"
            identifier = try context.encode(distinct.identifier())
        }
        var t0 = clock.now
        if let schedule, let start {
            let due = start + schedule.offset + schedule.interval * i
            if due > t0 { try await Task.sleep(until: due, clock: clock) }
            t0 = due
        }
        let id = client.nextMessageID()
        try await client.send(.cFindRequest(.init(messageID: id, affectedSOPClassUID: model.sopClassUID)),
                              dataSet: identifier, contextID: context.id)
        var pending = 0
        while let message = try await client.receive(timeout: .seconds(60)) {
            guard let status = message.command.status else { continue }
            if status == 0xFF00 || status == 0xFF01 { pending += 1; continue }
            guard status == 0, pending == (distinctPrefix == nil ? 1 : 0) else {
                throw LoadError.unexpected("status \(status), \(pending) pending")
            }
            break
        }
        latencies.append(seconds(clock.now - t0) * 1000)
    }
    try await client.release()
    return latencies
}

/// ASSOCIATIONS associations open at once, COUNT queries spread over them: every association is opened first
/// (all are concurrent for the whole run), then each sends its share; latency median and p99 over all queries.
/// With `rate` (queries per second over all associations), each association sends on a fixed schedule, the
/// associations' schedules staggered evenly, from the moment every association is established.
func concurrentLoad(host: String, port: Int, count: Int, associations: Int, patientID: String, distinct: Bool = false,
                    rate: Double? = nil) async {
    let query = RPIQuery(patientID: patientID, calledAETitle: "ANY-SCP")
    let clock = ContinuousClock()
    let start = clock.now
    let share = max(1, count / associations)
    let startLine = StartLine(associations: associations)
    let schedules: [Schedule?] = (0..<associations).map { index in
        guard let rate else { return nil }
        let interval = Duration.seconds(Double(associations) / rate)
        return Schedule(startLine: startLine, offset: interval * (Double(index) / Double(associations)), interval: interval)
    }
    var latencies: [Double] = []
    var failures: [String] = []
    await withTaskGroup(of: Result<[Double], any Error>.self) { group in
        for index in 0..<associations {
            let prefix = !distinct ? nil : associations == 1 ? patientID : "\(patientID)-A\(index + 1)"
            group.addTask {
                do {
                    return .success(try await queriesOnOneAssociation(host: host, port: port, count: share, query: query,
                                                                      distinctPrefix: prefix, schedule: schedules[index]))
                }
                catch { return .failure(error) }
            }
        }
        for await result in group {
            switch result {
            case .success(let l): latencies += l
            case .failure(let e): failures.append("\(e)")
            }
        }
    }
    let scheduledStart = await startLine.start
    let total = seconds(clock.now - (rate == nil ? start : scheduledStart ?? start))
    guard !latencies.isEmpty else {
        print("rpi-load: every association failed: \(failures.first ?? "?")")
        exit(1)
    }
    latencies.sort()
    print(String(format: "%d queries on %d concurrent associations%@ in %.3f s: %.0f queries/s, latency median %.3f ms, p99 %.3f ms, %d associations failed%@",
                 latencies.count, associations, rate.map { String(format: " (open load, %.0f queries/s offered)", $0) } ?? "", total, Double(latencies.count) / total, latencies[latencies.count / 2],
                 latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))], failures.count,
                 failures.first.map { " (first: \($0))" } ?? ""))
}

/// COUNT associations, each with one C-ECHO: the per-association cost of an SCP (DCMTK's, pynetdicom's, ours).
func echoLoad(host: String, port: Int, count: Int) async {
    let clock = ContinuousClock()
    var latencies: [Double] = []
    let start = clock.now
    do {
        for _ in 0..<count {
            let t0 = clock.now
            let client = try await DICOMClient.connect(host: host, port: port, parameters: AssociationParameters(
                callingAETitle: "BENCH", calledAETitle: "ANY-SCP",
                contexts: PresentationContextProposal.numbered(["1.2.840.10008.1.1"])))
            try await client.send(.cEchoRequest(.init(messageID: client.nextMessageID())), dataSet: nil, contextID: 1)
            guard let rsp = try await client.receive(timeout: .seconds(30)), rsp.command.status == 0 else {
                throw LoadError.unexpected("no C-ECHO success")
            }
            try await client.release()
            latencies.append(seconds(clock.now - t0) * 1000)
        }
    } catch {
        print("rpi-load: \(error)")
        exit(1)
    }
    let total = seconds(clock.now - start)
    latencies.sort()
    print(String(format: "%d associations with one C-ECHO in %.3f s: %.0f associations/s, median %.3f ms, p99 %.3f ms",
                 count, total, Double(count) / total, latencies[latencies.count / 2],
                 latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]))
}
