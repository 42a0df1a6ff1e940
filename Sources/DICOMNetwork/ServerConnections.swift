import DICOMUL
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A server's open connections and its `ServerConfiguration.maxAssociations`: when a new connection comes and the
/// limit is reached, the oldest connection that has not sent its A-ASSOCIATE-RQ is closed to make room (idle
/// connections never lock out a real association); when every one has, the new connection is past the limit and its
/// A-ASSOCIATE-RQ gets A-ASSOCIATE-RJ 2/3/2 (local-limit-exceeded). A connection past the limit is itself one to
/// close for the next, so they stay few; ARTIM closes any that says nothing.
final class ServerConnections: Sendable {
    struct Connection: Sendable {
        let channel: any Channel
        let remote: String
        let opened: NIODeadline
        var requested = false
    }

    /// nil: no limit.
    let limit: Int?
    private let table = NIOLockedValueBox<[Int: Connection]>([:])

    init(limit: Int?) {
        self.limit = limit
    }

    /// Takes connection `number` in: whether it is past the limit, and the connection it replaces (already out of
    /// the table; the caller closes it).
    func admit(_ number: Int, channel: any Channel, remote: String) -> (overLimit: Bool, replacing: Connection?) {
        table.withLockedValue { table in
            var replacing: Connection?
            if let limit, table.count >= limit,
               let oldest = table.filter({ !$0.value.requested }).min(by: { $0.key < $1.key }) {
                replacing = oldest.value
                table[oldest.key] = nil
            }
            let overLimit = limit.map { table.count >= $0 } ?? false
            table[number] = Connection(channel: channel, remote: remote, opened: .now())
            return (overLimit, replacing)
        }
    }

    /// The connection's A-ASSOCIATE-RQ is in: it is not one to close to make room.
    func requested(_ number: Int) {
        table.withLockedValue { $0[number]?.requested = true }
    }

    func remove(_ number: Int) {
        table.withLockedValue { _ = $0.removeValue(forKey: number) }
    }

    var channels: [any Channel] { table.withLockedValue { $0.values.map(\.channel) } }
    var count: Int { table.withLockedValue { $0.count } }

    /// A-ASSOCIATE-RJ rejected-transient, service-provider (Presentation), local-limit-exceeded (PS3.8 Table 9-21).
    static let localLimitExceeded = AssociateReject(result: .rejectedTransient, source: .serviceProviderPresentation,
                                                    reason: AssociateReject.Reason.localLimitExceeded)

    /// The A-ASSOCIATE-RQ of a connection past the limit: A-ASSOCIATE-RJ 2/3/2, said.
    static func refuse(_ rq: AssociateRequest, from remote: String, limit: Int, logger: Logger) -> AssociateDecision {
        let line = "association rejected: \(peers(rq, remote)): \(limit) associations open, the limit "
            + "(--max-associations \(limit)) (A-ASSOCIATE-RJ \(localLimitExceeded))"
        logger.notice("\(line)")
        return .reject(localLimitExceeded, why: "--max-associations \(limit) reached")
    }

    /// Closes `connection` to make room, saying so.
    static func close(_ connection: Connection, limit: Int, logger: Logger) {
        let milliseconds = (NIODeadline.now() - connection.opened).nanoseconds / 1_000_000
        let line = "closed: from \(connection.remote) sent no A-ASSOCIATE-RQ in \(Double(milliseconds) / 1000) s; "
            + "closed to make room for a new connection (--max-associations \(limit) reached)"
        logger.notice("\(line)")
        connection.channel.close(promise: nil)
    }
}
