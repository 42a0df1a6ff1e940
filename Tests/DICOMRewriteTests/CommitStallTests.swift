import DICOMCore
import DICOMNetwork
import DIMSE
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy
@testable import DICOMRewrite

/// An SCP that answers every C-FIND with Success and no match.
private struct EmptyFindSCP: DICOMServiceHandler {
    func handle(_ request: DIMSEMessageAssembly, association: ServerAssociation, responder: DIMSEResponder) async throws {
        guard case .cFindRequest(let find) = request.command else { return }
        try await responder.send(.cFindResponse(CFindResponse(messageIDBeingRespondedTo: find.messageID, status: 0x0000,
                                                              affectedSOPClassUID: find.affectedSOPClassUID)), dataSet: nil)
    }
}

/// A C-FIND whose identifier adds 200,000 new pseudonyms does not stall another association on
/// the same event loop while they are written: the proxy runs on one event loop thread, the
/// mapping store is locked by another writer (so the commit waits for as long as the test
/// wants), and a second association's C-ECHOs go through meanwhile. Ordered by events, not by a clock.
@Suite(.peers, .requires(.pynetdicom)) struct CommitStallTests {
    static let find = "1.2.840.10008.5.1.4.1.2.1.1"
    static let verification = "1.2.840.10008.1.1"

    @Test func aBigCommitDoesNotStallAnotherAssociation() async throws {
        let dir = try TemporaryDirectory("stall")
        defer { dir.remove() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let scp = try await DICOMServer.start(port: 0, configuration: ServerConfiguration(
            supportedContexts: [Self.find: ["1.2.840.10008.1.2.1"], Self.verification: ["1.2.840.10008.1.2.1"]],
            // Never idle here: beside a parallel build the commit of 200,000 pseudonyms took over 300 s, and the
            // SCP's association waits for the query meanwhile (the proxy counts a commit as activity).
            idleTimeout: nil,
            messageLimits: MessageAssembler.Configuration(maximumDataSetLength: 64 << 20)), handler: EmptyFindSCP(), group: group)

        var rules = pseudonymRules(["PatientID"])
        rules.maximumNewPseudonyms = 300_000
        let store = try MappingStore(path: dir.file("map.sqlite"))
        let rewriter = try Rewriter(rules: rules, key: testKey, store: store)
        let (started, startedContinuation) = AsyncStream<Int>.makeStream()
        store.commitWillBegin = { count in startedContinuation.yield(count) }

        // Another writer holds the store's write lock until the test says so.
        let release = dir.file("release")
        let locker = try Subprocess(Peers.python ?? "/usr/bin/python3", ["-c", """
            import sqlite3, os, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            while not os.path.exists(sys.argv[2]):
                time.sleep(0.02)
            c.execute("COMMIT")
            """, dir.file("map.sqlite"), release], name: "locker", directory: dir)
        defer { locker.stop() }
        #expect(try await locker.firstLine(timeout: .seconds(60)) == "locked")

        try await withProxy(upstream: scp.port, threads: 1, configure: { $0.rewriter = rewriter }) { proxy in
            func connect(_ contexts: [String]) async throws -> DICOMClient {
                try await DICOMClient.connect(host: "127.0.0.1", port: proxy.port, parameters: AssociationParameters(
                    contexts: PresentationContextProposal.numbered(contexts)), group: group)
            }
            let other = try await connect([Self.verification])
            let big = try await connect([Self.find])

            var identifier = Dataset(encoding: .explicitLittleEndian)
            identifier.set(element("PatientID", "BIG-QUERY-1"))
            let items = (0..<200_000).map { i -> Dataset in
                var item = Dataset(encoding: .explicitLittleEndian)
                item.set(element("PatientID", "OID-\(i)"))
                return item
            }
            identifier.set(DataElement.sequence(Tag(0x0010_1002), items: items, isBigEndian: false))
            let bytes = try DatasetEncoder().encode(identifier)
            let query = Task {
                try await big.send(.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: Self.find)), dataSet: bytes, contextID: 1)
                // Generous: 200,000 values are rewritten, committed and decoded by a debug build, on a machine that may be busy.
                return try await big.receive(timeout: .seconds(900))
            }

            // The proxy is writing the query's new pseudonyms (and waits for the lock) ...
            // (the first batch: the pseudonyms of the first fragments; the message waits for them)
            var iterator = started.makeAsyncIterator()
            let count = await iterator.next()
            #expect((count ?? 0) > 0)
            // ... and the other association, on the same event loop, is answered meanwhile.
            for n in 1...5 {
                let id = other.nextMessageID()
                try await other.send(.cEchoRequest(CEchoRequest(messageID: id)), dataSet: nil, contextID: 1)
                let response = try #require(try await other.receive(timeout: .seconds(60)), "echo \(n)")
                #expect(response.command.status == 0x0000)
            }
            #expect(try store.count() == 0, "the commit went through while the store was locked")

            // The lock goes: the query's pseudonyms are written, then it reaches the SCP.
            _ = FileManager.default.createFile(atPath: release, contents: nil)
            let answer = try await query.value
            #expect(answer?.command.status == 0x0000)
            #expect(try store.count() == 200_001)
            try await other.release()
            try await big.release()
        }
        await scp.shutdown()
        try await group.shutdownGracefully()
    }
}
