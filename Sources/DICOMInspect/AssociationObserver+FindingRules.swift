import DICOMCore
import DIMSE

/// A check of the DIMSE exchanges an association carries, run by the observer as their
/// messages are filed; what it finds goes to the association's findings.
///
/// To add one: its `Finding.Code` in `Model.swift`, a type conforming to this protocol here,
/// and an entry in `AssociationObserver.exchangeRules` (the rules run in that order).
protocol ExchangeRule: Sendable {
    /// The request that opened `exchange` was filed (the exchange has no response yet).
    func checkRequest(of exchange: Exchange, at time: Timestamp, findings: inout AssociationObserver.FindingLog,
                      into events: inout [ObservationEvent])
    /// A response was appended to `exchange` (its last response): `status` is that response's,
    /// `service` the request's.
    func checkResponse(of exchange: Exchange, status: DIMSEStatus, service: DIMSEService, at time: Timestamp,
                       findings: inout AssociationObserver.FindingLog, into events: inout [ObservationEvent])
}

extension ExchangeRule {
    func checkRequest(of exchange: Exchange, at time: Timestamp, findings: inout AssociationObserver.FindingLog,
                      into events: inout [ObservationEvent]) {}
    func checkResponse(of exchange: Exchange, status: DIMSEStatus, service: DIMSEService, at time: Timestamp,
                       findings: inout AssociationObserver.FindingLog, into events: inout [ObservationEvent]) {}
}

extension AssociationObserver {
    /// The exchange rules every observer runs, in this order.
    static let exchangeRules: [any ExchangeRule] = [
        StatusDefinedForServiceRule(),
        FindResponseDataSetRule(),
        RelevantPatientInformationRule(),
    ]
}

/// A response's status must be one the standard defines for the request's service (and SOP class).
struct StatusDefinedForServiceRule: ExchangeRule {
    func checkResponse(of exchange: Exchange, status: DIMSEStatus, service: DIMSEService, at time: Timestamp,
                       findings: inout AssociationObserver.FindingLog, into events: inout [ObservationEvent]) {
        let last = exchange.responses.endIndex - 1
        let sop = exchange.sopClassUID
        // `status` was looked up for the response's own service and SOP class: when they are the
        // request's (always, but for a mismatched response) its `isDefined` is the answer.
        let response = (field: exchange.responses[last].commandField, sop: exchange.responses[last].sopClassUID)
        let defined = response.field?.service == service && response.sop == sop ? status.isDefined
            : status.isDefined(for: service, sopClassUID: sop)
        if !defined {
            findings.report(Finding(.statusNotDefinedForService, .warning,
                                    "status \(status) is not defined for \(service)"
                                    + (sop.flatMap { UIDRegistry.name(for: $0) }.map { " (\($0))" } ?? ""),
                                    time: time, sender: exchange.responses[last].sender, exchangeIndex: exchange.index),
                            into: &events)
        }
    }
}

/// C-FIND responses (PS3.4 C.4.1.1.4): only pending responses carry an identifier, and each one does.
struct FindResponseDataSetRule: ExchangeRule {
    func checkResponse(of exchange: Exchange, status: DIMSEStatus, service: DIMSEService, at time: Timestamp,
                       findings: inout AssociationObserver.FindingLog, into events: inout [ObservationEvent]) {
        guard service == .cFind else { return }
        let last = exchange.responses.endIndex - 1
        let sender = exchange.responses[last].sender
        let hasDataSet = exchange.responses[last].hasDataSet
        if status.category.isFinal && hasDataSet {
            findings.report(Finding(.finalResponseWithDataSet, .warning,
                                    "final C-FIND-RSP (\(status.description)) carries a data set; "
                                    + "PS3.4 C.4.1.1.4 says only pending responses do. It is not counted as a match",
                                    time: time, sender: sender, exchangeIndex: exchange.index),
                            into: &events)
        }
        if status.category == .pending && !hasDataSet && !exchange.responses[last].dataSetLost {
            findings.report(Finding(.pendingResponseWithoutDataSet, .error,
                                    "pending C-FIND-RSP without an identifier",
                                    time: time, sender: sender, exchangeIndex: exchange.index),
                            into: &events)
        }
    }
}

/// The Relevant Patient Information Query (PS3.4 Annex Q): the request carries a Content
/// Template Sequence, and the SCP answers at most one match.
struct RelevantPatientInformationRule: ExchangeRule {
    func checkRequest(of exchange: Exchange, at time: Timestamp, findings: inout AssociationObserver.FindingLog,
                      into events: inout [ObservationEvent]) {
        guard exchange.request.commandField == .cFindRequest,
              let sop = exchange.sopClassUID, RelevantPatientInformationQuery.isSOPClass(sop),
              let identifier = exchange.request.dataSet else { return }
        if identifier[Tag.contentTemplateSequence] == nil {
            findings.report(Finding(.missingContentTemplateSequence, .error,
                                    "Relevant Patient Information query without Content Template Sequence (0040,A504): "
                                    + "the SCP should answer 0xA900 (PS3.4 Q.2.1.1.3)",
                                    time: time, sender: exchange.request.sender, exchangeIndex: exchange.index),
                            into: &events)
        }
    }

    func checkResponse(of exchange: Exchange, status: DIMSEStatus, service: DIMSEService, at time: Timestamp,
                       findings: inout AssociationObserver.FindingLog, into events: inout [ObservationEvent]) {
        guard service == .cFind else { return }
        let isRPI = exchange.sopClassUID.map(RelevantPatientInformationQuery.isSOPClass) ?? false
        if isRPI, status.category == .pending,
           exchange.responseCounts.pending == 2 {
            findings.report(Finding(.multiplePendingResponses, .error,
                                    "more than one pending response to a Relevant Patient Information query: "
                                    + "PS3.4 Annex Q allows one match; with more the SCP must answer 0xC100",
                                    time: time, sender: exchange.responses[exchange.responses.endIndex - 1].sender,
                                    exchangeIndex: exchange.index),
                            into: &events)
        }
    }
}
