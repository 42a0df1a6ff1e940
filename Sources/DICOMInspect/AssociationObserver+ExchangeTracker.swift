import DICOMCore
import DIMSE

extension AssociationObserver {
    /// The DIMSE exchanges of an association: pairs each response (and C-CANCEL) with the open
    /// request it answers, runs the exchange rules on them, and hands each exchange over when it
    /// ends. What it keeps is bounded by what is open: the open requests (at most
    /// `maximumOpenRequests`), of each the first `maximumKeptResponses` responses and the latest
    /// (the others counted), and, only with `keepsExchanges`, the ended exchanges.
    struct ExchangeTracker: Sendable {
        /// Return `.message` events (`Configuration.emitsEvents`).
        let emitsEvents: Bool
        /// Also keep every ended exchange in `kept` (`Configuration.keepsExchanges`).
        let keepsExchanges: Bool
        let maximumOpenRequests: Int
        /// Responses an exchange keeps beside the latest (`Configuration.maximumKeptResponses`).
        let maximumKeptResponses: Int
        let rules: [any ExchangeRule]
        /// The ended exchanges, when `keepsExchanges` (else empty), in the order they began.
        private(set) var kept: [Exchange] = []
        /// Exchanges begun so far (each request opens one).
        private(set) var count = 0
        /// Open requests by (sender of the request, message ID) → exchange index.
        private var open = OpenRequests()
        /// The exchanges still open, in the order they began.
        private var openExchanges = OpenExchanges()

        init(configuration: Configuration, rules: [any ExchangeRule]) {
            emitsEvents = configuration.emitsEvents
            keepsExchanges = configuration.keepsExchanges
            maximumOpenRequests = configuration.maximumOpenRequests
            maximumKeptResponses = max(1, configuration.maximumKeptResponses)
            self.rules = rules
        }

        /// Files a completed message: pairs it with its request or response, checks it, reports it.
        /// It is consumed: the exchange it goes to takes it without a copy (unless events are kept).
        mutating func file(_ message: consuming ObservedMessage, from sender: PeerRole, at time: Timestamp,
                           streamOffset: Int, findings: inout FindingLog, into events: inout [ObservationEvent]) {
            let field = message.commandField
            var exchangeIndex: Int?
            if case .cCancelRequest = message.command {
                let id = message.messageIDBeingRespondedTo ?? 0
                if let index = open[OpenKey(sender: sender, messageID: id)], let p = openExchanges.position(of: index) {
                    openExchanges.items[p].cancel = message
                    exchangeIndex = index
                } else {
                    events.append(findings.record(Finding(.responseToUnknownMessage, .warning,
                                                          "C-CANCEL-RQ for message \(id), which has no open request", time: time,
                                                          sender: sender, streamOffset: streamOffset)))
                }
            } else if field?.isRequest ?? false, let field, let id = message.messageID {
                let key = OpenKey(sender: sender, messageID: id)
                if let earlier = open[key] {
                    events.append(findings.record(Finding(.duplicateMessageID, .error,
                                                          "\(field) reuses message ID \(id) while an earlier request with it is still open; "
                                                          + "responses with that ID are paired with the new request, the earlier one ends unanswered",
                                                          time: time, sender: sender, streamOffset: streamOffset)))
                    // The earlier exchange can no longer be told apart: it ends here, without its final response.
                    open[key] = nil
                    if let p = openExchanges.position(of: earlier) {
                        ended(openExchanges.items.remove(at: p), at: time, findings: &findings, into: &events)
                    }
                }
                guard open.count < maximumOpenRequests else {
                    events.append(findings.record(Finding(.tooManyOpenRequests, .error,
                                                          "\(field) message \(id): more than \(maximumOpenRequests) requests open at once; not followed",
                                                          time: time, sender: sender, streamOffset: streamOffset)))
                    if emitsEvents { events.append(.message(message, exchangeIndex: nil)) }
                    return
                }
                let index = count
                count += 1
                if emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
                openExchanges.append(Exchange(index: index, request: consume message))
                open[key] = index
                // Read in place: no copy of the exchange.
                if let p = openExchanges.position(of: index) {
                    for rule in rules {
                        rule.checkRequest(of: openExchanges.items[p], at: time, findings: &findings, into: &events)
                    }
                }
                return
            } else if let field, field.isResponse {
                let id = message.messageIDBeingRespondedTo ?? 0
                let key = OpenKey(sender: sender.other, messageID: id)
                if let index = open[key], let p = openExchanges.position(of: index) {
                    exchangeIndex = index
                    if emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
                    let status = message.status
                    openExchanges.items[p].add(consume message, keeping: maximumKeptResponses)
                    if let status, let service = openExchanges.items[p].service {
                        for rule in rules {
                            rule.checkResponse(of: openExchanges.items[p], status: status, service: service, at: time,
                                               findings: &findings, into: &events)
                        }
                    }
                    if status?.category.isFinal ?? true {
                        open[key] = nil
                        ended(openExchanges.items.remove(at: p), at: time, findings: &findings, into: &events)
                    }
                    return
                } else {
                    events.append(findings.record(Finding(.responseToUnknownMessage, .error,
                                                          "\(field) responds to message \(id), which the \(sender.other) never sent (or was already answered)",
                                                          time: time, sender: sender, streamOffset: streamOffset)))
                }
            } else {
                events.append(findings.record(Finding(.commandNotDecodable, .warning,
                                                      "command field 0x\(String(message.command.rawCommandField, radix: 16)) is not a DIMSE command",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
            if emitsEvents { events.append(.message(message, exchangeIndex: exchangeIndex)) }
        }

        /// The association ended: every request still open is reported unanswered.
        mutating func reportUnanswered(at time: Timestamp, findings: inout FindingLog, into events: inout [ObservationEvent]) {
            for (key, index) in open.sortedByExchange() {
                guard let ex = openExchanges[index] else { continue }
                events.append(findings.record(Finding(.unansweredRequest, .warning,
                                                      "\(ex.request.command.commandField?.description ?? "request") message \(key.messageID) "
                                                      + "got no final response before the association ended",
                                                      time: time, sender: key.sender, exchangeIndex: index)))
            }
            open.removeAll()
        }

        /// The association ended: the exchanges still open end with it.
        mutating func endAll(at time: Timestamp, findings: inout FindingLog, into events: inout [ObservationEvent]) {
            for ex in openExchanges.removeAll() { ended(ex, at: time, findings: &findings, into: &events) }
        }

        /// Requests waiting for their final response, and exchanges still open (the fuzz harnesses' bound).
        var openCounts: (requests: Int, exchanges: Int) { (open.count, openExchanges.items.count) }

        /// What the open exchanges hold (see `Exchange.retained`).
        var retainedByOpenExchanges: (messages: Int, bytes: Int) {
            openExchanges.items.reduce((0, 0)) { total, ex in
                let r = ex.retained
                return (total.0 + r.messages, total.1 + r.bytes)
            }
        }

        /// Hands an exchange that ended to the consumer (and keeps it, with `keepsExchanges`),
        /// after the finding that says how many of its responses were not kept, if any.
        private mutating func ended(_ ex: Exchange, at time: Timestamp, findings: inout FindingLog,
                                    into events: inout [ObservationEvent]) {
            if ex.responsesNotKept > 0 {
                let n = ex.responsesNotKept
                let field = ex.request.commandField?.description ?? "request"
                findings.report(Finding(.responsesTruncated, .warning,
                                        "\(field) message \(ex.messageID): \(n) response\(n == 1 ? "" : "s") after the first "
                                        + "\(maximumKeptResponses) counted but not kept (\(ex.responseCount) in all); "
                                        + "raise --max-kept-responses to see them",
                                        time: time, sender: ex.request.sender.other, exchangeIndex: ex.index),
                                into: &events)
            }
            if keepsExchanges {
                // In the order the exchanges began (they end in any order).
                let at = kept.lastIndex { $0.index < ex.index }.map { $0 + 1 } ?? 0
                kept.insert(ex, at: at)
            }
            events.append(.exchangeEnded(ex))
        }
    }
}
