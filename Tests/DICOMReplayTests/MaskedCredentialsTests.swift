import DICOMInspect
import DICOMUL
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import DICOMProxy
@testable import DICOMReplay

/// A proxy recording whose User Identity credentials were masked (zeros of the same length,
/// `dicomtap proxy` without `--record-secrets`) still replays, and replay says once that the
/// SCP may refuse it.
@Suite struct MaskedCredentialsTests {
    static let passcode = Array("PASSCODE-9e21".utf8)
    static let identity = UserIdentityRequestSubItem(identityType: .usernameAndPasscode, positiveResponseRequested: 0,
                                                     primaryField: Array("REPLAYUSER".utf8), secondaryField: passcode)

    /// One association (A-ASSOCIATE-RQ with a username and passcode, -AC, A-RELEASE) written by
    /// the proxy's own recorder.
    static func recording(recordsSecrets: Bool, in dir: TemporaryDirectory) async throws -> String {
        let echo = "1.2.840.10008.1.1"
        let implicit = "1.2.840.10008.1.2"
        let rq = PDU.associateRequest(AssociateRequest(fields: AssociationPDUFields(
            calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: [
                .applicationContext(ApplicationContextItem()),
                .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: echo, transferSyntaxes: [implicit])),
                .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384)),
                                                                .userIdentityRequest(identity)])),
            ]))).encoded()
        let ac = PDU.associateAccept(AssociateAccept(fields: AssociationPDUFields(
            calledAETitle: "ARCHIVE", callingAETitle: "MODALITY", items: [
                .applicationContext(ApplicationContextItem()),
                .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance, transferSyntax: implicit)),
                .userInformation(UserInformationItem(subItems: [.maximumLength(MaximumLengthSubItem(maximumLength: 16384))])),
            ]))).encoded()
        let recorder = AssociationRecorder(recordsSecrets: recordsSecrets, logger: Logger(label: "test.recorder"))
        let start = Timestamp.wallClock()
        recorder.start(client: try SocketAddress(ipAddress: "127.0.0.1", port: 40_000),
                       server: try SocketAddress(ipAddress: "127.0.0.1", port: 104), at: start)
        // The A-ASSOCIATE-RQ in two pieces, as TCP may deliver it.
        recorder.record(rq.getSlice(at: 0, length: 80) ?? ByteBuffer(), from: .requestor, at: start)
        recorder.record(rq.getSlice(at: 80, length: rq.readableBytes - 80) ?? ByteBuffer(), from: .requestor, at: start)
        recorder.record(ac, from: .acceptor, at: start)
        recorder.record(ByteBuffer(bytes: [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]), from: .requestor, at: start)
        recorder.record(ByteBuffer(bytes: [0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]), from: .acceptor, at: start)
        recorder.finish(at: start)
        recorder.open(directory: dir.path, stem: "recording")
        try await recorder.close(on: MultiThreadedEventLoopGroup.singleton.next()).get()
        return try #require(recorder.path)
    }

    static func recordedIdentity(_ conversation: RecordedConversation) -> UserIdentityRequestSubItem? {
        for association in conversation.associations {
            for case .userIdentityRequest(let identity) in association.associateRequest.fields.userInformation?.subItems ?? [] {
                return identity
            }
        }
        return nil
    }

    @Test func maskedCredentialsAreNotedOnce() async throws {
        let dir = try TemporaryDirectory("masked-replay")
        defer { dir.remove() }
        let path = try await Self.recording(recordsSecrets: false, in: dir)
        #expect(!Array(try Data(contentsOf: URL(fileURLWithPath: path))).contains(bytes: Self.passcode))
        let conversation = try RecordedConversation.load(path: path)
        let identity = try #require(Self.recordedIdentity(conversation))
        #expect(identity.primaryField == Self.identity.primaryField)
        #expect(identity.secondaryField == [UInt8](repeating: 0, count: Self.passcode.count))
        let notes = conversation.warnings.filter { $0.contains("User Identity credentials") }
        #expect(notes == [RecordedConversation.maskedCredentialsNote(conversation.associations)])
        #expect(notes.first?.contains("association 1 ") == true)
        #expect(notes.first?.contains("--record-secrets") == true)
        #expect(notes.first?.contains("may refuse") == true)
        // The replay sends what was recorded.
        let sent = SCUReplayer(options: SCUReplayOptions(host: "127.0.0.1", port: 104)).parameters(for: conversation.associations[0])
        #expect(sent.extraUserInformation.contains(.userIdentityRequest(identity)))
    }

    @Test func credentialsRecordedWithRecordSecretsAreNotNoted() async throws {
        let dir = try TemporaryDirectory("secret-replay")
        defer { dir.remove() }
        let path = try await Self.recording(recordsSecrets: true, in: dir)
        let conversation = try RecordedConversation.load(path: path)
        #expect(Self.recordedIdentity(conversation) == Self.identity)
        #expect(!conversation.warnings.contains { $0.contains("User Identity credentials") })
    }

    /// `dicomtap replay` says it on stderr, once, before it tries the SCP.
    @Test(.peers, .requires(.dicomtap))
    func replayCommandSaysItOnce() async throws {
        let dir = try TemporaryDirectory("masked-replay-cli")
        defer { dir.remove() }
        let path = try await Self.recording(recordsSecrets: false, in: dir)
        let nobody = try freePort()
        let replay = try Subprocess(Peers.dicomtap, ["replay", path, "--to", "127.0.0.1:\(nobody)", "--timeout", "5"],
                                    name: "replay", directory: dir)
        _ = try await replay.wait(timeout: .seconds(60))
        #expect(replay.process.terminationStatus == 2, "\(replay.stdout)\(replay.stderr)")
        let notes = replay.stderr.components(separatedBy: "\n").filter { $0.contains("User Identity credentials") }
        #expect(notes.count == 1, "\(replay.stderr)")
        #expect(notes.first?.hasPrefix("dicomtap replay: warning: ") == true)
    }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
