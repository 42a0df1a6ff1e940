import DICOMCore
import DICOMInspect
import DICOMUL
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reconstructs DICOM associations from a capture: packets -> link/IP/TCP decoding -> TCP
/// reassembly -> one `AssociationObserver` per DICOM connection. Memory is bounded by the
/// open connections: an association is handed to `onAssociation` as soon as it is complete
/// (in the order associations started) and then dropped.
public struct CaptureAnalyzer {
    public struct Configuration: Sendable {
        /// Ports on which every connection is DICOM (PS3.15 / IANA 104, and the common 11112).
        public var dicomPorts: Set<UInt16> = [104, 11112]
        /// On other ports, recognise an association from its A-ASSOCIATE-RQ.
        public var detectByAssociateRequest = true
        /// Keep every observation event in `Association.events` (for a consumer that renders
        /// the whole association at its end; the analyzer's renderer renders as they come).
        public var keepEvents = false
        /// Renders each association as its events come (`Association.rendering`): what `analyze` prints.
        public var renderer: AnalysisRenderer?
        /// The observers' configuration. By default data sets are only checked as they arrive, a
        /// short one decoded when a renderer or a filter reads it (`decodesDataSets` off); with a
        /// renderer that shows data sets they are decoded as they arrive, bulk values as references.
        public var observer: AssociationObserver.Configuration = {
            var c = AssociationObserver.Configuration()
            c.decodesDataSets = false
            return c
        }()
        public var maxBufferedBytesPerDirection = 16 << 20
        /// Completed associations are handed over in start order; at most this many wait for one
        /// that started before them and is still open (then they go first, with a warning).
        public var maxWaitingAssociations = 2048
        /// The first association's number: with several inputs, one more than the associations of
        /// the inputs before (numbers run 1, 2, 3 ... over all inputs, then in start order).
        public var firstAssociationIndex = 1
        public init() {}
    }

    /// One association, as reconstructed.
    public struct Association: Sendable {
        public var index: Int
        public var client: Endpoint
        public var server: Endpoint
        public var observer: AssociationObserver
        /// Observation events in time order (empty unless `keepEvents`).
        public var events: [ObservationEvent]
        /// The association rendered so far (with a configured renderer).
        public var rendering: AssociationRendering?
        public var firstPacket: Int
        public var lastPacket: Int
        public var firstTime: Timestamp

        mutating func receive(_ data: ByteBuffer, from role: PeerRole, at time: Timestamp, packet: Int, keepEvents: Bool,
                              scratch: inout [ObservationEvent]) {
            observer.receive(data, from: role, at: time, packet: packet, into: &scratch)
            consume(&scratch, keepEvents: keepEvents)
            lastPacket = packet
        }

        mutating func gap(_ gap: Gap, from role: PeerRole, at time: Timestamp, packet: Int, keepEvents: Bool) {
            var e = observer.gap(from: role, length: gap.length, streamOffset: gap.streamOffsets.lowerBound, at: time, packet: packet)
            consume(&e, keepEvents: keepEvents)
        }

        mutating func close(at time: Timestamp, captureEnded: Bool, keepEvents: Bool) {
            var e = observer.connectionClosed(at: time, captureEnded: captureEnded)
            consume(&e, keepEvents: keepEvents)
        }

        /// Hands the events to the rendering (and keeps them with `keepEvents`); empties `events`.
        private mutating func consume(_ new: inout [ObservationEvent], keepEvents: Bool) {
            guard !new.isEmpty else { return }
            rendering?.observe(new, info: observer.info)
            if keepEvents { events += new }
            new.removeAll(keepingCapacity: true)
        }
    }

    /// A problem with the capture itself (not with a DICOM association).
    public struct Warning: Sendable, CustomStringConvertible {
        public var message: String
        public var packet: Int?
        public var description: String { message + (packet.map { " (packet \($0))" } ?? "") }
    }

    public let configuration: Configuration
    public private(set) var warnings: [Warning] = []
    public private(set) var decodeStatistics = DecodeStatistics()
    public private(set) var packets = 0
    public private(set) var bytes = 0
    /// Packets the capture holds shorter than they were on the wire (cut by the snapshot length).
    public private(set) var cutPackets = CutPackets()
    /// TCP server ports of connections that were not DICOM (for the "no DICOM" warning).
    public private(set) var otherPorts: [UInt16: Int] = [:]

    private var decoder = PacketDecoder()
    private var reassembler: TCPReassembler
    /// The association index of each DICOM connection still open.
    private var live: [ConnectionID: Int] = [:]
    /// The same indices, with workers: whether an association not yet handed back is still open here.
    fileprivate var openIndices: Set<Int> = []
    /// The associations themselves, when they are observed on this thread (one worker, `pool` nil).
    private var table: AssociationTable
    /// The worker threads that observe associations, when there are several workers.
    private let pool: AssociationWorkerPool?
    private var pending: [ConnectionID: (client: Endpoint, server: Endpoint, time: Int64, packet: Int)] = [:]
    private var ignored: Set<ConnectionID> = []
    private var nextIndex: Int
    /// The DICOM associations found so far (numbered from `firstAssociationIndex`).
    public var associationCount: Int { nextIndex - configuration.firstAssociationIndex }
    /// Completed associations waiting for earlier ones to complete, so output stays in start order.
    private var order: StartOrderBuffer<Association>
    private var lastPacket = 0
    /// Reused per packet: the reassembler's events.
    private var segmentEvents: [TCPReassembler.Event] = []
    private let onAssociation: (Association) -> Void

    /// Observes every association on the calling thread; `onAssociation` gets them in the order
    /// they started.
    public init(configuration: Configuration = Configuration(), onAssociation: @escaping (Association) -> Void) {
        self.configuration = configuration
        self.onAssociation = onAssociation
        self.table = AssociationTable(configuration: configuration)
        self.order = StartOrderBuffer(limit: configuration.maxWaitingAssociations, first: configuration.firstAssociationIndex)
        self.nextIndex = configuration.firstAssociationIndex
        self.pool = nil
        reassembler = TCPReassembler(configuration: .init(maxBufferedBytesPerDirection: configuration.maxBufferedBytesPerDirection,
                                                          serverPorts: configuration.dicomPorts))
    }

    /// Reads, reassembles and routes packets on the calling thread and observes the associations
    /// on `workers` threads (association N on worker N % workers), in batches. `onAssociation` is
    /// called on the worker threads as each association completes, in no particular order across
    /// workers (`analyze(path:configuration:workers:prepare:consume:)` puts them back in order).
    /// `finish()` waits for the workers. With `workers` below 2 this is the one-thread analyzer.
    public init(configuration: Configuration = Configuration(), workers: Int,
                onAssociation: @escaping @Sendable (Association) -> Void) {
        self.configuration = configuration
        self.table = AssociationTable(configuration: configuration)
        self.order = StartOrderBuffer(limit: configuration.maxWaitingAssociations, first: configuration.firstAssociationIndex)
        self.nextIndex = configuration.firstAssociationIndex
        if workers >= 2 {
            self.onAssociation = { _ in }
            self.pool = AssociationWorkerPool(workers: workers, configuration: configuration,
                                              onAssociation: onAssociation)
        } else {
            self.onAssociation = onAssociation
            self.pool = nil
        }
        reassembler = TCPReassembler(configuration: .init(maxBufferedBytesPerDirection: configuration.maxBufferedBytesPerDirection,
                                                          serverPorts: configuration.dicomPorts))
    }

    /// The snapshot-length warning of a capture taken with a small snapshot length (under 65,535),
    /// found by reading it once before the analysis (each packet at most that length). nil when the
    /// file says packets were kept whole, when none was cut, and for a pipe or other stream that
    /// can be read only once (the analysis then warns at its end).
    public static func snapLengthWarning(path: String) -> Warning? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        guard let reader = try? CaptureReader(path: path), reader.snapshotLength > 0, reader.snapshotLength < 65_535 else {
            return nil
        }
        var cut = CutPackets()
        while let packet = try? reader.next() { cut.note(packet) }
        return cut.warning
    }

    /// Reads a whole capture file. A truncated file is analysed up to the cut with a warning.
    public static func analyze(path: String, configuration: Configuration = Configuration(),
                               onAssociation: @escaping (Association) -> Void) throws(CaptureError) -> CaptureAnalyzer {
        let reader = try CaptureReader(path: path)
        var analyzer = CaptureAnalyzer(configuration: configuration, onAssociation: onAssociation)
        do throws(CaptureError) {
            while let packet = try reader.next() { analyzer.process(packet) }
        } catch {
            guard error.code == .truncated || error.code == .corrupt else { throw error }
            analyzer.warnings.append(Warning(message: error.endWarning,
                                             packet: error.cutShortRecord == nil ? analyzer.packets : nil))
        }
        analyzer.finish()
        return analyzer
    }

    /// Reads a whole capture on the calling thread and observes its associations on `workers`
    /// threads: `prepare` runs on a worker as each association completes (render it there),
    /// `consume` on the calling thread, in the order associations started. Memory stays bounded
    /// as in the one-thread analyzer: batches in flight are bounded, and an association waits in
    /// the reorder buffer only while one that started before it is still open.
    public static func analyze<Prepared: Sendable>(
        path: String, configuration: Configuration = Configuration(), workers: Int,
        prepare: @escaping @Sendable (Association) -> Prepared, consume: @escaping (Prepared) -> Void
    ) throws(CaptureError) -> CaptureAnalyzer {
        guard workers >= 2 else {
            return try analyze(path: path, configuration: configuration) { consume(prepare($0)) }
        }
        let reader = try CaptureReader(path: path)
        let completed = NIOLockedValueBox<[(Int, Prepared)]>([])
        var analyzer = CaptureAnalyzer(configuration: configuration, workers: workers) { association in
            let prepared = prepare(association)
            completed.withLockedValue { $0.append((association.index, prepared)) }
        }
        var order = StartOrderBuffer<Prepared>(limit: configuration.maxWaitingAssociations, first: configuration.firstAssociationIndex)
        func drain() {
            let ready = completed.withLockedValue { done in
                var ready: [(Int, Prepared)] = []
                swap(&ready, &done)
                return ready
            }
            for (index, p) in ready {
                order.add(p, index: index, isOpen: { analyzer.openIndices.contains($0) }, emit: consume)
            }
        }
        do throws(CaptureError) {
            while let packet = try reader.next() {
                analyzer.process(packet)
                if analyzer.packets & 4095 == 0 { drain() }
            }
        } catch {
            guard error.code == .truncated || error.code == .corrupt else {
                analyzer.finish()
                throw error
            }
            analyzer.warnings.append(Warning(message: error.endWarning,
                                             packet: error.cutShortRecord == nil ? analyzer.packets : nil))
        }
        analyzer.finish()
        drain()
        if let late = order.lateWarning { analyzer.warnings.append(Warning(message: late, packet: nil)) }
        return analyzer
    }

    public mutating func process(_ packet: CapturedPacket) {
        packets += 1
        bytes += packet.capturedLength
        cutPackets.note(packet)
        lastPacket = packet.index
        guard case .segment(let segment) = decoder.decode(packet) else { return }
        var events = segmentEvents
        segmentEvents = []
        reassembler.process(segment, into: &events)
        for e in events { handle(e) }
        events.removeAll(keepingCapacity: true)
        segmentEvents = events
    }

    /// Ends the capture: every open connection is closed, and with workers, waits for them to
    /// observe everything routed to them.
    public mutating func finish() {
        for e in reassembler.finish() { handle(e) }
        pool?.finish()
        decodeStatistics = decoder.statistics
        if let late = order.lateWarning { warnings.append(Warning(message: late, packet: nil)) }
        // Connections still undecided were never shown to be DICOM.
        for (_, p) in pending { otherPorts[p.server.port, default: 0] += 1 }
        pending.removeAll()
        if let cut = cutPackets.warning { warnings.insert(cut, at: 0) }
        if associationCount == 0 {
            let ports = otherPorts.keys.sorted().map(String.init).joined(separator: ", ")
            warnings.append(Warning(message: "no DICOM association found" + (ports.isEmpty ? " (no TCP data)"
                                    : "; TCP server ports seen: \(ports) (use --port to name a DICOM port)"), packet: nil))
        }
        if decodeStatistics.unsupportedLinkType > 0 {
            warnings.append(Warning(message: "\(decodeStatistics.unsupportedLinkType) packets have an unsupported link type", packet: nil))
        }
    }

    private mutating func handle(_ event: TCPReassembler.Event) {
        switch event {
        case .opened(let id, let client, let server, let time, _):
            if configuration.dicomPorts.contains(server.port) || configuration.detectByAssociateRequest {
                // Decided on the first bytes: a DICOM port still has to carry PDUs.
                pending[id] = (client, server, time, lastPacket)
            } else {
                ignored.insert(id)
                otherPorts[server.port, default: 0] += 1
            }
        case .data(let id, let direction, let data, let time, let offset, let packet):
            if !pending.isEmpty, let p = pending[id] {
                pending[id] = nil
                let onDICOMPort = configuration.dicomPorts.contains(p.server.port)
                let isDICOM = onDICOMPort
                    ? offset > 0 || Self.startsWithPDUHeader(data)
                    : direction == .clientToServer && offset == 0 && Self.looksLikeAssociateRequest(data)
                if isDICOM {
                    start(id, client: p.client, server: p.server, time: p.time, packet: p.packet)
                } else {
                    ignored.insert(id)
                    otherPorts[p.server.port, default: 0] += 1
                    return
                }
            }
            guard let index = live[id] else { return }
            let role: PeerRole = direction == .clientToServer ? .requestor : .acceptor
            route(.data(index: index, role: role, data, time: time, packet: packet))
        case .gap(let id, let direction, let gap, let time, let packet):
            guard let index = live[id] else { return }
            let role: PeerRole = direction == .clientToServer ? .requestor : .acceptor
            route(.gap(index: index, role: role, gap, time: time, packet: packet))
        case .closed(let id, let time, let reason):
            pending[id] = nil
            ignored.remove(id)
            guard let index = live.removeValue(forKey: id) else { return }
            if pool != nil { openIndices.remove(index) }
            route(.close(index: index, time: time, lastPacket: lastPacket, captureEnded: reason == .endOfCapture))
        }
    }

    /// Hands a command to the association's observer: here, or on its worker.
    private mutating func route(_ command: AssociationCommand) {
        if let pool {
            pool.send(command)
        } else if let completed = table.apply(command) {
            complete(completed)
        }
    }

    private mutating func start(_ id: ConnectionID, client: Endpoint, server: Endpoint, time: Int64, packet: Int) {
        live[id] = nextIndex
        if pool != nil { openIndices.insert(nextIndex) }
        route(.start(index: nextIndex, client: client, server: server, time: time, packet: packet))
        nextIndex += 1
    }

    private mutating func complete(_ a: Association) {
        let onAssociation = self.onAssociation
        // On this thread every association not yet complete is still open.
        order.add(a, index: a.index, isOpen: { _ in true }, emit: onAssociation)
    }

    /// A PDU type (0x01–0x07) and a zero reserved byte: the start of a DICOM stream.
    static func startsWithPDUHeader(_ data: ByteBuffer) -> Bool {
        guard let type = data.getInteger(at: data.readerIndex, as: UInt8.self), (1...7).contains(type) else { return false }
        return data.readableBytes < 2 || data.getInteger(at: data.readerIndex + 1, as: UInt8.self) == 0
    }

    /// PS3.8 §9.3.2: type 0x01, reserved 0, a PDU length that fits the fixed fields, protocol version 1.
    static func looksLikeAssociateRequest(_ data: ByteBuffer) -> Bool {
        guard data.readableBytes >= 10,
              data.getInteger(at: data.readerIndex, as: UInt8.self) == 0x01,
              data.getInteger(at: data.readerIndex + 1, as: UInt8.self) == 0x00,
              let length = data.getInteger(at: data.readerIndex + 2, as: UInt32.self),
              length >= 68, length <= 1 << 16,
              data.getInteger(at: data.readerIndex + 6, as: UInt16.self) == 0x0001 else { return false }
        return true
    }
}

/// Packets a capture holds shorter than they were on the wire (cut by its snapshot length), counted
/// by the analysis and by the pre-read that says so before the dump.
public struct CutPackets: Sendable {
    public private(set) var count = 0
    /// The longest captured length of a cut packet: the snapshot length, less any link-layer pseudo-header.
    public private(set) var snapLength = 0

    mutating func note(_ packet: CapturedPacket) {
        guard packet.originalLength > packet.capturedLength else { return }
        count += 1
        snapLength = max(snapLength, packet.capturedLength)
    }

    /// The warning: the stream gaps that follow come from the capture, not from the network.
    public var warning: CaptureAnalyzer.Warning? {
        guard count > 0 else { return nil }
        return CaptureAnalyzer.Warning(message: "\(count) packet\(count == 1 ? " was" : "s were") captured shorter than on the wire "
            + "(snap length \(snapLength)): the stream gaps they leave come from the capture, not the network; "
            + "capture whole packets (tcpdump -s 0, dumpcap's default)", packet: nil)
    }
}
