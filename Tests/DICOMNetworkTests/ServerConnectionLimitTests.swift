import DICOMNetwork
import DICOMPeerSupport
import DICOMUL
import NIOCore
import NIOPosix
import Testing

/// `serve --max-associations` (`ServerConfiguration.maxAssociations`) with raw peers on loopback: connections that
/// sent no A-ASSOCIATE-RQ make room for real associations, oldest first; when every place holds an association, the
/// next A-ASSOCIATE-RQ gets A-ASSOCIATE-RJ 2/3/2.
@Suite(.ownExecutor) struct ServerConnectionLimitTests {
    @Test func idleConnectionsMakeRoomThenAFullServerRefusesWithLocalLimitExceeded() async throws {
        var limited = configuration()
        limited.maxAssociations = 2
        // The server accepts on an event loop of its own: in one CI run, beside the 1,100-connection flood of
        // ConnectionLimitCommandTests on the shared loops, its first connection was not accepted within 180 s.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        try await withServer(limited, group: group) { server in
            let first = try await RawPeer.connect(port: server.port)
            try await eventually("one connection", timeout: patience) { server.openConnections == 1 }
            let second = try await RawPeer.connect(port: server.port)
            try await eventually("two connections", timeout: patience) { server.openConnections == 2 }
            // Each real association takes the place of the oldest idle connection.
            let (a, _) = try await RawPeer.associate(port: server.port)
            try await first.waitUntilClosed()
            #expect(!second.isClosed)
            let (b, _) = try await RawPeer.associate(port: server.port)
            try await second.waitUntilClosed()
            // Both places hold associations: the next is refused, and they go on.
            let refused = try await RawPeer.connect(port: server.port)
            try await refused.send(.associateRequest(parameters().associateRequest))
            _ = try await refused.waitForPDU("the A-ASSOCIATE-RJ") { if case .associateReject = $0 { true } else { false } }
            #expect(Array(refused.collector.received.current.readableBytesView) == [0x03, 0, 0, 0, 0, 4, 0, 2, 3, 2])
            try? await refused.channel.close()
            #expect(!a.isClosed && !b.isClosed)
            for peer in [a, b] { try? await peer.channel.close() }
        }
    }
}
