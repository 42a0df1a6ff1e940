import DICOMCore
import DICOMInspect
import DICOMNetwork
import DICOMUL
import Foundation
import NIOCore

/// `--log-dir` during a replay: the same outputs as the proxy's, written by the same
/// `AssociationLog` (every PDU of the replayed association -> `AssociationObserver` ->
/// annotated text per association, `events.jsonl`; one header, one END line, one file naming,
/// files 0600 in a 0700 folder through `PrivateFiles`). A replayed SCP's sessions are kept by
/// connection while their association is open and dropped once its log is written (release,
/// abort, rejection, or `finishAll` at shutdown), so a long `--serve` does not keep every past
/// association's observer and data sets.
package final class ReplayLog: @unchecked Sendable {
    package let directory: String
    private let lock = NSLock()
    let events: AppendOnlyFile
    /// One HTML page per association and `index.html`, as the proxy writes them.
    let pages: HTMLLogPages
    private var sessions: [Int: ReplaySession] = [:]
    private var count = 0

    /// Creates `directory` (and parents) and opens `events.jsonl` for appending; nil when `directory` is nil.
    package convenience init?(directory: String?) throws(ReplayError) {
        guard let directory else { return nil }
        try self.init(directory: directory)
    }

    package init(directory: String) throws(ReplayError) {
        self.directory = directory
        do throws(PrivateFiles.Error) {
            try PrivateFiles.makeDirectory(directory)
            events = try AppendOnlyFile(appendingTo: directory + "/events.jsonl")
        } catch {
            throw ReplayError(.invalidOption, "--log-dir \(directory): \(error)")
        }
        pages = HTMLLogPages(directory: directory, tool: "dicomtap replay")
    }

    /// Returns once the pages of the associations ended so far and the index are written.
    package func flushPages() {
        pages.flush()
    }

    /// A new association's log; `connection` identifies it for a replayed SCP.
    package func session(client: String, server: String, connection: Int? = nil) -> ReplaySession {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        let session = ReplaySession(log: self, id: "replay-\(count)", client: client, server: server, connection: connection)
        if let connection { sessions[connection] = session }
        return session
    }

    /// Sessions of a replayed SCP whose log is not written yet.
    package var openSessionCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return sessions.count
    }

    /// Ends every open session's log (a replayed SCP stopping with associations still open).
    package func finishAll(reason: String) {
        lock.lock()
        let open = Array(sessions.values)
        lock.unlock()
        for session in open { session.finish(reason: reason) }
        pages.flush()
    }

    /// Forgets `session` once its log is written.
    func closed(_ session: ReplaySession, connection: Int) {
        lock.lock()
        defer { lock.unlock() }
        if sessions[connection] === session { sessions[connection] = nil }
    }

    /// The session of a replayed SCP's connection.
    package func session(connection: Int) -> ReplaySession? {
        lock.lock()
        defer { lock.unlock() }
        return sessions[connection]
    }
}

/// One association's log: every PDU through its `AssociationLog`.
package final class ReplaySession: @unchecked Sendable {
    private let lock = NSLock()
    private let log: ReplayLog
    /// The replayed SCP's connection, under which `log` keeps this session while it is open.
    private let connection: Int?
    private let association: AssociationLog
    private var finished = false
    private var started = false

    init(log: ReplayLog, id: String, client: String, server: String, connection: Int? = nil) {
        self.log = log
        self.connection = connection
        var configuration = AssociationObserver.Configuration()
        configuration.emitsEvents = true
        association = AssociationLog(id: id, start: .wallClock(), client: client, server: server, observer: configuration,
                                     directory: log.directory, events: log.events, actionField: "replayAction",
                                     pages: log.pages)
    }

    /// The tap to give `DICOMClient.connect` or the server configuration.
    package var tap: AssociationTap {
        AssociationTap { [self] pdu, frame, from, time in self.receive(pdu, frame: frame, from: from, at: time) }
    }

    func receive(_ pdu: PDU, frame: PDUFrame, from role: PeerRole, at time: Timestamp) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        let events = association.receive(pdu, frame: frame, from: role, at: time)
        if !started, association.info.requestTime != nil {
            started = true
            association.nameTextFile()
            association.writeStart()
        }
        association.write(events)
        if association.info.outcome.isFinished { close(at: time, reason: nil) }
    }

    /// A finding of the replay itself (an unmatched request), in the same outputs.
    package func note(_ finding: Finding) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        association.write([.finding(finding)])
    }

    /// Ends the log (idempotent): unanswered requests, the end line, the text file.
    package func finish(reason: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        close(at: .wallClock(), reason: reason)
    }

    private func close(at time: Timestamp, reason: String?) {
        guard !finished else { return }
        association.write(association.connectionClosed(at: time))
        finished = true
        association.end(at: time, reason: reason)
        // Written: nothing more is logged for it (`finished`), so the log need not keep it.
        if let connection { log.closed(self, connection: connection) }
    }
}
