import NIOCore
import Testing
@testable import DICOMUL

/// `UserIdentityCredentials.mask`: the secrets of User Identity Negotiation (PS3.7 D.3.3.7)
/// become zeros of the same length, the username and every other byte stay, and the PDU still
/// decodes to the same structure.
@Suite struct UserIdentityCredentialsTests {
    static let username = Array("pacsadmin".utf8)
    static let secret = Array("s3cret-passcode".utf8)

    static func request(type: UserIdentityType, primary: [UInt8], secondary: [UInt8] = []) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "ANY-SCP", callingAETitle: "MODALITY1", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextRequest(PresentationContextRequestItem(contextID: 1, abstractSyntax: "1.2.840.10008.1.1",
                                                                       transferSyntaxes: ["1.2.840.10008.1.2"])),
            .userInformation(UserInformationItem(subItems: [
                .maximumLength(MaximumLengthSubItem(maximumLength: 16384)),
                .implementationClassUID("1.2.3.4"),
                .userIdentityRequest(UserIdentityRequestSubItem(identityType: type, positiveResponseRequested: 1,
                                                                primaryField: primary, secondaryField: secondary)),
                .implementationVersionName("AFTER_IDENTITY"),
            ])),
        ])
        return PDU.associateRequest(AssociateRequest(fields: fields)).encoded()
    }

    static func accept(serverResponse: [UInt8]) -> ByteBuffer {
        let fields = AssociationPDUFields(calledAETitle: "ANY-SCP", callingAETitle: "MODALITY1", items: [
            .applicationContext(ApplicationContextItem()),
            .presentationContextAccept(PresentationContextAcceptItem(contextID: 1, result: .acceptance,
                                                                     transferSyntax: "1.2.840.10008.1.2")),
            .userInformation(UserInformationItem(subItems: [
                .maximumLength(MaximumLengthSubItem(maximumLength: 16384)),
                .userIdentityAccept(UserIdentityAcceptSubItem(serverResponse: serverResponse)),
            ])),
        ])
        return PDU.associateAccept(AssociateAccept(fields: fields)).encoded()
    }

    static func identity(_ bytes: ByteBuffer) throws -> UserIdentityRequestSubItem {
        guard case .associateRequest(let rq) = try Self.decode(bytes) else { throw PDUDecodingError(.truncated, offset: 0, "not an RQ") }
        for case .userIdentityRequest(let u) in rq.fields.userInformation?.subItems ?? [] { return u }
        throw PDUDecodingError(.truncated, offset: 0, "no user identity")
    }

    struct Case: Sendable, CustomStringConvertible {
        var type: UserIdentityType
        var primary: [UInt8]
        var secondary: [UInt8]
        var primaryIsSecret: Bool
        var description: String { "type \(type.rawValue)" }
    }

    static let cases: [Case] = [
        Case(type: .username, primary: username, secondary: [], primaryIsSecret: false),
        Case(type: .usernameAndPasscode, primary: username, secondary: secret, primaryIsSecret: false),
        Case(type: .kerberos, primary: Array("KRB5-TICKET-0123456789".utf8), secondary: [], primaryIsSecret: true),
        Case(type: .saml, primary: Array("<saml:Assertion>secret</saml:Assertion>".utf8), secondary: [], primaryIsSecret: true),
        Case(type: .jwt, primary: Array("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".utf8), secondary: [], primaryIsSecret: true),
        Case(type: UserIdentityType(rawValue: 9), primary: Array("unknown-kind".utf8), secondary: [], primaryIsSecret: true),
    ]

    @Test(arguments: cases)
    func secretsBecomeZerosOfTheSameLength(_ c: Case) throws {
        let original = Self.request(type: c.type, primary: c.primary, secondary: c.secondary)
        var masked = original
        let changed = UserIdentityCredentials.mask(&masked)
        #expect(masked.readableBytes == original.readableBytes)
        let u = try Self.identity(masked)
        #expect(u.identityType == c.type)
        #expect(u.positiveResponseRequested == 1)
        #expect(u.primaryField == (c.primaryIsSecret ? [UInt8](repeating: 0, count: c.primary.count) : c.primary))
        #expect(u.secondaryField == [UInt8](repeating: 0, count: c.secondary.count))
        #expect(changed == (c.primaryIsSecret ? c.primary.count : 0) + c.secondary.count)
        #expect(u.credentialsAreZeroed == (changed > 0))
        #expect(try Self.identity(original).credentialsAreZeroed == false)
        // Everything but the secret bytes is as it was, the sub-items after it too.
        let differing = zip(original.readableBytesView, masked.readableBytesView).filter { $0 != $1 }.count
        #expect(differing == changed)
        guard case .associateRequest(let rq) = try Self.decode(masked) else { return }
        #expect(rq.fields.userInformation?.subItems.last == .implementationVersionName("AFTER_IDENTITY"))
    }

    @Test func serverResponseBecomesZeros() throws {
        let response = Array("server-response-token".utf8)
        var masked = Self.accept(serverResponse: response)
        #expect(UserIdentityCredentials.mask(&masked) == response.count)
        guard case .associateAccept(let ac) = try Self.decode(masked) else {
            Issue.record("not an A-ASSOCIATE-AC")
            return
        }
        #expect(ac.fields.userInformation?.subItems.last
            == .userIdentityAccept(UserIdentityAcceptSubItem(serverResponse: [UInt8](repeating: 0, count: response.count))))
    }

    /// The start of a PDU (a hex dump, a recording cut short): the secret bytes at hand are zeroed.
    @Test func aPrefixIsMaskedAsFarAsItGoes() throws {
        let full = Self.request(type: .usernameAndPasscode, primary: Self.username, secondary: Self.secret)
        let bytes = Array(full.readableBytesView)
        let secretStart = try #require(Self.find(Self.secret, in: bytes))
        for cut in [secretStart - 1, secretStart, secretStart + 3, bytes.count - 1] {
            var prefix = ByteBuffer(bytes: bytes[0..<cut])
            UserIdentityCredentials.mask(&prefix)
            let masked = Array(prefix.readableBytesView)
            #expect(masked.count == cut)
            let before = min(cut, secretStart)
            let secretEnd = min(cut, secretStart + Self.secret.count)
            #expect(masked[..<before] == bytes[..<before], "cut at \(cut)")
            #expect(masked[before..<secretEnd].allSatisfy { $0 == 0 }, "cut at \(cut)")
            #expect(masked[secretEnd...] == bytes[secretEnd..<cut], "cut at \(cut)")
        }
    }

    /// A sub-item whose primary field length runs past it: the secret could be anywhere after
    /// that point, so the rest of the sub-item is zeroed.
    @Test func aLengthThatRunsPastItsContainerZeroesTheRest() throws {
        var bytes = Array(Self.request(type: .usernameAndPasscode, primary: Self.username, secondary: Self.secret).readableBytesView)
        let usernameStart = try #require(Self.find(Self.username, in: bytes))
        bytes[usernameStart - 2] = 0x7F  // primary field length 0x7F09
        var masked = ByteBuffer(bytes: bytes)
        UserIdentityCredentials.mask(&masked)
        let result = Array(masked.readableBytesView)
        #expect(result.count == bytes.count)
        #expect(Self.find(Self.secret, in: result) == nil)
        #expect(Self.find(Self.username, in: result) == nil)
        #expect(result[..<usernameStart] == bytes[..<usernameStart])
    }

    @Test func otherPDUsAreLeftAlone() {
        for pdu in PDUTests.allPDUs where pdu.type != .associateRequest && pdu.type != .associateAccept {
            let original = pdu.encoded()
            var copy = original
            #expect(UserIdentityCredentials.mask(&copy) == 0)
            #expect(copy == original)
        }
    }

    /// The real A-ASSOCIATE-RQ and -AC of pynetdicom negotiating a JSON Web Token.
    @Test func pynetdicomJWTNegotiation() throws {
        for direction in ["rq", "ac"] {
            let stream = PeerFixtureTests.stream("pynetdicom_user_identity_jwt", direction)
            let length = Int(try #require(stream.getInteger(at: stream.readerIndex + 2, as: UInt32.self)))
            var pdu = try #require(stream.getSlice(at: stream.readerIndex, length: 6 + length))
            let before = pdu
            #expect(UserIdentityCredentials.mask(&pdu) > 0, "\(direction)")
            #expect(pdu.readableBytes == before.readableBytes)
            switch try Self.decode(pdu) {
            case .associateRequest(let rq):
                let identity = rq.fields.userInformation?.subItems.compactMap { item -> UserIdentityRequestSubItem? in
                    if case .userIdentityRequest(let u) = item { return u } else { return nil }
                }.first
                #expect(identity?.identityType == .jwt)
                #expect(identity?.credentialsAreZeroed == true)
            case .associateAccept(let ac):
                let response = ac.fields.userInformation?.subItems.compactMap { item -> [UInt8]? in
                    if case .userIdentityAccept(let u) = item { return u.serverResponse } else { return nil }
                }.first
                #expect(response?.isEmpty == false)
                #expect(response?.allSatisfy { $0 == 0 } == true)
            default:
                Issue.record("\(direction): not an association PDU")
            }
        }
    }

    static func decode(_ bytes: ByteBuffer) throws -> PDU {
        var b = bytes
        var decoder = PDUDecoder()
        let pdu = try #require(try decoder.decode(buffer: &b))
        #expect(b.readableBytes == 0)
        return pdu
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
