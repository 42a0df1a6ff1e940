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

// MARK: - DIMSE messages: each side's PDVs assembled into messages (data sets decoded as they
// arrive), then filed with the exchange tracker

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
                                          packet: findingLog.currentPacket, dataSetLoss: nil, transferSyntax: nil, decodedDataSet: nil,
                                          deferredDataSet: nil, dataSetError: nil, isDataSetDecodable: false)
            exchangeTracker.file(message, from: sender, at: time, streamOffset: streamOffset, findings: &findingLog, into: &events)
        case .command(let m):
            let id = m.presentationContextID
            let settings = DataSetStream.Settings(options: configuration.decodingOptions, builds: configuration.decodesDataSets,
                                                  bulkThreshold: configuration.bulkThreshold,
                                                  keptLength: configuration.keptDataSetLength, spool: configuration.spool)
            inProgress[sender].removeAll { $0.contextID == id }
            inProgress[sender].append(MessageInProgress(
                contextID: id, command: m.command, commandBytes: m.commandBytes,
                firstFragment: firstFragmentTime[sender][id] ?? time,
                dataSet: DataSetStream(transferSyntax: negotiation.knownTransferSyntax(for: id), settings: settings)))
        case .dataSetFragment(let id, let fragment, let isLast, _):
            guard let i = inProgress[sender].firstIndex(where: { $0.contextID == id }) else { return }
            inProgress[sender][i].dataSet.append(fragment)
            guard isLast else { return }
            let m = inProgress[sender].remove(at: i)
            firstFragmentTime[sender][id] = nil
            complete(m, from: sender, at: time, streamOffset: streamOffset, into: &events)
        }
    }

    /// The last fragment of a data set arrived: the message is built and filed.
    private mutating func complete(_ m: MessageInProgress, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                                   into events: inout [ObservationEvent]) {
        var stream = m.dataSet
        let result = stream.finish()
        if let inferred = result.inferred, negotiation.knownTransferSyntax(for: m.contextID) == nil {
            negotiation.noteInferred(inferred, for: m.contextID)
            events.append(findingLog.record(Finding(.transferSyntaxInferred, .info,
                                         "presentation context \(m.contextID): transfer syntax inferred as \(inferred.name) from the data",
                                         time: time, sender: sender)))
        }
        if let spoolError = result.spoolError {
            events.append(findingLog.record(Finding(.dataSetNotKept, .error,
                                         "\(m.command.commandField?.description ?? "message") data set (\(result.length) bytes) not kept: \(spoolError)",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        if let error = result.error {
            events.append(findingLog.record(Finding(.dataSetNotDecodable, .error,
                                         "\(m.command.commandField?.description ?? "message") data set: \(error)",
                                         time: time, sender: sender, streamOffset: streamOffset)))
        }
        var message = ObservedMessage(sender: sender, presentationContextID: m.contextID, command: m.command,
                                      commandBytes: m.commandBytes, dataSetBytes: result.raw, dataSetLength: result.length,
                                      firstFragmentTime: m.firstFragment, time: time, packet: findingLog.currentPacket, dataSetLoss: nil,
                                      transferSyntax: result.transferSyntax, decodedDataSet: result.dataSet,
                                      deferredDataSet: result.deferred.map { ($0, configuration.decodingOptions) },
                                      dataSetError: result.error, isDataSetDecodable: result.isDecodable)
        message.dataSetSpooled = result.spooled
        exchangeTracker.file(message, from: sender, at: time, streamOffset: streamOffset, findings: &findingLog, into: &events)
    }

    /// A message whose data set was cut (by a gap, the end of the capture or of the connection): recorded with its command.
    mutating func lost(_ m: MessageInProgress, _ loss: DataSetLoss, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                       into events: inout [ObservationEvent]) {
        let message = ObservedMessage(sender: sender, presentationContextID: m.contextID, command: m.command,
                                      commandBytes: m.commandBytes, dataSetBytes: nil, dataSetLength: nil,
                                      firstFragmentTime: m.firstFragment, time: time, packet: findingLog.currentPacket, dataSetLoss: loss,
                                      transferSyntax: nil, decodedDataSet: nil, deferredDataSet: nil, dataSetError: nil,
                                      isDataSetDecodable: false)
        exchangeTracker.file(message, from: sender, at: time, streamOffset: streamOffset, findings: &findingLog, into: &events)
    }
}
