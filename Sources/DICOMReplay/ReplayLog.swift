import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMUL
import Foundation
import NIOCore

/// `--log-dir` during a replay: the same outputs as the proxy's, built the same way (every
/// PDU of the replayed association -> `AssociationObserver` -> `AnnotatedDumpRenderer` text
/// per association, `AssociationEventFormat` objects in `events.jsonl`). A replayed SCP's
/// sessions are kept by connection while their association is open and dropped once its log
/// is written (release, abort, rejection, or `finishAll` at shutdown), so a long `--serve`
/// does not keep every past association's observer and data sets.
public final class ReplayLog: @unchecked Sendable {
    public let directory: String
    private let lock = NSLock()
    private let events: FileHandle
    private var sessions: [Int: ReplaySession] = [:]
    private var count = 0

    /// Creates `directory` (and parents) and opens `events.jsonl` for appending; nil when `directory` is nil.
    public convenience init?(directory: String?) throws(ReplayError) {
        guard let directory else { return nil }
        try self.init(directory: directory)
    }

    public init(directory: String) throws(ReplayError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/events.jsonl"
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
            }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw ReplayError(.invalidOption, "--log-dir: cannot open \(path) for writing")
            }
            handle.seekToEndOfFile()
            events = handle
        } catch let error as ReplayError {
            throw error
        } catch {
            throw ReplayError(.invalidOption, "--log-dir \(directory): \(error)")
        }
    }

    deinit { try? events.close() }

    /// A new association's log; `connection` identifies it for a replayed SCP.
    public func session(client: String, server: String, connection: Int? = nil) -> ReplaySession {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        let session = ReplaySession(log: self, id: "replay-\(count)", client: client, server: server, connection: connection)
        if let connection { sessions[connection] = session }
        return session
    }

    /// Sessions of a replayed SCP whose log is not written yet.
    public var openSessionCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return sessions.count
    }

    /// Ends every open session's log (a replayed SCP stopping with associations still open).
    public func finishAll(reason: String) {
        lock.lock()
        let open = Array(sessions.values)
        lock.unlock()
        for session in open { session.finish(reason: reason) }
    }

    /// Forgets `session` once its log is written.
    func closed(_ session: ReplaySession, connection: Int) {
        lock.lock()
        defer { lock.unlock() }
        if sessions[connection] === session { sessions[connection] = nil }
    }

    /// The session of a replayed SCP's connection.
    public func session(connection: Int) -> ReplaySession? {
        lock.lock()
        defer { lock.unlock() }
        return sessions[connection]
    }

    func writeEvent(_ value: JSONValue) {
        let line = value.serialized() + "\n"
        lock.lock()
        defer { lock.unlock() }
        events.write(Data(line.utf8))
    }
}

/// One association's log: observes every PDU through the shared observer and renders it.
public final class ReplaySession: @unchecked Sendable {
    private let lock = NSLock()
    private let log: ReplayLog
    private let id: String
    private let client: String
    private let server: String
    /// The replayed SCP's connection, under which `log` keeps this session while it is open.
    private let connection: Int?
    private let start: Timestamp
    private var observer: AssociationObserver
    private let renderer: AnnotatedDumpRenderer
    private let format: AssociationEventFormat
    private var lines: [String] = []
    private var finished = false
    private var started = false

    init(log: ReplayLog, id: String, client: String, server: String, connection: Int? = nil) {
        self.log = log
        self.connection = connection
        self.id = id
        self.client = client
        self.server = server
        start = .wallClock()
        var configuration = AssociationObserver.Configuration()
        configuration.emitsEvents = true
        observer = AssociationObserver(configuration: configuration)
        renderer = AnnotatedDumpRenderer(origin: start)
        format = AssociationEventFormat(associationID: id)
    }

    /// The tap to give `DICOMClient.connect` or the server configuration.
    public var tap: AssociationTap {
        AssociationTap { [self] pdu, frame, from, time in self.receive(pdu, frame: frame, from: from, at: time) }
    }

    func receive(_ pdu: PDU, frame: PDUFrame, from role: PeerRole, at time: Timestamp) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        let events = observer.receive(pdu, frame: frame, from: role, at: time)
        if !started, observer.info.requestTime != nil {
            started = true
            log.writeEvent(format.start(time: observer.info.requestTime ?? start, client: client, server: server, info: observer.info))
        }
        emit(events)
        if observer.info.outcome.isFinished { close(at: time, reason: nil) }
    }

    /// A finding of the replay itself (an unmatched request), in the same outputs.
    public func note(_ finding: Finding) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        emit([.finding(finding)])
    }

    /// Ends the log (idempotent): unanswered requests, the end line, the text file.
    public func finish(reason: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        close(at: .wallClock(), reason: reason)
    }

    private func emit(_ events: [ObservationEvent]) {
        for event in events {
            lines += renderer.render(event, info: observer.info)
            if let json = format.event(event, observer: observer) { log.writeEvent(json) }
        }
    }

    private func close(at time: Timestamp, reason: String?) {
        guard !finished else { return }
        emit(observer.connectionClosed(at: time))
        finished = true
        log.writeEvent(format.end(time: time, start: start, client: client, server: server, observer: observer,
                                  reason: reason, actionField: "replayAction"))
        let info = observer.info
        let header = "=== Association \(id): \(client) -> \(server)"
            + (info.callingAETitle.map { "  \"\($0)\"" } ?? "") + (info.calledAETitle.map { " -> \"\($0)\"" } ?? "")
            + "  start \(iso8601(start))"
        let text = ([header] + lines + ["END  \(info.outcome)  \(observer.exchanges.count) exchanges"]).joined(separator: "\n") + "\n"
        let path = log.directory + "/" + fileStem(info) + ".txt"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        lines = []
        // Written: nothing more is logged for it (`finished`), so the log need not keep it.
        if let connection { log.closed(self, connection: connection) }
    }

    /// `<UTC start yyyyMMdd-HHmmss>-<id>-<calling>-<called>`, as the proxy names its logs.
    private func fileStem(_ info: AssociationInfo) -> String {
        let iso = Array(iso8601(start))
        let date = String(iso[0..<4]) + String(iso[5..<7]) + String(iso[8..<10])
        let time = String(iso[11..<13]) + String(iso[14..<16]) + String(iso[17..<19])
        func safe(_ s: String?) -> String {
            let t = (s ?? "").filter { $0 != " " }
            guard !t.isEmpty else { return "unknown" }
            return String(t.unicodeScalars.map { c -> Character in
                switch c {
                case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": return Character(c)
                default: return "_"
                }
            })
        }
        return "\(date)-\(time)-\(id)-\(safe(info.callingAETitle))-\(safe(info.calledAETitle))"
    }
}
