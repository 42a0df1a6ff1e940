import DICOMDemo
import DICOMPeerSupport
import DICOMServices
import Foundation
import Logging
import Testing

/// `dicomtap demo` in process: our SCP on the shipped demo data, the proxy in front of it, one query through the proxy.
@Suite(.peers) struct DemoTests {
    static let demoData = Peers.repository.appendingPathComponent("demo").path
    /// Not the demo's 30 s: at the start of a full run on two cores the cooperative pool, which our SCP's
    /// handler runs on, can be busy for 40 s (one run saw the query time out at 31.9 s and the SCP answer later).
    static let queryTimeout = Duration.seconds(180)

    @Test func demoQueriesThroughTheProxy() async throws {
        let lines = Locked<[String]>([])
        var demo = Demo(dataPaths: [Self.demoData], proxyLevel: .critical)
        demo.queryTimeout = Self.queryTimeout
        let running = try await demo.start { line in lines.withValue { $0.append(line) } }
        let result = try await demo.query(running) { line in lines.withValue { $0.append(line) } }
        await running.stop()
        #expect(result.responses.map(\.status) == [0xFF00, 0x0000])
        #expect(lines.current.joined().contains("Meyer^Anna"))
        #expect(lines.current.last?.hasPrefix("query: 1 match, final Success 0x0000") == true, "\(lines.current.last ?? "")")
    }

    /// `demo --tls`: mutual TLS on both legs with a throwaway CA, removed at the end.
    @Test func demoOverTLS() async throws {
        let lines = Locked<[String]>([])
        var demo = Demo(dataPaths: [Self.demoData], proxyLevel: .critical, tls: true)
        demo.queryTimeout = Self.queryTimeout
        let running = try await demo.start { line in lines.withValue { $0.append(line) } }
        let result = try await demo.query(running) { line in lines.withValue { $0.append(line) } }
        await running.stop()
        #expect(result.responses.map(\.status) == [0xFF00, 0x0000])
        let summary = lines.current.last ?? ""
        #expect(summary.contains("TLS 1.3") && summary.contains("server certificate CN=demo proxy issued by CN=DICOMTap demo CA"),
                "\(summary)")
        let folder = try #require(lines.current.first { $0.hasPrefix("tls: ") }?.components(separatedBy: " in ").last)
        #expect(!FileManager.default.fileExists(atPath: folder), "the throwaway certificates are removed: \(folder)")
    }
}
