import DICOMCore
import DIMSE
import NIOCore

/// A message whose command arrived and whose data set is arriving (decoded as it comes).
struct MessageInProgress: Sendable {
    var contextID: UInt8
    var command: DIMSECommand
    var commandBytes: ByteBuffer
    var firstFragment: Timestamp
    var dataSet: DataSetStream
}

extension Array where Element == ObservationEvent {
    /// Appends the event of a finding (nil once findings are no longer kept).
    mutating func append(_ event: ObservationEvent?) {
        if let event { append(event) }
    }
}

// MARK: - DIMSE messages

extension AssociationObserver {
    /// What the assembler completed with one PDV: a whole message, a command whose data set
    /// follows, or a fragment of that data set (decoded as it arrives, never gathered).
    mutating func assembled(_ output: AssemblyOutput, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                            into events: inout [ObservationEvent]) {
        switch output {
        case .message(let m):
            let id = m.presentationContextID
            let first = firstFragmentTime[sender][id] ?? time
            firstFragmentTime[sender][id] = nil
            let message = ObservedMessage(sender: sender, presentationContextID: id, command: m.command, commandBytes: m.commandBytes,
                                          dataSetBytes: nil, dataSetLength: nil, firstFragmentTime: first, time: time,
                                          packet: currentPacket, dataSetLoss: nil, transferSyntax: nil, decodedDataSet: nil,
                                          deferredDataSet: nil, dataSetError: nil, isDataSetDecodable: false)
            file(message, from: sender, at: time, streamOffset: streamOffset, into: &events)
        case .command(let m):
            let id = m.presentationContextID
            let settings = DataSetStream.Settings(options: configuration.decodingOptions, builds: configuration.decodesDataSets,
                                                  bulkThreshold: configuration.bulkThreshold,
                                                  keptLength: configuration.keptDataSetLength, spool: configuration.spool)
            inProgress[sender].removeAll { $0.contextID == id }
            inProgress[sender].append(MessageInProgress(
                contextID: id, command: m.command, commandBytes: m.commandBytes,
                firstFragment: firstFragmentTime[sender][id] ?? time,
                dataSet: DataSetStream(transferSyntax: knownTransferSyntax(for: id), settings: settings)))
        case .dataSetFragment(let id, let fragment, let isLast, _):
            guard let i = inProgress[sender].firstIndex(where: { $0.contextID == id }) else { return }
            inProgress[sender][i].dataSet.append(fragment)
            guard isLast else { return }
            let m = inProgress[sender].remove(at: i)
            firstFragmentTime[sender][id] = nil
            complete(m, from: sender, at: time, streamOffset: streamOffset, into: &events)
        }
    }

    /// The transfer syntax of context `contextID`, when negotiated or inferred already.
    mutating func knownTransferSyntax(for contextID: UInt8) -> TransferSyntax? {
        if let known = transferSyntaxes.first(where: { $0.id == contextID }) { return known.syntax }
        if let uid = info.contexts[contextID]?.transferSyntax, let ts = TransferSyntax(uid: uid, lenient: true) {
            transferSyntaxes.append((contextID, ts))
            return ts
        }
        return nil
    }

    /// The last fragment of a data set arrived: the message is built and filed.
    private mutating func complete(_ m: MessageInProgress, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                                   into events: inout [ObservationEvent]) {
        var stream = m.dataSet
        let result = stream.finish()
        if let inferred = result.inferred, knownTransferSyntax(for: m.contextID) == nil {
            var ctx = info.contexts[m.contextID] ?? NegotiatedContext(id: m.contextID, abstractSyntax: "", proposedTransferSyntaxes: [])
            ctx.transferSyntax = inferred.uid
            ctx.isInferred = true
            info.contexts[m.contextID] = ctx
            transferSyntaxes.append((m.contextID, inferred))
            events.append(record(Finding(.transferSyntaxInferred, .info,
                                         "presentation context \(m.contextID): transfer syntax inferred as \(inferred.name) from the data",
                                         time: time, sender: sender)))
        }
        if let spoolError = result.spoolError {
            events.append(record(Finding(.dataSetNotKept, .error,
                                         "\(m.command.commandField?.description ?? "message") data set (\(result.length) bytes) not kept: \(spoolError)",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        if let error = result.error {
            events.append(record(Finding(.dataSetNotDecodable, .error,
                                         "\(m.command.commandField?.description ?? "message") data set: \(error)",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        var message = ObservedMessage(sender: sender, presentationContextID: m.contextID, command: m.command,
                                      commandBytes: m.commandBytes, dataSetBytes: result.raw, dataSetLength: result.length,
                                      firstFragmentTime: m.firstFragment, time: time, packet: currentPacket, dataSetLoss: nil,
                                      transferSyntax: result.transferSyntax, decodedDataSet: result.dataSet,
                                      deferredDataSet: result.deferred.map { ($0, configuration.decodingOptions) },
                                      dataSetError: result.error, isDataSetDecodable: result.isDecodable)
        message.dataSetSpooled = result.spooled
        file(message, from: sender, at: time, streamOffset: streamOffset, into: &events)
    }

    /// A message whose data set was cut (by a gap, the end of the capture or of the connection): recorded with its command.
    mutating func lost(_ m: MessageInProgress, _ loss: DataSetLoss, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                       into events: inout [ObservationEvent]) {
        let message = ObservedMessage(sender: sender, presentationContextID: m.contextID, command: m.command,
                                      commandBytes: m.commandBytes, dataSetBytes: nil, dataSetLength: nil,
                                      firstFragmentTime: m.firstFragment, time: time, packet: currentPacket, dataSetLoss: loss,
                                      transferSyntax: nil, decodedDataSet: nil, deferredDataSet: nil, dataSetError: nil,
                                      isDataSetDecodable: false)
        file(message, from: sender, at: time, streamOffset: streamOffset, into: &events)
    }

    /// Files a completed message: pairs it with its request or response, checks it, reports it.
    /// It is consumed: the exchange it goes to takes it without a copy (unless events are kept).
    private mutating func file(_ message: consuming ObservedMessage, from sender: PeerRole, at time: Timestamp,
                               streamOffset: Int, into events: inout [ObservationEvent]) {
        let field = message.commandField
        var exchangeIndex: Int?
        if case .cCancelRequest = message.command {
            let id = message.messageIDBeingRespondedTo ?? 0
            if let index = open[OpenKey(sender: sender, messageID: id)], let p = openExchanges.position(of: index) {
                openExchanges.items[p].cancel = message
                exchangeIndex = index
            } else {
                events.append(record(Finding(.responseToUnknownMessage, .warning,
                                             "C-CANCEL-RQ for message \(id), which has no open request", time: time,
                                             sender: sender, streamOffset: streamOffset)))
            }
        } else if field?.isRequest ?? false, let id = message.messageID {
            let key = OpenKey(sender: sender, messageID: id)
            if let earlier = open[key] {
                events.append(record(Finding(.duplicateMessageID, .error,
                                             "\(field!) reuses message ID \(id) while an earlier request with it is still open; "
                                             + "responses with that ID are paired with the new request, the earlier one ends unanswered",
                                             time: time, sender: sender, streamOffset: streamOffset)))
                // The earlier exchange can no longer be told apart: it ends here, without its final response.
                open[key] = nil
                if let p = openExchanges.position(of: earlier) { ended(openExchanges.items.remove(at: p), into: &events) }
            }
            guard open.count < configuration.maximumOpenRequests else {
                events.append(record(Finding(.tooManyOpenRequests, .error,
                                             "\(field!) message \(id): more than \(configuration.maximumOpenRequests) requests open at once; not followed",
                                             time: time, sender: sender, streamOffset: streamOffset)))
                if configuration.emitsEvents { events.append(.message(message, exchangeIndex: nil)) }
                return
            }
            let index = exchangeCount
            exchangeCount += 1
            if configuration.emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
            openExchanges.append(Exchange(index: index, request: consume message))
            open[key] = index
            checkRequest(index, time: time, into: &events)
            return
        } else if let field, field.isResponse {
            let id = message.messageIDBeingRespondedTo ?? 0
            let key = OpenKey(sender: sender.other, messageID: id)
            if let index = open[key], let p = openExchanges.position(of: index) {
                exchangeIndex = index
                if configuration.emitsEvents { events.append(.message(copy message, exchangeIndex: index)) }
                let status = message.status
                openExchanges.items[p].responses.append(consume message)
                checkResponse(p, status: status, time: time, into: &events)
                if status?.category.isFinal ?? true {
                    open[key] = nil
                    ended(openExchanges.items.remove(at: p), into: &events)
                }
                return
            } else {
                events.append(record(Finding(.responseToUnknownMessage, .error,
                                             "\(field) responds to message \(id), which the \(sender.other) never sent (or was already answered)",
                                             time: time, sender: sender, streamOffset: streamOffset)))
            }
        } else {
            events.append(record(Finding(.commandNotDecodable, .warning,
                                         "command field 0x\(String(message.command.rawCommandField, radix: 16)) is not a DIMSE command",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        if configuration.emitsEvents { events.append(.message(message, exchangeIndex: exchangeIndex)) }
    }

    /// Hands an exchange that ended to the consumer (and keeps it, with `keepsExchanges`).
    mutating func ended(_ ex: Exchange, into events: inout [ObservationEvent]) {
        if configuration.keepsExchanges {
            // In the order the exchanges began (they end in any order).
            let at = exchanges.lastIndex { $0.index < ex.index }.map { $0 + 1 } ?? 0
            exchanges.insert(ex, at: at)
        }
        events.append(.exchangeEnded(ex))
    }

    /// Checks the request of the open exchange `index` (read in place: no copy of the exchange).
    private mutating func checkRequest(_ index: Int, time: Timestamp, into events: inout [ObservationEvent]) {
        guard let p = openExchanges.position(of: index), openExchanges.items[p].request.commandField == .cFindRequest,
              let sop = openExchanges.items[p].sopClassUID, RelevantPatientInformationQuery.isSOPClass(sop),
              let identifier = openExchanges.items[p].request.dataSet else { return }
        if identifier[Tag.contentTemplateSequence] == nil {
            events.append(record(Finding(.missingContentTemplateSequence, .error,
                                         "Relevant Patient Information query without Content Template Sequence (0040,A504): "
                                         + "the SCP should answer 0xA900 (PS3.4 Q.2.1.1.3)",
                                         time: time, sender: openExchanges.items[p].request.sender, exchangeIndex: index)))
        }
    }

    /// Checks the response just appended to the open exchange at position `p` (read in place), whose status is `status`.
    private mutating func checkResponse(_ p: Int, status: DIMSEStatus?, time: Timestamp,
                                        into events: inout [ObservationEvent]) {
        guard let status, let service = openExchanges.items[p].service, let last = openExchanges.items[p].responses.indices.last else {
            return
        }
        let index = openExchanges.items[p].index
        let sop = openExchanges.items[p].sopClassUID
        let sender = openExchanges.items[p].responses[last].sender
        // `status` was looked up for the response's own service and SOP class: when they are the
        // request's (always, but for a mismatched response) its `isDefined` is the answer.
        let response = (field: openExchanges.items[p].responses[last].commandField, sop: openExchanges.items[p].responses[last].sopClassUID)
        let defined = response.field?.service == service && response.sop == sop ? status.isDefined
            : status.isDefined(for: service, sopClassUID: sop)
        if !defined {
            events.append(record(Finding(.statusNotDefinedForService, .warning,
                                         "status \(status) is not defined for \(service)"
                                         + (sop.flatMap { UIDRegistry.name(for: $0) }.map { " (\($0))" } ?? ""),
                                         time: time, sender: sender, exchangeIndex: index)))
        }
        if service == .cFind {
            let isRPI = sop.map(RelevantPatientInformationQuery.isSOPClass) ?? false
            let hasDataSet = openExchanges.items[p].responses[last].hasDataSet
            if status.category.isFinal && hasDataSet {
                events.append(record(Finding(.finalResponseWithDataSet, .warning,
                                             "final C-FIND-RSP (\(status.description)) carries a data set; "
                                             + "PS3.4 C.4.1.1.4 says only pending responses do. It is not counted as a match",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
            if status.category == .pending && !hasDataSet && !openExchanges.items[p].responses[last].dataSetLost {
                events.append(record(Finding(.pendingResponseWithoutDataSet, .error,
                                             "pending C-FIND-RSP without an identifier",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
            if isRPI, status.category == .pending,
               openExchanges.items[p].responses.reduce(0, { $0 + ($1.status?.category == .pending ? 1 : 0) }) == 2 {
                events.append(record(Finding(.multiplePendingResponses, .error,
                                             "more than one pending response to a Relevant Patient Information query: "
                                             + "PS3.4 Annex Q allows one match; with more the SCP must answer 0xC100",
                                             time: time, sender: sender, exchangeIndex: index)))
            }
        }
    }
}
