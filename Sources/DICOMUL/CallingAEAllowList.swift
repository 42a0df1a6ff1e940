/// Who may associate: calling AE titles (A-ASSOCIATE-RQ, PS3.8 §9.3.2, Table 9-11), each from
/// anywhere or only from given address blocks. Written `AE`, `AE@ADDRESS` (one address: /32 or
/// /128) or `AE@ADDRESS/PREFIX`, e.g. `MODALITY@10.1.2.0/24`, `WS1@127.0.0.1`, `X@::1/128`.
/// Several entries for one AE title allow it from each of their blocks. AE titles compare
/// without leading and trailing spaces (PS3.5 §6.2: not significant), case as given.
/// `dicomtap proxy --allow` and `dicomtap serve --allow` share it.
public struct CallingAEAllowList: Sendable, Hashable, CustomStringConvertible {
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var aeTitle: String
        /// nil: from any address.
        public var network: IPNetwork?

        public init(aeTitle: String, network: IPNetwork? = nil) {
            self.aeTitle = Self.trimmed(aeTitle)
            self.network = network
        }

        /// Parses `AE`, `AE@ADDRESS` or `AE@ADDRESS/PREFIX` (an IPv6 address may be in brackets).
        public init(parsing text: String) throws(AllowListError) {
            let at = text.lastIndex(of: "@")
            let aeTitle = Self.trimmed(String(text[..<(at ?? text.endIndex)]))
            guard !aeTitle.isEmpty else {
                throw AllowListError(entry: text, at != nil ? "the AE title before @ is empty"
                                     : "no AE title; write AE, AE@ADDRESS or AE@ADDRESS/PREFIX (e.g. MODALITY@10.1.2.0/24)")
            }
            guard aeTitle.utf8.count <= Self.maximumAETitleLength else {
                throw AllowListError(entry: text, "the AE title \"\(aeTitle)\" has \(aeTitle.utf8.count) characters; "
                                     + "AE titles have at most \(Self.maximumAETitleLength)")
            }
            // PS3.5 Table 6.2-1, AE: the default character repertoire without backslash and control characters.
            guard aeTitle.utf8.allSatisfy({ (0x20...0x7E).contains($0) && $0 != 0x5C }) else {
                throw AllowListError(entry: text, "the AE title \"\(aeTitle)\" holds a character AE titles cannot have "
                                     + "(only printable ASCII without backslash)")
            }
            var network: IPNetwork?
            if let at { network = try Self.network(String(text[text.index(after: at)...]), entry: text) }
            self.init(aeTitle: aeTitle, network: network)
        }

        public var description: String { network.map { "\(aeTitle)@\($0)" } ?? aeTitle }

        /// PS3.5 Table 6.2-1: an AE title has at most 16 characters.
        public static let maximumAETitleLength = 16

        static func trimmed(_ title: String) -> String {
            var text = Substring(title)
            while text.first == " " { text = text.dropFirst() }
            while text.last == " " { text = text.dropLast() }
            return String(text)
        }

        private static func network(_ text: String, entry: String) throws(AllowListError) -> IPNetwork {
            guard !text.isEmpty else {
                throw AllowListError(entry: entry, "nothing after @: give an IPv4 or IPv6 address, optionally with /PREFIX")
            }
            var addressText = Substring(text)
            var prefixText: Substring?
            if let slash = text.firstIndex(of: "/") {
                addressText = text[..<slash]
                prefixText = text[text.index(after: slash)...]
            }
            if addressText.hasPrefix("["), addressText.hasSuffix("]") {
                addressText = addressText.dropFirst().dropLast()
            }
            guard let address = IPAddress(String(addressText)) else {
                throw AllowListError(entry: entry, "\"\(addressText)\" is not an IPv4 or IPv6 address "
                                     + "(write the address, e.g. 10.1.2.3 or fd00::1; host names are not looked up)")
            }
            let bits = address.bytes.count * 8
            guard let prefixText else { return IPNetwork(address: address, prefixLength: bits) }
            guard !prefixText.isEmpty, prefixText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                  let prefix = Int(prefixText), prefix <= bits else {
                throw AllowListError(entry: entry, "\"/\(prefixText)\" is not a prefix length for \(address.isIPv4 ? "an IPv4" : "an IPv6") "
                                     + "address: write /0 to /\(bits)")
            }
            return IPNetwork(address: address, prefixLength: prefix)
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// AE titles allowed from any address.
    public init(aeTitles: some Sequence<String>) {
        entries = aeTitles.map { Entry(aeTitle: $0) }
    }

    /// Each text as `Entry(parsing:)` reads it.
    public init(parsing texts: [String]) throws(AllowListError) {
        entries = []
        for text in texts { entries.append(try Entry(parsing: text)) }
    }

    /// Why an association from `address` calling itself `callingAETitle` is refused, in words;
    /// nil when the list allows it.
    public func refusal(callingAETitle: String, from address: IPAddress?) -> String? {
        let title = Entry.trimmed(callingAETitle)
        let forTitle = entries.filter { $0.aeTitle == title }
        guard !forTitle.isEmpty else {
            return "calling AE title \"\(title)\"\(address.map { " from \($0.unmapped)" } ?? "") is not on the allow-list"
        }
        var networks: [IPNetwork] = []
        for entry in forTitle {
            guard let network = entry.network else { return nil }
            if let address, network.contains(address) { return nil }
            networks.append(network)
        }
        let from = address.map { "not from \($0.unmapped)" } ?? "and the connection's address is unknown"
        return "calling AE title \"\(title)\" is allowed only from \(networks.map(\.description).joined(separator: ", ")), \(from)"
    }

    public var description: String { entries.map(\.description).joined(separator: ", ") }

    /// A-ASSOCIATE-RJ for a calling AE title not allowed: rejected-permanent, DICOM UL service-user,
    /// reason 3, calling-AE-title-not-recognized (PS3.8 Table 9-21).
    public static let reject = AssociateReject(result: .rejectedPermanent, source: .serviceUser,
                                               reason: AssociateReject.Reason.callingAETitleNotRecognized)
}

/// An allow-list entry that cannot be read, with the entry and what is wrong, in words.
public struct AllowListError: Error, Sendable, Hashable, CustomStringConvertible {
    public var entry: String
    public var message: String

    public init(entry: String, _ message: String) {
        self.entry = entry
        self.message = message
    }

    public var description: String { "\"\(entry)\": \(message)" }
}
