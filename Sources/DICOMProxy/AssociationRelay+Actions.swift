import DICOMInspect
import DICOMUL
import NIOCore

/// What the relay does for its state machine's actions, and its end.
extension AssociationRelay {
    func handler(_ role: PeerRole) -> RelaySideHandler? {
        role == .requestor ? requestor : acceptor
    }

    /// Runs `action`; `pdus` are what the PDU that caused it became (to forward or hold).
    func run(_ action: RelayStateMachine.Action, pdus: [ByteBuffer]) {
        switch action {
        case .none:
            break
        case .hold:
            held += pdus
        case .connect(let upstream):
            held += pdus
            connect(to: upstream)
        case .forward(let role):
            for pdu in pdus { handler(role)?.write(pdu) }
        case .sendHeldPDUs:
            for pdu in held { acceptor?.write(pdu) }
            held = []
            acceptor?.flush()
            requestor?.resumeReading()
        case .reject(let rj, let abortAcceptor, let reason):
            closeReason = reason
            cancelResponseTimer()
            outputs.note(reason)
            let alsoUpstream = abortAcceptor ? "; -> upstream  A-ABORT" : ""
            logger.info("-> SCU  A-ASSOCIATE-RJ: \(rj)\(alsoUpstream)")
            outputs.countOwnReject(rj)
            requestor?.send(PDU.associateReject(rj).encoded(), thenCloseWithin: Self.closeDeadline)
            if abortAcceptor {
                acceptor?.send(PDU.abort(Abort(source: .serviceProvider, reason: .notSpecified)).encoded(),
                               thenCloseWithin: Self.closeDeadline)
            }
        case .abort(let abort, let reason):
            closeReason = reason
            cancelResponseTimer()
            outputs.note(reason)
            let sides = [machine.requestorOpen ? "SCU" : nil, machine.acceptorOpen ? "upstream" : nil].compactMap { $0 }
            logger.info("-> \(sides.joined(separator: " and "))  A-ABORT: \(abort)")
            let bytes = PDU.abort(abort).encoded()
            if machine.requestorOpen { requestor?.send(bytes, thenCloseWithin: Self.closeDeadline) }
            if machine.acceptorOpen { acceptor?.send(bytes, thenCloseWithin: Self.closeDeadline) }
        case .closeOutput(let role):
            handler(role)?.closeOutput()
        case .close(let role):
            handler(role)?.close()
        case .closeBoth:
            requestor?.close()
            acceptor?.close()
        case .closeLateUpstream:
            break  // handled where the connection completes
        case .closeRequestor(let reason):
            closeReason = reason
            outputs.note(reason)
            requestor?.close()
        }
    }

    /// The proxy is shutting down and the grace period is over.
    func abortForShutdown() {
        guard !isFinished else { return }
        run(machine.shutdownGraceExpired(), pdus: [])
        finishIfDone()
    }

    func finishIfDone() {
        guard machine.isFinished, !isFinished else { return }
        isFinished = true
        cancelResponseTimer()
        idleTimer?.cancel()
        idleTimer = nil
        artimTimer?.cancel()
        artimTimer = nil
        let end = Timestamp.wallClock()
        observeDeferred()
        outputs.finish(at: end, closeReason: closeReason)
        requestor = nil
        acceptor = nil
        held = []
        let finished = self.finished
        let onFinish = self.onFinish
        let id = self.id
        (recorder?.close(on: eventLoop) ?? eventLoop.makeSucceededVoidFuture()).whenComplete { _ in
            onFinish(id)
            finished.succeed(())
        }
    }
}
