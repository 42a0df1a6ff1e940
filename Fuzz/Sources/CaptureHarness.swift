import DICOMCapture
@testable import DICOMInspect
import Foundation

/// The capture reader (libpcap: pcap and pcapng), link layers, IPv4/IPv6, TCP reassembly and the
/// observers behind them, the way `dicomtap analyze` reads a file: the input is written to a
/// temporary file (the reader takes a path) and analysed with small limits (64 KiB buffered per
/// direction, 16 findings, 4 open requests), so that the limits are reached.
///
/// Oracles: no crash; every association handed over keeps within the observer's limits (as in
/// the stream harness) and has nothing left open; the association count is the number handed over.
enum CaptureHarness {
    static let path: String = {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return (directory as NSString).appendingPathComponent("dicomtap-fuzz-\(getpid()).pcap")
    }()

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        guard FileManager.default.createFile(atPath: path, contents: Data(buffer: data)) else {
            oracleFailure("cannot write \(path)")
        }
        defer { unlink(path) }
        var configuration = CaptureAnalyzer.Configuration()
        configuration.dicomPorts = [104, 11112, 4242]
        configuration.maxBufferedBytesPerDirection = 1 << 16
        configuration.observer.maximumFindings = StreamHarness.maximumFindings
        configuration.observer.maximumOpenRequests = StreamHarness.maximumOpenRequests
        configuration.observer.decodesDataSets = data.count % 2 == 0
        configuration.maxWaitingAssociations = 4
        var handedOver = 0
        let analyzer = try? CaptureAnalyzer.analyze(path: path, configuration: configuration) { association in
            handedOver += 1
            StreamHarness.checkBound(association.observer)
            let open = association.observer.exchangeTracker.openCounts
            if open.requests != 0 || open.exchanges != 0 {
                oracleFailure("association \(association.index) handed over with requests still open")
            }
        }
        if let analyzer, analyzer.associationCount != handedOver {
            oracleFailure("\(analyzer.associationCount) associations found, \(handedOver) handed over")
        }
    }

    static func seeds(root: String) throws -> [[UInt8]] {
        try SeedSources.captureFiles(root: root).map(readFile)
    }
}
