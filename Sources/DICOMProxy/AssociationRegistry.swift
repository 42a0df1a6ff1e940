import DICOMInspect
import NIOCore

/// The server's table of open connections, confined to one event loop (no locks), and the keeper of
/// `--max-associations`.
///
/// Each connection is either within the limit or past it. Within: at most `limit` at once. When a new connection
/// comes and `limit` are open, the oldest one still waiting for its A-ASSOCIATE-RQ is closed to make room (a real
/// association is served before a connection that says nothing); when every one holds an association, the new
/// connection is taken past the limit: its A-ASSOCIATE-RQ gets A-ASSOCIATE-RJ 2/3/2. At most `overflowLimit`
/// connections are past the limit at once (one socket each, no files); past that, the oldest of them is closed
/// (with its A-ASSOCIATE-RJ). A connection whose A-ASSOCIATE-RQ came while it was being closed goes on: the limit
/// can be passed by the few connections in that race.
final class AssociationRegistry: Sendable {
    struct Entry: Sendable {
        /// Set once its relay exists (only then can it be closed to make room).
        var handle: SessionHandle?
        /// Still waiting for its A-ASSOCIATE-RQ.
        var awaitingRequest = true
        var overLimit: Bool
        /// Counted in `withinLimit` or `pastLimit` (not once it was chosen to be closed).
        var counted = true
    }

    struct State: Sendable {
        var nextID = 1
        /// By id; ids are `0001`, `0002`, ..., so their order is the order of arrival.
        var entries: [String: Entry] = [:]
        var withinLimit = 0
        var pastLimit = 0
        var serverChannels: [any Channel] = []
        /// Connections that may be closed to make room, in order of arrival (those within the limit, those past
        /// it); an id no longer eligible is skipped when it comes up.
        var waiting = (within: Queue(), past: Queue())
    }

    /// First in, first out, amortised O(1).
    struct Queue: Sendable {
        private var items: [String] = []
        private var head = 0

        mutating func append(_ id: String) { items.append(id) }

        var count: Int { items.count - head }

        /// Keeps only the ids `keep` accepts, in order.
        mutating func retain(_ keep: (String) -> Bool) {
            items = items[head...].filter(keep)
            head = 0
        }

        mutating func popFirst() -> String? {
            guard head < items.count else { return nil }
            let id = items[head]
            head += 1
            if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return id
        }
    }

    /// What a new connection is.
    struct Admission: Sendable {
        var id: String
        /// Past the limit (this limit): its A-ASSOCIATE-RQ is refused.
        var overLimit: Int?
    }

    let eventLoop: any EventLoop
    /// nil: no limit.
    let limit: Int?
    let overflowLimit: Int
    private let state: NIOLoopBoundBox<State>

    init(eventLoop: any EventLoop, limit: Int? = nil) {
        self.eventLoop = eventLoop
        self.limit = limit
        overflowLimit = min(max((limit ?? 0) / 4, 8), 64)
        state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Takes a new connection in: its id (`0001`, `0002`, ...) and whether it is past the limit, closing the
    /// connection it replaces, if any.
    func admit() -> EventLoopFuture<Admission> {
        let state = self.state
        let limit = self.limit
        let overflowLimit = self.overflowLimit
        return eventLoop.submit {
            let id = DICOMLogKey.number(state.value.nextID)
            state.value.nextID += 1
            guard let limit else {
                state.value.entries[id] = Entry(overLimit: false)
                state.value.withinLimit += 1
                return Admission(id: id)
            }
            if state.value.withinLimit >= limit, let oldest = Self.oldestWaiting(in: &state.value, overLimit: false) {
                Self.makeRoom(closing: oldest, in: &state.value, limit: limit)
            }
            if state.value.withinLimit < limit {
                state.value.entries[id] = Entry(overLimit: false)
                state.value.withinLimit += 1
                return Admission(id: id)
            }
            if state.value.pastLimit >= overflowLimit, let oldest = Self.oldestWaiting(in: &state.value, overLimit: true) {
                Self.makeRoom(closing: oldest, in: &state.value, limit: limit)
            }
            state.value.entries[id] = Entry(overLimit: true)
            state.value.pastLimit += 1
            return Admission(id: id, overLimit: limit)
        }
    }

    /// The oldest connection (within the limit or past it) that still waits for its A-ASSOCIATE-RQ.
    private static func oldestWaiting(in state: inout State, overLimit: Bool) -> String? {
        while let id = overLimit ? state.waiting.past.popFirst() : state.waiting.within.popFirst() {
            if let entry = state.entries[id], entry.counted, entry.awaitingRequest, entry.handle != nil { return id }
        }
        return nil
    }

    /// Closes the connection `id` (still waiting for its A-ASSOCIATE-RQ), which stops counting now.
    private static func makeRoom(closing id: String, in state: inout State, limit: Int) {
        guard var entry = state.entries[id], let handle = entry.handle else { return }
        entry.counted = false
        if entry.overLimit { state.pastLimit -= 1 } else { state.withinLimit -= 1 }
        state.entries[id] = entry
        handle.eventLoop.execute { handle.relay.value.closeWithoutRequest(makingRoomAt: limit) }
    }

    func add(_ session: SessionHandle) {
        let state = self.state
        eventLoop.execute {
            guard var entry = state.value.entries[session.id] else { return }
            entry.handle = session
            state.value.entries[session.id] = entry
            guard entry.awaitingRequest else { return }
            if entry.overLimit { state.value.waiting.past.append(session.id) } else { state.value.waiting.within.append(session.id) }
            // Ids that associated or ended stay in the queues until they come up: dropped when they outnumber the open
            // connections, so the queues stay bounded by them.
            let bound = 2 * state.value.entries.count + 64
            if state.value.waiting.within.count + state.value.waiting.past.count > bound {
                let entries = state.value.entries
                let eligible = { (id: String) in entries[id].map { $0.counted && $0.awaitingRequest } ?? false }
                state.value.waiting.within.retain(eligible)
                state.value.waiting.past.retain(eligible)
            }
        }
    }

    /// The connection's A-ASSOCIATE-RQ is in: it is no longer one to close to make room.
    func associationRequested(_ id: String) {
        let state = self.state
        eventLoop.execute { state.value.entries[id]?.awaitingRequest = false }
    }

    func remove(_ id: String) {
        let state = self.state
        eventLoop.execute {
            guard let entry = state.value.entries.removeValue(forKey: id), entry.counted else { return }
            if entry.overLimit { state.value.pastLimit -= 1 } else { state.value.withinLimit -= 1 }
        }
    }

    func sessions() -> EventLoopFuture<[SessionHandle]> {
        let state = self.state
        return eventLoop.submit { state.value.entries.values.compactMap(\.handle).sorted { $0.id < $1.id } }
    }

    func addServerChannel(_ channel: any Channel) {
        let state = self.state
        eventLoop.execute { state.value.serverChannels.append(channel) }
    }

    func takeServerChannels() -> EventLoopFuture<[any Channel]> {
        let state = self.state
        return eventLoop.submit {
            defer { state.value.serverChannels = [] }
            return state.value.serverChannels
        }
    }
}

/// An association as the server tracks it for shutdown.
struct SessionHandle: Sendable {
    let id: String
    let eventLoop: any EventLoop
    let relay: NIOLoopBound<AssociationRelay>
    let finished: EventLoopFuture<Void>
}
