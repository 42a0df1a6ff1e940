import ArgumentParser
import DICOMCore
import DICOMNetwork
import DICOMServices
import DICOMStore
import Foundation
import NIOConcurrencyHelpers
import NIOCore

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask an SCP for one patient's relevant information (Relevant Patient Information Query, PS3.4 Annex Q).",
        discussion: """
        Sends one C-FIND of the General, Breast Imaging or Cardiac Relevant Patient Information Query SOP class \
        and prints every response: its status with the meaning, then the identifier (text, or the DICOM JSON model \
        with --format json). With --timeout, a query without its final response in time is cancelled (C-CANCEL) \
        and the association released. --tls speaks DICOM over TLS (PS3.15 B.12); the server's certificate must be \
        signed by the CA in --tls-ca (default: the system's CAs) and hold HOST (or --tls-server-name).
        Exit status: 0 success (or no match), 2 association rejected, 3 association aborted or lost, \
        4 a failure or warning status from the SCP, 5 timeout, 1 any other error.

        EXAMPLES (with dicomtap serve --port 11112 --db rpi.sqlite --import demo):
          dicomtap query 127.0.0.1 11112 --patient-id PAT-0003
          dicomtap query 127.0.0.1 11112 --patient-id PAT-1000 --issuer HOSP-B \\
              --format json
          dicomtap query 127.0.0.1 11112 --patient-id PAT-0003 --model cardiac \\
              --timeout 10
          dicomtap query 127.0.0.1 2762 --patient-id PAT-0003 --tls --tls-ca ca.crt \\
              --tls-cert client.crt --tls-key client.key
        """)

    @Argument(help: "The SCP's host.") var host: String
    @Argument(help: "The SCP's port.") var port: Int
    @Option(help: "Patient ID (0010,0020) to ask for.") var patientID: String
    @Option(help: "Query model: general (TID 9007), breast (TID 9000), cardiac (TID 3802).") var model: String = "general"
    @Option(help: "Template Identifier to request (default: the model's).") var template: String?
    @Flag(help: "Leave out Content Template Sequence (Annex Q requires it: tests an SCP's 0xA900 answer).") var noTemplate = false
    @Option(help: "Issuer of Patient ID (0010,0021).") var issuer: String?
    @Option(help: "Our AE title.") var callingAE: String = "DICOMTAP"
    @Option(help: "The SCP's AE title.") var calledAE: String = "ANY-SCP"
    @Option(help: "Largest PDU we accept, in bytes (0 = unlimited).") var maxPDU: UInt32 = 65536
    @Option(name: .customLong("transfer-syntax"),
            help: ArgumentHelp("Transfer syntax to propose, in order (repeatable): a UID or explicit, implicit, deflated, big.",
                               valueName: "syntax"))
    var transferSyntaxes: [String] = []
    @Option(help: ArgumentHelp("Seconds to wait for the final response before sending C-CANCEL.", valueName: "seconds"))
    var timeout: Double?
    @Option(help: "Output: text or json.") var format: String = "text"
    @OptionGroup var tlsOptions: TLSConnectOptions

    static func transferSyntaxUID(_ name: String) -> String? {
        switch name.lowercased() {
        case "explicit", "explicit-le", "1.2.840.10008.1.2.1": return TransferSyntax.explicitVRLittleEndian.uid
        case "implicit", "implicit-le", "1.2.840.10008.1.2": return TransferSyntax.implicitVRLittleEndian.uid
        case "deflated", "1.2.840.10008.1.2.1.99": return TransferSyntax.deflatedExplicitVRLittleEndian.uid
        case "big", "explicit-be", "1.2.840.10008.1.2.2": return TransferSyntax.explicitVRBigEndian.uid
        default: return name.allSatisfy({ $0.isNumber || $0 == "." }) && !name.isEmpty ? name : nil
        }
    }

    func validate() throws {
        guard RPIQueryModel(rawValue: model) != nil else { throw ValidationError("--model must be general, breast or cardiac") }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        for ts in transferSyntaxes where Self.transferSyntaxUID(ts) == nil {
            throw ValidationError("--transfer-syntax '\(ts)' is neither a UID nor explicit, implicit, deflated, big")
        }
        try checkSeconds(timeout, "--timeout", zero: false)
        if let template, template.isEmpty || template.count > 16
            || !template.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == " " || $0 == "_" }) {
            throw ValidationError("--template must be a Template Identifier (CS: up to 16 upper-case letters, digits, space, _), e.g. 9007")
        }
        guard (1...65535).contains(port) else { throw ValidationError("port must be 1-65535") }
        guard !patientID.isEmpty else { throw ValidationError("--patient-id must not be empty") }
    }

    func run() async throws {
        var query = RPIQuery(
            patientID: patientID, issuer: issuer, model: RPIQueryModel(rawValue: model)!, template: template,
            callingAETitle: callingAE, calledAETitle: calledAE, maxPDULength: maxPDU,
            transferSyntaxes: transferSyntaxes.isEmpty ? PresentationContextProposal.defaultTransferSyntaxes
                                                       : transferSyntaxes.compactMap(Self.transferSyntaxUID),
            timeout: timeout.map { .fromSeconds($0) })
        query.includesTemplate = !noTemplate
        query.tls = try tlsOptions.context(command: "query")
        let text = format == "text"
        let counter = NIOLockedValueBox(0) // numbers responses as they arrive (the callback is @Sendable)
        let result: RPIQueryResult
        do {
            result = try await query.run(host: host, port: port) { response in
                if text { write(RPIQueryReport.text(response, number: counter.withLockedValue { $0 += 1; return $0 })) }
            }
        } catch let error as RPIQueryError {
            FileHandle.standardError.write(Data("dicomtap query: \(error)\n".utf8))
            switch error {
            case .association(.rejected): throw ExitCode(2)
            case .association(.aborted), .association(.closedByPeer), .association(.protocolViolation): throw ExitCode(3)
            case .association(.timedOut): throw ExitCode(5)
            default: throw ExitCode(1)
            }
        }
        if text {
            write(RPIQueryReport.summary(result) + "\n")
        } else {
            write(RPIQueryReport.json(result).serialized(indent: 2) + "\n")
        }
        if case .timedOut = result.ending { throw ExitCode(5) }
        switch result.finalStatus?.meaning.category {
        case .success?: return
        case .cancel?: throw ExitCode(5)
        default: throw ExitCode(4)
        }
    }
}

/// Writes to stdout straight away (unbuffered, so lines interleave with the log handler's in order).
func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
