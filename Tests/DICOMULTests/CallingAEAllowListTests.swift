import NIOCore
import Testing
@testable import DICOMUL

/// `--allow AE[@ADDRESS[/PREFIX]]` (proxy and serve): what is read, what is refused and why, and
/// which calling AE titles from which addresses are let in.
@Suite struct CallingAEAllowListTests {
    func parseError(_ text: String) -> String? {
        do {
            _ = try CallingAEAllowList.Entry(parsing: text)
            return nil
        } catch {
            return error.description
        }
    }

    func address(_ text: String) -> IPAddress? { IPAddress(text) }

    @Test func readsTheThreeForms() throws {
        let plain = try CallingAEAllowList.Entry(parsing: "MODALITY")
        #expect(plain.aeTitle == "MODALITY")
        #expect(plain.network == nil)
        #expect(plain.description == "MODALITY")

        let block = try CallingAEAllowList.Entry(parsing: "MODALITY@10.1.2.0/24")
        #expect(block.network?.address == address("10.1.2.0"))
        #expect(block.network?.prefixLength == 24)
        #expect(block.description == "MODALITY@10.1.2.0/24")

        // One address: /32 or /128.
        #expect(try CallingAEAllowList.Entry(parsing: "WS1@127.0.0.1").description == "WS1@127.0.0.1/32")
        #expect(try CallingAEAllowList.Entry(parsing: "X@::1/128").description == "X@::1/128")
        #expect(try CallingAEAllowList.Entry(parsing: "X@::1").network?.prefixLength == 128)
        #expect(try CallingAEAllowList.Entry(parsing: "X@[fd00::1]/64").description == "X@fd00::/64")
        // Host bits past the prefix are cleared; /0 is every address of the family.
        #expect(try CallingAEAllowList.Entry(parsing: "X@10.1.2.3/8").description == "X@10.0.0.0/8")
        #expect(try CallingAEAllowList.Entry(parsing: "X@0.0.0.0/0").description == "X@0.0.0.0/0")
        // Spaces around the AE title are not significant; inside they are.
        #expect(try CallingAEAllowList.Entry(parsing: "  MY AE ").aeTitle == "MY AE")
        // The last @ separates the address: an AE title may hold @.
        let at = try CallingAEAllowList.Entry(parsing: "A@B@10.0.0.1")
        #expect(at.aeTitle == "A@B")
        #expect(at.network?.description == "10.0.0.1/32")
        // An IPv4-mapped IPv6 block of /96 or more is the IPv4 block.
        #expect(try CallingAEAllowList.Entry(parsing: "X@::ffff:10.0.0.0/104").description == "X@10.0.0.0/8")
        // 16 characters is the most an AE title has.
        #expect(try CallingAEAllowList.Entry(parsing: "ABCDEFGHIJKLMNOP").aeTitle == "ABCDEFGHIJKLMNOP")
    }

    @Test func refusesBadEntriesInWords() {
        #expect(parseError("")?.contains("no AE title; write AE, AE@ADDRESS or AE@ADDRESS/PREFIX") == true)
        #expect(parseError("   ")?.contains("no AE title") == true)
        #expect(parseError("@10.0.0.1") == "\"@10.0.0.1\": the AE title before @ is empty")
        #expect(parseError("  @10.0.0.1")?.contains("the AE title before @ is empty") == true)
        #expect(parseError("ABCDEFGHIJKLMNOPQ")
                == "\"ABCDEFGHIJKLMNOPQ\": the AE title \"ABCDEFGHIJKLMNOPQ\" has 17 characters; AE titles have at most 16")
        #expect(parseError("ABCDEFGHIJKLMNOPQ@10.0.0.1")?.contains("has 17 characters") == true)
        #expect(parseError("BACK\\SLASH")?.contains("holds a character AE titles cannot have") == true)
        #expect(parseError("TAB\tAE")?.contains("holds a character AE titles cannot have") == true)
        #expect(parseError("MÜNCHEN")?.contains("holds a character AE titles cannot have") == true)

        // Addresses.
        #expect(parseError("X@")?.contains("nothing after @") == true)
        #expect(parseError("X@10.0.0.256")?.contains("\"10.0.0.256\" is not an IPv4 or IPv6 address") == true)
        #expect(parseError("X@10.0.0")?.contains("is not an IPv4 or IPv6 address") == true)
        #expect(parseError("X@pacs.example.org")?.contains("host names are not looked up") == true)
        #expect(parseError("X@::1::2")?.contains("is not an IPv4 or IPv6 address") == true)
        #expect(parseError("X@/24")?.contains("\"\" is not an IPv4 or IPv6 address") == true)

        // Prefixes.
        #expect(parseError("X@10.0.0.0/33") == "\"X@10.0.0.0/33\": \"/33\" is not a prefix length for an IPv4 address: write /0 to /32")
        #expect(parseError("X@::1/129")?.contains("\"/129\" is not a prefix length for an IPv6 address: write /0 to /128") == true)
        #expect(parseError("X@10.0.0.0/")?.contains("\"/\" is not a prefix length") == true)
        #expect(parseError("X@10.0.0.0/-1")?.contains("\"/-1\" is not a prefix length") == true)
        #expect(parseError("X@10.0.0.0/+8")?.contains("\"/+8\" is not a prefix length") == true)
        #expect(parseError("X@10.0.0.0/8/8")?.contains("\"/8/8\" is not a prefix length") == true)
        #expect(parseError("X@10.0.0.0/abc")?.contains("\"/abc\" is not a prefix length") == true)

        // A whole list stops at its first bad entry, naming it.
        do {
            _ = try CallingAEAllowList(parsing: ["GOOD", "BAD@10.0.0.0/40"])
            Issue.record("a bad prefix was accepted")
        } catch {
            #expect(error.entry == "BAD@10.0.0.0/40")
        }
    }

    @Test func matchesIPv4() throws {
        let list = try CallingAEAllowList(parsing: ["MODALITY@10.1.2.0/24", "WS1@127.0.0.1", "ANYWHERE"])
        #expect(list.refusal(callingAETitle: "MODALITY", from: address("10.1.2.7")) == nil)
        #expect(list.refusal(callingAETitle: "MODALITY", from: address("10.1.2.255")) == nil)
        #expect(list.refusal(callingAETitle: "MODALITY", from: address("10.1.3.1"))
                == "calling AE title \"MODALITY\" is allowed only from 10.1.2.0/24, not from 10.1.3.1")
        #expect(list.refusal(callingAETitle: "WS1", from: address("127.0.0.1")) == nil)
        #expect(list.refusal(callingAETitle: "WS1", from: address("127.0.0.2")) != nil)
        #expect(list.refusal(callingAETitle: "ANYWHERE", from: address("192.0.2.1")) == nil)
        #expect(list.refusal(callingAETitle: "ANYWHERE", from: nil) == nil)
        // Not on the list at all.
        #expect(list.refusal(callingAETitle: "INTRUDER", from: address("10.1.2.7"))
                == "calling AE title \"INTRUDER\" from 10.1.2.7 is not on the allow-list")
        // AE titles compare without leading and trailing spaces, and with case.
        #expect(list.refusal(callingAETitle: " MODALITY  ", from: address("10.1.2.7")) == nil)
        #expect(list.refusal(callingAETitle: "modality", from: address("10.1.2.7")) != nil)
        // An address-bound title from an unknown address is refused.
        #expect(list.refusal(callingAETitle: "WS1", from: nil)?.contains("the connection's address is unknown") == true)
        // An IPv4 block never holds an IPv6 address.
        #expect(list.refusal(callingAETitle: "WS1", from: address("::1")) != nil)
    }

    @Test func severalBlocksForOneTitle() throws {
        let list = try CallingAEAllowList(parsing: ["CT@10.0.0.0/8", "CT@192.168.1.0/24"])
        #expect(list.refusal(callingAETitle: "CT", from: address("10.200.0.1")) == nil)
        #expect(list.refusal(callingAETitle: "CT", from: address("192.168.1.9")) == nil)
        #expect(list.refusal(callingAETitle: "CT", from: address("192.168.2.9"))
                == "calling AE title \"CT\" is allowed only from 10.0.0.0/8, 192.168.1.0/24, not from 192.168.2.9")
        // An entry without an address allows the title from anywhere, whatever else is listed for it.
        let open = try CallingAEAllowList(parsing: ["CT@10.0.0.0/8", "CT"])
        #expect(open.refusal(callingAETitle: "CT", from: address("203.0.113.5")) == nil)
    }

    @Test func matchesIPv6AndIPv4MappedPeers() throws {
        let list = try CallingAEAllowList(parsing: ["X@::1/128", "LAB@fd00:1:2::/48", "MODALITY@10.1.2.0/24"])
        #expect(list.refusal(callingAETitle: "X", from: address("::1")) == nil)
        #expect(list.refusal(callingAETitle: "X", from: address("::2")) != nil)
        #expect(list.refusal(callingAETitle: "X", from: address("127.0.0.1")) != nil)
        #expect(list.refusal(callingAETitle: "LAB", from: address("fd00:1:2:ffff::9")) == nil)
        #expect(list.refusal(callingAETitle: "LAB", from: address("fd00:1:3::9")) != nil)
        // A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d: matched as the IPv4 address.
        #expect(list.refusal(callingAETitle: "MODALITY", from: address("::ffff:10.1.2.3")) == nil)
        #expect(list.refusal(callingAETitle: "MODALITY", from: address("::ffff:10.1.3.3"))
                == "calling AE title \"MODALITY\" is allowed only from 10.1.2.0/24, not from 10.1.3.3")
        let mappedBlock = try CallingAEAllowList(parsing: ["M@::ffff:10.1.2.0/120"])
        #expect(mappedBlock.refusal(callingAETitle: "M", from: address("10.1.2.3")) == nil)
        #expect(mappedBlock.refusal(callingAETitle: "M", from: address("::ffff:10.1.2.3")) == nil)
        // An IPv6 block of /0 does not hold IPv4 peers.
        let v6Only = try CallingAEAllowList(parsing: ["S@::/0"])
        #expect(v6Only.refusal(callingAETitle: "S", from: address("2001:db8::1")) == nil)
        #expect(v6Only.refusal(callingAETitle: "S", from: address("::ffff:10.0.0.1")) != nil)
    }

    @Test func socketAddresses() throws {
        let list = try CallingAEAllowList(parsing: ["WS1@127.0.0.1", "X@::1"])
        #expect(list.refusal(callingAETitle: "WS1", from: IPAddress(try SocketAddress(ipAddress: "127.0.0.1", port: 40000))) == nil)
        #expect(list.refusal(callingAETitle: "WS1", from: IPAddress(try SocketAddress(ipAddress: "127.0.0.9", port: 40000))) != nil)
        #expect(list.refusal(callingAETitle: "X", from: IPAddress(try SocketAddress(ipAddress: "::1", port: 40000))) == nil)
        #expect(list.refusal(callingAETitle: "WS1", from: IPAddress(try SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 1))) == nil)
        #expect(IPAddress(try SocketAddress(ipAddress: "10.1.2.3", port: 104))?.bytes == [10, 1, 2, 3])
        #expect(IPAddress(try SocketAddress(ipAddress: "fe80::1", port: 104))?.description == "fe80::1")
        #expect(CallingAEAllowList.reject == AssociateReject(result: .rejectedPermanent, source: .serviceUser, reason: 3))
        #expect(CallingAEAllowList.reject.reasonDescription == "calling-AE-title-not-recognized")
    }
}
