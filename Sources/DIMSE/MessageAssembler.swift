import DICOMCore
import DICOMUL
import NIOCore

/// One DIMSE message rebuilt from its PDVs: the decoded command, the command set bytes as
/// received, and the data set bytes as received. The data set is not decoded here: it is
/// in the presentation context's transfer syntax, which the association knows.
public struct DIMSEMessageAssembly: Sendable, Hashable {
    public var presentationContextID: UInt8
    public var command: DIMSECommand
    /// The command set bytes (Implicit VR Little Endian), concatenated from the command fragments.
    public var commandBytes: ByteBuffer
    /// The data set bytes concatenated from the data set fragments; nil when the command's
    /// Command Data Set Type is 0101H.
    public var dataSetBytes: ByteBuffer?
    /// How the message was fragmented, and the deviations from PS3.8 §E.1–E.2 seen that did
    /// not prevent assembly.
    public var fragments: FragmentStatistics

    public init(presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer,
                dataSetBytes: ByteBuffer?, fragments: FragmentStatistics = FragmentStatistics()) {
        self.presentationContextID = presentationContextID
        self.command = command
        self.commandBytes = commandBytes
        self.dataSetBytes = dataSetBytes
        self.fragments = fragments
    }
}

/// What one PDV completes (`MessageAssembler.next(_:)`).
public enum AssemblyOutput: Sendable {
    /// A whole message: one without a data set, or (gathering data sets) one with its data set.
    case message(DIMSEMessageAssembly)
    /// Streaming data sets: a command whose data set follows in `dataSetFragment`s
    /// (`dataSetBytes` is nil).
    case command(DIMSEMessageAssembly)
    /// Streaming data sets: the next fragment of the data set of the command on that context;
    /// the last one (`isLast`) carries the message's fragment statistics.
    case dataSetFragment(presentationContextID: UInt8, ByteBuffer, isLast: Bool, fragments: FragmentStatistics?)
}

/// Counts of the fragments of one message, including tolerated deviations.
public struct FragmentStatistics: Sendable, Hashable {
    public var commandFragments = 0
    public var dataSetFragments = 0
    /// Fragments with no bytes (accepted under `EmptyFragmentPolicy.accept`).
    public var emptyFragments = 0
    /// Fragments of odd length: PS3.8 §E.1 requires every fragment to have an even number of bytes.
    public var oddLengthFragments = 0
    /// Message control headers with any of bits 2–7 set: senders set them to 0, receivers do not check them (PS3.8 §E.2).
    public var reservedBitsSet = 0

    public init() {}

    /// Whether any tolerated deviation from PS3.8 Annex E was seen.
    public var hasDeviations: Bool { oddLengthFragments > 0 || reservedBitsSet > 0 }

    mutating func count(_ pdv: PresentationDataValueItem) {
        if pdv.messageControlHeader.isCommand { commandFragments += 1 } else { dataSetFragments += 1 }
        let length = pdv.fragment.readableBytes
        if length == 0 { emptyFragments += 1 }
        if length % 2 == 1 { oddLengthFragments += 1 }
        if pdv.messageControlHeader.hasReservedBitsSet { reservedBitsSet += 1 }
    }
}

/// Rebuilds DIMSE messages from presentation data values (PS3.8 Annex E), whatever the
/// number of P-DATA-TF PDUs they were spread over. Driven only by the message control
/// header: command fragments up to the one with the last-fragment bit, then — when the
/// command's Command Data Set Type is not 0101H — data set fragments up to the last one.
///
/// State is kept per presentation context ID. PS3.8 §E.1 allows one message in progress at
/// a time on an association (no interleaving), but an observer of an asynchronous-operations
/// association, or of a misbehaving peer, is better served by keying on the context.
///
/// A pure value type: feed it PDVs in arrival order. After an error the message in progress
/// on that context is abandoned and the rest of the stream the offending fragment belongs to
/// is skipped silently (so one broken message gives one error): the rest of a command set
/// and its data set, or the rest of a data set. A command fragment that arrives while a data
/// set is expected is reported and skipped with its own message (it cannot be told apart
/// from garbage); the command after that assembles normally.
public struct MessageAssembler: Sendable {
    /// What to do with a PDV whose fragment is empty.
    ///
    /// PS3.8 §9.3.5.1 and Annex E require each PDV to hold a message control header and
    /// "one and only one fragment", of an even number of bytes; they give no minimum length,
    /// and an empty fragment is even. A sender streaming a data set of unknown length may
    /// only learn it has ended after sending the last bytes, and then send an empty last
    /// fragment. So the default accepts them (they are counted in `FragmentStatistics`);
    /// `.reject` is for a strict checker.
    public enum EmptyFragmentPolicy: Sendable, Hashable {
        case accept
        case reject
    }

    public struct Configuration: Sendable, Hashable {
        /// Largest command set accepted. Command sets are group 0000 elements only (a few
        /// hundred bytes in practice); the default is 1 MiB.
        public var maximumCommandSetLength: Int
        /// Largest data set accepted, capped at 4 GiB − 1 (a `ByteBuffer`'s limit). The
        /// default, 1 GiB, matches `DecodingOptions.maxInflatedSize`. Lower it for a proxy
        /// that only inspects queries; raise it for large C-STORE objects.
        public var maximumDataSetLength: Int
        public var emptyFragments: EmptyFragmentPolicy
        /// Hand data set fragments on as they arrive (`next(_:)` returns `.command`, then
        /// `.dataSetFragment`s) instead of gathering each data set: memory is then bounded by
        /// one fragment, whatever the size of the data set. `maximumDataSetLength` still applies.
        public var streamsDataSets: Bool

        public init(maximumCommandSetLength: Int = 1 << 20, maximumDataSetLength: Int = 1 << 30,
                    emptyFragments: EmptyFragmentPolicy = .accept, streamsDataSets: Bool = false) {
            self.maximumCommandSetLength = maximumCommandSetLength
            self.maximumDataSetLength = maximumDataSetLength
            self.emptyFragments = emptyFragments
            self.streamsDataSets = streamsDataSets
        }
    }

    enum Phase: Sendable {
        /// Between messages. `afterCommandWithoutDataSet` is the last command when it said 0101H,
        /// so that a data set arriving now is reported as such.
        case idle(afterCommandWithoutDataSet: UInt16?)
        case receivingCommand
        case receivingDataSet(DIMSECommand, commandBytes: ByteBuffer)
        /// Streaming: the data set of this command is handed on fragment by fragment.
        case streamingDataSet(DIMSECommand, commandBytes: ByteBuffer)
        /// Dropping the rest of an abandoned command set (and then its data set, if any).
        case skippingCommand
        /// Dropping the rest of an abandoned data set, or the data set (if any) of an abandoned command.
        case skippingDataSet
    }

    /// The state of one presentation context. The bytes gathered so far live outside `Phase`
    /// so that appending a fragment mutates the buffer in place: `receive` moves the state
    /// out of `contexts` first, so the buffer is uniquely referenced and never copied
    /// (a copy per fragment would make assembly quadratic in the number of fragments).
    struct ContextState: Sendable {
        var phase: Phase = .idle(afterCommandWithoutDataSet: nil)
        /// The command set or data set bytes gathered so far.
        var bytes: ByteBuffer?
        /// Data set bytes handed on so far (streaming).
        var streamed = 0
        var statistics = FragmentStatistics()
        /// The raw Command Field of the command in `.receivingDataSet`, for errors.
        var dataSetCommandField: UInt16?

        var gathered: Int { bytes?.readableBytes ?? 0 }
        var received: Int { gathered + streamed }

        var isIdleWithoutHistory: Bool {
            if case .idle(nil) = phase { return true }
            return false
        }

        mutating func append(_ fragment: ByteBuffer) {
            guard var gathered = bytes else {
                bytes = fragment
                return
            }
            bytes = nil  // leaves `gathered` the only reference, so the write below does not copy
            var f = fragment
            gathered.writeBuffer(&f)
            bytes = gathered
        }

        /// Starts the next stream (or message): the gathered bytes are handed over.
        mutating func take() -> ByteBuffer {
            defer { bytes = nil }
            return bytes ?? ByteBuffer()
        }

        mutating func reset(to phase: Phase) {
            self = ContextState(phase: phase)
        }
    }

    public var configuration: Configuration
    /// The contexts with state, in no particular order: a few pairs searched linearly (one
    /// context is in progress at a time in practice, at most 128 odd IDs), not hashed per PDV.
    private var contexts: [(id: UInt8, state: ContextState)] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Presentation context IDs with a message partly received.
    public var contextsInProgress: [UInt8] {
        contexts.compactMap { id, state -> UInt8? in
            switch state.phase {
            case .receivingCommand, .receivingDataSet, .streamingDataSet, .skippingCommand, .skippingDataSet: return id
            case .idle: return nil
            }
        }.sorted()
    }

    /// Forgets everything received on `presentationContextID`.
    /// Gives up on the messages in progress (bytes were lost, e.g. a capture gap) and returns
    /// those whose command set was complete and whose data set was being received: the
    /// command is known even though its data set is not.
    public mutating func abandonInProgress() -> [(presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer)] {
        var out: [(presentationContextID: UInt8, command: DIMSECommand, commandBytes: ByteBuffer)] = []
        for (id, state) in contexts.sorted(by: { $0.id < $1.id }) {
            switch state.phase {
            case .receivingDataSet(let command, let commandBytes), .streamingDataSet(let command, let commandBytes):
                out.append((id, command, commandBytes))
            case .idle, .receivingCommand, .skippingCommand, .skippingDataSet:
                break
            }
        }
        contexts.removeAll()
        return out
    }

    public mutating func reset(presentationContextID: UInt8) {
        contexts.removeAll { $0.id == presentationContextID }
    }

    /// Forgets everything.
    public mutating func reset() {
        contexts = []
    }

    /// Feeds one PDV (gathering data sets). Returns the message it completes, if any.
    public mutating func receive(_ pdv: PresentationDataValueItem) throws(DIMSEError) -> DIMSEMessageAssembly? {
        guard case .message(let message)? = try next(pdv) else { return nil }
        return message
    }

    /// Feeds one PDV. Returns what it completes: a message, or when streaming data sets a
    /// command or the next fragment of a data set.
    public mutating func next(_ pdv: PresentationDataValueItem) throws(DIMSEError) -> AssemblyOutput? {
        let id = pdv.presentationContextID
        let header = pdv.messageControlHeader
        var state = takeState(id)
        defer { if !state.isIdleWithoutHistory { contexts.append((id, state)) } }
        do throws(DIMSEError) {
            return try step(&state, pdv)
        } catch {
            state.reset(to: abandon(isCommand: header.isCommand, isLast: header.isLastFragment))
            var e = error
            e.presentationContextID = id
            e.isCommandFragment = header.isCommand
            throw e
        }
    }

    /// Moves the state of context `id` out of `contexts` (so that its bytes are uniquely
    /// referenced while a fragment is appended), or a fresh one.
    private mutating func takeState(_ id: UInt8) -> ContextState {
        guard let i = contexts.firstIndex(where: { $0.id == id }) else { return ContextState() }
        contexts.swapAt(i, contexts.count - 1)
        return contexts.removeLast().state
    }

    /// Feeds every PDV of a P-DATA-TF PDU, in order. An error on one PDV does not stop the
    /// ones after it.
    public mutating func receive(_ pdu: DataTransfer) -> [Result<DIMSEMessageAssembly, DIMSEError>] {
        var out: [Result<DIMSEMessageAssembly, DIMSEError>] = []
        for pdv in pdu.items {
            do throws(DIMSEError) {
                if let message = try receive(pdv) { out.append(.success(message)) }
            } catch {
                out.append(.failure(error))
            }
        }
        return out
    }

    /// The phase after an error on a fragment: skip what is left of the stream it belonged to.
    private func abandon(isCommand: Bool, isLast: Bool) -> Phase {
        switch (isCommand, isLast) {
        case (true, false): return .skippingCommand
        case (true, true): return .skippingDataSet
        case (false, false): return .skippingDataSet
        case (false, true): return .idle(afterCommandWithoutDataSet: nil)
        }
    }

    private func step(_ state: inout ContextState,
                      _ pdv: PresentationDataValueItem) throws(DIMSEError) -> AssemblyOutput? {
        let header = pdv.messageControlHeader
        switch state.phase {
        case .idle(let previous):
            guard header.isCommand else {
                if let previous {
                    throw DIMSEError(.unexpectedDataSet,
                                     "the previous \(CommandField.name(of: previous)) has Command Data Set Type 0101H (no data set)",
                                     commandField: previous, fragmentNumber: 1)
                }
                throw DIMSEError(.dataSetFragmentBeforeCommand, "no command set was received before this data set fragment",
                                 fragmentNumber: 1)
            }
            state.reset(to: .receivingCommand)
            return try command(&state, pdv)

        case .receivingCommand:
            guard header.isCommand else {
                throw DIMSEError(.dataSetFragmentBeforeCommand,
                                 "the command set is incomplete (\(state.statistics.commandFragments) fragments, \(state.gathered) bytes, no last fragment yet)",
                                 fragmentNumber: state.statistics.dataSetFragments + 1)
            }
            return try command(&state, pdv)

        case .receivingDataSet:
            guard !header.isCommand else {
                // The command is bound only here, for the error (not copied for every data set fragment).
                guard case .receivingDataSet(let command, _) = state.phase else { return nil }
                throw DIMSEError(.commandFragmentDuringDataSet,
                                 "\(command) announced a data set; \(state.statistics.dataSetFragments) data set fragments (\(state.gathered) bytes) arrived without the last one",
                                 commandField: command.rawCommandField, fragmentNumber: 1)
            }
            return try dataSet(&state, pdv)

        case .streamingDataSet:
            guard !header.isCommand else {
                guard case .streamingDataSet(let command, _) = state.phase else { return nil }
                throw DIMSEError(.commandFragmentDuringDataSet,
                                 "\(command) announced a data set; \(state.statistics.dataSetFragments) data set fragments (\(state.received) bytes) arrived without the last one",
                                 commandField: command.rawCommandField, fragmentNumber: 1)
            }
            return try dataSet(&state, pdv)

        case .skippingCommand:
            if header.isCommand {
                state.phase = header.isLastFragment ? .skippingDataSet : .skippingCommand
            } else {
                state.phase = header.isLastFragment ? .idle(afterCommandWithoutDataSet: nil) : .skippingDataSet
            }
            return nil

        case .skippingDataSet:
            if header.isCommand {
                state.reset(to: .receivingCommand)
                return try command(&state, pdv)
            }
            state.phase = header.isLastFragment ? .idle(afterCommandWithoutDataSet: nil) : .skippingDataSet
            return nil
        }
    }

    private func checkEmpty(_ pdv: PresentationDataValueItem, number: Int) throws(DIMSEError) {
        if pdv.fragment.readableBytes == 0 && configuration.emptyFragments == .reject {
            throw DIMSEError(.emptyFragment, "the PDV holds a message control header and no fragment bytes",
                             fragmentNumber: number)
        }
    }

    /// A command fragment in phase `.receivingCommand`.
    private func command(_ state: inout ContextState,
                         _ pdv: PresentationDataValueItem) throws(DIMSEError) -> AssemblyOutput? {
        let number = state.statistics.commandFragments + 1
        try checkEmpty(pdv, number: number)
        let newLength = state.gathered + pdv.fragment.readableBytes
        guard newLength <= configuration.maximumCommandSetLength else {
            throw DIMSEError(.messageTooLarge,
                             "the command set would reach \(newLength) bytes, over the bound of \(configuration.maximumCommandSetLength)",
                             fragmentNumber: number)
        }
        state.append(pdv.fragment)
        state.statistics.count(pdv)
        guard pdv.messageControlHeader.isLastFragment else { return nil }
        let bytes = state.take()
        let command: DIMSECommand
        do throws(DIMSEError) {
            command = try DIMSECommand(decoding: bytes)
        } catch {
            var e = error
            e.fragmentNumber = number
            throw e
        }
        guard command.hasDataSet else {
            let message = DIMSEMessageAssembly(presentationContextID: pdv.presentationContextID, command: command,
                                               commandBytes: bytes, dataSetBytes: nil, fragments: state.statistics)
            state.reset(to: .idle(afterCommandWithoutDataSet: command.rawCommandField))
            return .message(message)
        }
        state.dataSetCommandField = command.rawCommandField
        if configuration.streamsDataSets {
            state.phase = .streamingDataSet(command, commandBytes: bytes)
            return .command(DIMSEMessageAssembly(presentationContextID: pdv.presentationContextID, command: command,
                                                 commandBytes: bytes, dataSetBytes: nil, fragments: state.statistics))
        }
        state.phase = .receivingDataSet(command, commandBytes: bytes)
        return nil
    }

    /// A data set fragment in phase `.receivingDataSet`.
    private func dataSet(_ state: inout ContextState,
                         _ pdv: PresentationDataValueItem) throws(DIMSEError) -> AssemblyOutput? {
        // The command stays in the phase until the last fragment (binding it here would copy
        // it, and retain everything it holds, for every fragment of the data set).
        let streaming: Bool
        switch state.phase {
        case .receivingDataSet: streaming = false
        case .streamingDataSet: streaming = true
        case .idle, .receivingCommand, .skippingCommand, .skippingDataSet: return nil
        }
        let number = state.statistics.dataSetFragments + 1
        do throws(DIMSEError) {
            try checkEmpty(pdv, number: number)
        } catch {
            var e = error
            e.commandField = state.dataSetCommandField
            throw e
        }
        let newLength = state.received + pdv.fragment.readableBytes
        // Gathered in one buffer, a data set is bounded by what a ByteBuffer holds; streamed, only by the configuration.
        let bound = streaming ? configuration.maximumDataSetLength : min(configuration.maximumDataSetLength, Int(UInt32.max))
        guard newLength <= bound else {
            throw DIMSEError(.messageTooLarge, "the data set would reach \(newLength) bytes, over the bound of \(bound)",
                             commandField: state.dataSetCommandField, fragmentNumber: number)
        }
        if streaming {
            state.streamed += pdv.fragment.readableBytes
            state.statistics.count(pdv)
            let isLast = pdv.messageControlHeader.isLastFragment
            let statistics = isLast ? state.statistics : nil
            if isLast { state.reset(to: .idle(afterCommandWithoutDataSet: nil)) }
            return .dataSetFragment(presentationContextID: pdv.presentationContextID, pdv.fragment, isLast: isLast,
                                    fragments: statistics)
        }
        state.append(pdv.fragment)
        state.statistics.count(pdv)
        guard pdv.messageControlHeader.isLastFragment else { return nil }
        // The phase is swapped out (a move), then the command and its bytes are taken from it.
        var phase = Phase.idle(afterCommandWithoutDataSet: nil)
        swap(&phase, &state.phase)
        guard case .receivingDataSet(let command, let commandBytes) = consume phase else { return nil }
        let message = DIMSEMessageAssembly(presentationContextID: pdv.presentationContextID, command: command,
                                           commandBytes: commandBytes, dataSetBytes: state.take(),
                                           fragments: state.statistics)
        state.reset(to: .idle(afterCommandWithoutDataSet: nil))
        return .message(message)
    }
}
