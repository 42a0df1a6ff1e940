// Relevant Patient Information C-FIND load from our SCU (a fast client, so the figures are the server's):
// COUNT queries either on one association or one association per query; prints queries per second and
// the latency of each query (send to final response) as median and p99.
import DICOMNetwork
import DICOMServices
import DICOMStore
import Foundation
import NIOCore

func rpiLoad(_ args: [String]) async {
    guard args.count >= 5, let port = Int(args[1]), let count = Int(args[2]), ["one", "per-query", "echo"].contains(args[3]) else {
        FileHandle.standardError.write(Data("usage: dicomtap-bench rpi-load HOST PORT COUNT one|per-query|echo PATIENT-ID\n".utf8))
        exit(2)
    }
    let host = args[0], perQuery = args[3] == "per-query", patientID = args[4]
    if args[3] == "echo" {
        await echoLoad(host: host, port: port, count: count)
        return
    }
    let query = RPIQuery(patientID: patientID, calledAETitle: "ANY-SCP")
    let model = RPIQueryModel.general
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
            let client = try await DICOMClient.connect(host: host, port: port, parameters: AssociationParameters(
                callingAETitle: "BENCH", calledAETitle: "ANY-SCP",
                contexts: [PresentationContextProposal(id: 1, abstractSyntax: model.sopClassUID,
                                                       transferSyntaxes: PresentationContextProposal.defaultTransferSyntaxes)]))
            guard let context = client.context(for: model.sopClassUID) else { throw LoadError.unexpected("no context") }
            let identifier = try context.encode(query.identifier())
            for _ in 0..<count {
                let t0 = clock.now
                let id = client.nextMessageID()
                try await client.send(.cFindRequest(.init(messageID: id, affectedSOPClassUID: model.sopClassUID)),
                                      dataSet: identifier, contextID: context.id)
                var pending = 0
                while let message = try await client.receive(timeout: .seconds(30)) {
                    guard let status = message.command.status else { continue }
                    if status == 0xFF00 || status == 0xFF01 { pending += 1; continue }
                    guard status == 0, pending == 1 else { throw LoadError.unexpected("status \(status), \(pending) pending") }
                    break
                }
                latencies.append(seconds(clock.now - t0) * 1000)
            }
            try await client.release()
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
