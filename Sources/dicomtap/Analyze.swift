import ArgumentParser
import DICOMCapture
import DICOMCore
import DICOMInspect
import DIMSE
import Foundation

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct DICOM associations and exchanges from pcap/pcapng captures.",
        discussion: """
        Reads captures through libpcap (Ethernet with VLAN tags, Linux cooked SLL/SLL2, BSD loopback, raw IP; IPv4 and IPv6), \
        reassembles TCP, finds DICOM on ports 104 and 11112, on --port ports, and on any port from an A-ASSOCIATE-RQ, \
        and reports every association with its negotiation, DIMSE exchanges, timing and protocol findings.
        Exit status: 0 when the capture was read (even with findings), 2 when it could not be read. Warnings about \
        a capture (truncated, no DICOM found) go to stderr.

        EXAMPLES:
          dicomtap analyze captures/rpi_general_one_match.pcapng
          dicomtap analyze --summary captures/*.pcapng
          dicomtap analyze --format json --service C-FIND captures/concurrent.pcapng
          dicomtap analyze --format html captures/*.pcapng > report.html
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @Argument(help: "Capture files (pcap or pcapng).")
    var files: [String]

    @Option(help: "Output format: text (annotated dump), json (one document) or html (one self-contained page: ladder diagrams, tables, timeline).")
    var format: Format = .text

    @Flag(help: "Print statistics (associations by outcome, exchanges by status, service response times) instead of the dump.")
    var summary = false

    @Option(name: .customLong("port"), help: "A TCP port that carries DICOM (repeatable; 104 and 11112 are always included).")
    var ports: [UInt16] = []

    @Option(help: "Show only association N (as numbered in the output: 1, 2, 3 ... over all inputs in order).")
    var association: Int?

    @Option(help: "Show only exchanges of this service (e.g. C-FIND, C-STORE).")
    var service: String?

    @Option(help: "Show only associations with an exchange about this Patient ID (request or response identifier).")
    var patientID: String?

    @Flag(help: "Include full data sets of C-STORE and other bulk messages (JSON), and dump every data set (text).")
    var datasets = false

    @Flag(help: "Show every P-DATA-TF PDU in the text dump, not only the DIMSE messages built from them.")
    var pdus = false

    @Option(help: "Threads that decode and render associations while the capture is read (default: one per CPU; 1: all on one thread).")
    var threads: Int?

    @OptionGroup(title: "Limits per association")
    var limits: LimitOptions

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let service, DIMSEService(rawValue: service.uppercased()) == nil {
            throw ValidationError("unknown service '\(service)'; one of "
                                  + DIMSEService.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    func run() throws {
        var config = CaptureAnalyzer.Configuration()
        config.dicomPorts.formUnion(ports)
        config.observer = limits.applied(to: config.observer)
        // Before anything is read: every input.
        for file in files { try PathCheck.readableFile(file, "", exitCode: 2) }
        let stdout = BufferedOutput()
        let output = AnalysisReportWriter(format: summary ? .summary : writerFormat, filter: filter,
                                          write: { stdout.write($0) },
                                          warn: { warning in
                                              stdout.flush()
                                              FileHandle.standardError.write(Data("dicomtap analyze: warning: \(warning)\n".utf8))
                                          })
        let workers = threads ?? ProcessInfo.processInfo.activeProcessorCount
        output.includeAllDataSets = datasets
        output.dumpOptions = AnnotatedDumpRenderer.Options(allDataSets: datasets, showDataPDUs: pdus)
        output.begin(inputs: files)
        for file in files {
            let analyzer: CaptureAnalyzer
            do {
                analyzer = try output.analyze(path: file, configuration: config, workers: workers)
            } catch {
                stdout.flush()
                FileHandle.standardError.write(Data("dicomtap analyze: \(error)\n".utf8))
                throw ExitCode(2)
            }
            output.warnings(analyzer.warnings, file: file)
        }
        output.end()
        stdout.flush()
    }

    var writerFormat: AnalysisReportWriter.Format {
        switch format {
        case .text: return .text
        case .json: return .json
        case .html: return .html
        }
    }

    var filter: AnalysisReportWriter.Filter {
        AnalysisReportWriter.Filter(association: association, service: service?.uppercased(), patientID: patientID)
    }
}

/// Collects output and writes it to standard output in large pieces (one write per association
/// would be a system call each).
final class BufferedOutput {
    private var buffer: [UInt8] = []
    private let threshold = 1 << 20

    init() { buffer.reserveCapacity(threshold + (threshold >> 2)) }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= threshold { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBufferPointer { FileHandle.standardOutput.write(Data(buffer: $0)) }
        buffer.removeAll(keepingCapacity: true)
    }
}
