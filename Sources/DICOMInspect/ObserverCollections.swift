import DICOMCore

/// (sender of the request, message ID): the key of an open request.
struct OpenKey: Hashable, Sendable {
    var sender: PeerRole
    var messageID: UInt16
}

/// The open requests of an association, key → exchange index. A peer has one or a few
/// requests open at a time, so they are kept in an array searched linearly (no hashing per
/// message); past `linearLimit` entries (asynchronous operations, requests never answered)
/// a dictionary takes over so that lookups stay O(1).
struct OpenRequests: Sendable {
    private var entries: [(key: OpenKey, index: Int)] = []
    private var table: [OpenKey: Int]?
    static let linearLimit = 16

    init() {}

    subscript(key: OpenKey) -> Int? {
        get {
            if let table { return table[key] }
            return entries.first { $0.key == key }?.index
        }
        set {
            if table != nil {
                table![key] = newValue
                return
            }
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].index = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
                if entries.count > Self.linearLimit {
                    table = Dictionary(entries.map { ($0.key, $0.index) }, uniquingKeysWith: { _, new in new })
                    entries = []
                }
            }
        }
    }

    /// Number of open requests.
    var count: Int { table?.count ?? entries.count }

    /// The open requests in the order of their exchanges.
    func sortedByExchange() -> [(key: OpenKey, index: Int)] {
        if let table { return table.map { (key: $0.key, index: $0.value) }.sorted { $0.index < $1.index } }
        return entries.sorted { $0.index < $1.index }
    }

    mutating func removeAll() {
        entries = []
        table = nil
    }
}

/// A set of presentation context IDs (0–255) as 256 bits.
struct ContextIDSet: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init() {}

    init(_ ids: some Sequence<UInt8>) {
        for id in ids { insert(id) }
    }

    mutating func insert(_ id: UInt8) {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ id: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(id & 63)
        switch id >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }
}

/// When the first fragment of the message in progress on each presentation context arrived:
/// a few pairs searched linearly (one context is in progress at a time in practice), not a
/// dictionary hashed three times per PDV.
struct FragmentStartTimes: Sendable {
    private var entries: [(id: UInt8, time: Timestamp)] = []

    subscript(id: UInt8) -> Timestamp? {
        get { entries.first { $0.id == id }?.time }
        set {
            if let i = entries.firstIndex(where: { $0.id == id }) {
                if let newValue { entries[i].time = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((id, newValue))
            }
        }
    }
}

/// A value for each peer: stored fields, no hashing on the per-packet path.
struct PerRole<Value: Sendable>: Sendable {
    var requestor: Value
    var acceptor: Value

    init(_ value: Value) {
        requestor = value
        acceptor = value
    }

    subscript(role: PeerRole) -> Value {
        get { role == .requestor ? requestor : acceptor }
        _modify {
            if role == .requestor { yield &requestor } else { yield &acceptor }
        }
        set {
            if role == .requestor { requestor = newValue } else { acceptor = newValue }
        }
    }
}

/// The open exchanges of an association, in the order they began: a peer has one or a few
/// open at a time, so they are found by a linear search from the newest.
struct OpenExchanges: Sendable {
    var items: [Exchange] = []

    /// Where the exchange with index `index` is in `items`.
    func position(of index: Int) -> Int? {
        var i = items.count - 1
        while i >= 0 {
            if items[i].index == index { return i }
            i -= 1
        }
        return nil
    }

    subscript(index: Int) -> Exchange? { position(of: index).map { items[$0] } }

    mutating func append(_ exchange: Exchange) { items.append(exchange) }

    /// Empties the collection; returns what it held.
    mutating func removeAll() -> [Exchange] {
        defer { items = [] }
        return items
    }
}
