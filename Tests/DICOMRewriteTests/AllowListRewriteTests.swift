import DICOMUL
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy
@testable import DICOMRewrite

/// With rewriting on, the allow-list is checked against the calling AE title the SCU sent, before
/// `--calling-ae` rewrites it: the title the SCP knows the SCU by opens no door.
@Suite(.peers) struct AllowListRewriteTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func associateRequest(calling: String) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "ARCHIVE", callingAETitle: calling, items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: "1.2.840.10008.1.1",
                                                                       transferSyntaxes: ["1.2.840.10008.1.2"])),
            .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
        ])
        return PDU.associateRequest(AssociateRequest(fields: fields)).encoded()
    }

    /// A-ASSOCIATE-RJ (PS3.8 Table 9-21).
    static func reject(_ result: UInt8, _ source: UInt8, _ reason: UInt8) -> [UInt8] {
        [0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, result, source, reason]
    }

    @Test func checkedBeforeTheCallingAETitleIsRewritten() async throws {
        var rules = RewriteRules()
        rules.aeTitles.calling = ["MODALITY": "ALIAS"]
        let rewriter = try Rewriter(rules: rules, key: nil)
        // Nothing listens upstream: an allowed SCU gets as far as the connection attempt (2/3/1).
        let closedPort = try freePort()
        try await withProxy(upstream: closedPort, configure: {
            $0.rewriter = rewriter
            $0.allowList = try? CallingAEAllowList(parsing: ["MODALITY@127.0.0.1"])
        }) { proxy in
            for (calling, expected) in [("ALIAS", Self.reject(1, 1, 3)), ("MODALITY", Self.reject(2, 3, 1))] {
                let client = try await RawClient.connect(port: proxy.port, group: group)
                try await client.send(Self.associateRequest(calling: calling))
                #expect(try await client.receive(atLeast: 10) == expected, "\(calling)")
                try await client.waitUntilClosed()
            }
            try await eventually("two ends") { proxy.logs.lines.current.filter { $0.contains("END  ") }.count == 2 }
            #expect(proxy.logs.text.contains("calling AE title \"ALIAS\" from 127.0.0.1 is not on the allow-list"), "\(proxy.logs.text)")
            #expect(proxy.logs.text.contains("END  rejected by the proxy (calling-ae-not-allowed)"))
            #expect(proxy.logs.text.contains("END  rejected by the proxy (upstream-unreachable)"))
        }
    }
}
