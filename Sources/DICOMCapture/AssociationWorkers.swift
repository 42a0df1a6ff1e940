import DICOMInspect
import Dispatch
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What the capture stage (packets, TCP reassembly, DICOM detection) tells the association
/// stage (the observers), per association and in stream order.
enum AssociationCommand: Sendable {
    /// A new association (its observer is made where it is observed, so commands stay small).
    case start(index: Int, client: Endpoint, server: Endpoint, time: Int64, packet: Int)
    case data(index: Int, role: PeerRole, ByteBuffer, time: Int64, packet: Int)
    case gap(index: Int, role: PeerRole, Gap, time: Int64, packet: Int)
    /// The connection closed (`lastPacket`: the packet at which it was seen to close), or the
    /// capture ended with it open (`captureEnded`).
    case close(index: Int, time: Int64, lastPacket: Int, captureEnded: Bool)

    var index: Int {
        switch self {
        case .start(let index, _, _, _, _): return index
        case .data(let index, _, _, _, _), .gap(let index, _, _, _, _), .close(let index, _, _, _): return index
        }
    }
}

/// The open associations of one observing thread, by index.
struct AssociationTable {
    let keepEvents: Bool
    let renderer: AnalysisRenderer?
    let observerConfiguration: AssociationObserver.Configuration
    private var live: [Int: CaptureAnalyzer.Association] = [:]
    /// Observer events not kept (reused).
    private var scratch: [ObservationEvent] = []

    init(configuration: CaptureAnalyzer.Configuration) {
        keepEvents = configuration.keepEvents
        renderer = configuration.renderer
        var observer = configuration.observer
        observer.emitsEvents = configuration.keepEvents || configuration.renderer?.needsEvents == true
        if configuration.renderer?.readsDataSets == true { observer.decodesDataSets = true }
        observerConfiguration = observer
    }

    /// Applies one command; returns the association when the command completed it.
    mutating func apply(_ command: AssociationCommand) -> CaptureAnalyzer.Association? {
        switch command {
        case .start(let index, let client, let server, let time, let packet):
            live[index] = CaptureAnalyzer.Association(
                index: index, client: client, server: server,
                observer: AssociationObserver(configuration: observerConfiguration), events: [],
                rendering: renderer?.start(index: index, firstTime: Timestamp(nanoseconds: time)),
                firstPacket: packet, lastPacket: packet, firstTime: Timestamp(nanoseconds: time))
        case .data(let index, let role, let data, let time, let packet):
            // Mutated in place through `values[i]`: `live[index]?.receive(...)` would copy the
            // whole association (every reference in the observer retained and released) per packet.
            guard let i = live.index(forKey: index) else { return nil }
            live.values[i].receive(data, from: role, at: Timestamp(nanoseconds: time), packet: packet,
                                   keepEvents: keepEvents, scratch: &scratch)
        case .gap(let index, let role, let gap, let time, let packet):
            guard let i = live.index(forKey: index) else { return nil }
            live.values[i].gap(gap, from: role, at: Timestamp(nanoseconds: time), packet: packet, keepEvents: keepEvents)
        case .close(let index, let time, let lastPacket, let captureEnded):
            guard var a = live.removeValue(forKey: index) else { return nil }
            a.lastPacket = max(a.lastPacket, lastPacket)
            a.close(at: Timestamp(nanoseconds: time), captureEnded: captureEnded, keepEvents: keepEvents)
            return a
        }
        return nil
    }
}

/// Commands on their way to one worker. The stream bytes of `.data` commands are copied into
/// `bytes` (one buffer per batch) rather than handed over as slices of the packets: the capture
/// thread then keeps reusing its packet storage (no allocation per packet there, none freed on
/// another thread), and the worker copies each piece into a buffer of its own size (a kept
/// piece never pins the batch).
struct CommandBatch: Sendable {
    enum Entry: Sendable {
        case command(AssociationCommand)
        case data(index: Int, role: PeerRole, offset: Int, length: Int, time: Int64, packet: Int)
    }

    var entries: [Entry] = []
    var bytes: ByteBuffer

    init(byteCapacity: Int) {
        entries.reserveCapacity(AssociationWorkerPool.batchSize)
        bytes = ByteBufferAllocator().buffer(capacity: byteCapacity)
    }

    mutating func append(_ command: AssociationCommand) {
        if case .data(let index, let role, var data, let time, let packet) = command {
            let offset = bytes.writerIndex
            let length = bytes.writeBuffer(&data)
            entries.append(.data(index: index, role: role, offset: offset, length: length, time: time, packet: packet))
        } else {
            entries.append(.command(command))
        }
    }

    /// The commands, each `.data` with its bytes in a buffer of their own.
    func forEachCommand(_ body: (AssociationCommand) -> Void) {
        let allocator = ByteBufferAllocator()
        for entry in entries {
            switch entry {
            case .command(let command):
                body(command)
            case .data(let index, let role, let offset, let length, let time, let packet):
                var data = allocator.buffer(capacity: length)
                _ = bytes.withUnsafeReadableBytes { raw in
                    data.writeBytes(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
                }
                body(.data(index: index, role: role, data, time: time, packet: packet))
            }
        }
    }
}

/// A bounded queue of command batches from the capture thread to one worker: the producer
/// waits when `capacity` batches are queued (so memory stays bounded when the workers are
/// slower than reading), the worker waits when none is.
final class BatchQueue: Sendable {
    private let batches = NIOLockedValueBox<[CommandBatch?]>([])
    private let queued = DispatchSemaphore(value: 0)
    private let space: DispatchSemaphore

    init(capacity: Int) {
        space = DispatchSemaphore(value: capacity)
    }

    /// Queues a batch; `nil` tells the worker to stop.
    func put(_ batch: CommandBatch?) {
        space.wait()
        batches.withLockedValue { $0.append(batch) }
        queued.signal()
    }

    func take() -> CommandBatch? {
        queued.wait()
        let batch = batches.withLockedValue { $0.removeFirst() }
        space.signal()
        return batch
    }
}

/// Worker threads that each observe the associations routed to them (association N on worker
/// N % count). Used from the capture thread only (`send`, `finish`).
final class AssociationWorkerPool {
    private let queues: [BatchQueue]
    private var batches: [CommandBatch]
    private let done = DispatchGroup()
    private var finished = false
    /// Commands per batch: enough to make the hand-over cost negligible, few enough to keep workers busy.
    static let batchSize = 512
    /// Stream bytes per batch before it is sent even if it has fewer commands.
    static let batchBytes = 256 << 10

    init(workers: Int, configuration: CaptureAnalyzer.Configuration, onAssociation: @escaping @Sendable (CaptureAnalyzer.Association) -> Void) {
        queues = (0..<workers).map { _ in BatchQueue(capacity: 8) }
        batches = (0..<workers).map { _ in CommandBatch(byteCapacity: Self.batchBytes) }
        for queue in queues {
            done.enter()
            let group = done
            let thread = Thread {
                var table = AssociationTable(configuration: configuration)
                while let batch = queue.take() {
                    batch.forEachCommand { command in
                        if let completed = table.apply(command) { onAssociation(completed) }
                    }
                }
                group.leave()
            }
            thread.name = "dicomtap-observer"
            // Data sets nest; the decoder bounds the depth, but not to what a 512 KiB secondary stack holds.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    func send(_ command: AssociationCommand) {
        let worker = command.index % queues.count
        batches[worker].append(command)
        if batches[worker].entries.count >= Self.batchSize || batches[worker].bytes.readableBytes >= Self.batchBytes {
            let full = batches[worker]
            batches[worker] = CommandBatch(byteCapacity: Self.batchBytes)
            queues[worker].put(full)
        }
    }

    /// Sends what is batched, stops the workers and waits for them.
    func finish() {
        guard !finished else { return }
        finished = true
        for (worker, queue) in queues.enumerated() {
            if !batches[worker].entries.isEmpty { queue.put(batches[worker]) }
            batches[worker] = CommandBatch(byteCapacity: 0)
            queue.put(nil)
        }
        done.wait()
    }

    deinit {
        finish()
    }
}

/// Puts completed associations back in the order they started. An association still open
/// while `limit` later ones have completed would hold all of them in memory (a modality that
/// keeps one association open for the whole capture): then the waiting ones are handed over
/// without it, and it is handed over when it completes (`lateCount` counts such associations).
/// Only an association the capture thread still has open is passed over (`isOpen`); one that
/// closed and is still on its way from a worker is waited for.
struct StartOrderBuffer<Item> {
    let limit: Int
    private var waiting: [Int: Item] = [:]
    /// Every index below this was handed over or was passed over while open (handed over when it completes).
    private var next: Int
    /// Associations handed over after later ones: how many, and the first few.
    private(set) var lateCount = 0
    private(set) var firstLate: [Int] = []

    init(limit: Int, first: Int = 1) {
        self.limit = max(1, limit)
        next = first
    }

    mutating func add(_ item: Item, index: Int, isOpen: (Int) -> Bool, emit: (Item) -> Void) {
        if index < next {
            lateCount += 1
            if firstLate.count < 5 { firstLate.append(index) }
            emit(item)
            return
        }
        if index == next {
            emit(item) // the usual case: handed over at once, without a copy into `waiting`
            next += 1
        } else {
            waiting[index] = item
        }
        while !waiting.isEmpty, let item = waiting.removeValue(forKey: next) {
            emit(item)
            next += 1
        }
        guard waiting.count >= limit else { return }
        // Pass over the associations still open; stop at one that closed but has not arrived.
        while !waiting.isEmpty {
            if let item = waiting.removeValue(forKey: next) {
                emit(item)
            } else if !isOpen(next) {
                break
            }
            next += 1
        }
    }

    /// What the caller should tell the user when associations came out of start order.
    var lateWarning: String? {
        guard lateCount > 0 else { return nil }
        let list = firstLate.map(String.init).joined(separator: ", ") + (lateCount > firstLate.count ? ", ..." : "")
        return "\(lateCount) association\(lateCount == 1 ? "" : "s") (\(list)) stayed open while \(limit) later ones "
            + "completed and \(lateCount == 1 ? "is" : "are") reported after them"
    }
}
