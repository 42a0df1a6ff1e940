import DICOMCore
import DICOMInspect
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import DICOMMetrics

/// Real peers' streams (Tests/DICOMULTests/Fixtures/peers, recorded from DCMTK and pynetdicom) observed and counted.
@Suite struct DICOMMetricsTests {
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DICOMULTests/Fixtures/peers")

    struct Entry: Decodable { let index: Int; let direction: String; let offset: Int; let length: Int }
    struct Scenario: Decodable { let name: String; let pdus: [Entry] }

    /// Every event of one recorded association, PDU by PDU in the recorded order, 1 ms apart.
    static func events(_ name: String) throws -> [ObservationEvent] {
        let manifest = try Data(contentsOf: peers.appendingPathComponent("manifest.json"))
        let scenario = try #require(try JSONDecoder().decode([Scenario].self, from: manifest).first { $0.name == name })
        var observer = AssociationObserver()
        var events: [ObservationEvent] = []
        for entry in scenario.pdus.sorted(by: { $0.index < $1.index }) {
            let stream = try Data(contentsOf: peers.appendingPathComponent("\(name).\(entry.direction).bin"))
            let pdu = ByteBuffer(bytes: stream[entry.offset..<(entry.offset + entry.length + 6)])
            events += observer.receive(pdu, from: entry.direction == "rq" ? .requestor : .acceptor,
                                       at: Timestamp(nanoseconds: Int64(entry.index) * 1_000_000))
        }
        events += observer.connectionClosed(at: Timestamp(nanoseconds: 1_000_000_000))
        return events
    }

    /// The value of one series in the exposition (`name{labels} value`), nil when absent.
    static func value(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func countsOutcomesExchangesAndBytes() throws {
        let metrics = DICOMMetrics()
        var bytes = (requestor: 0, acceptor: 0)
        for name in ["dcmtk_find_patient_root", "pynetdicom_rpi_find_cancel", "dcmtk_reject", "dcmtk_echo_abort", "dcmtk_store"] {
            for event in try Self.events(name) {
                metrics.record(event)
                if case .pdu(let pdu, let sender, _, _, let length) = event {
                    metrics.pdu(pdu, sender: sender, length: length)
                    if sender == .requestor { bytes.requestor += length } else { bytes.acceptor += length }
                }
            }
        }
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(Self.value(text, "dicomtap_associations_accepted_total") == 4)
        #expect(Self.value(text, #"dicomtap_associations_rejected_total{result="1",source="1",reason="1"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_associations_aborted_total{source="service-user"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_dimse_exchanges_total{service="C-FIND",status="success"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_dimse_exchanges_total{service="C-FIND",status="cancel"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_dimse_exchanges_total{service="C-ECHO",status="success"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_dimse_exchanges_total{service="C-STORE",status="success"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_pdu_bytes_total{from="requestor"}"#) == Double(bytes.requestor))
        #expect(Self.value(text, #"dicomtap_pdu_bytes_total{from="acceptor"}"#) == Double(bytes.acceptor))
        // Each completed exchange lands in its service's latency histogram.
        #expect(Self.value(text, #"dicomtap_dimse_latency_seconds_count{service="C-FIND"}"#) == 2)
        #expect(Self.value(text, #"dicomtap_dimse_latency_seconds_count{service="C-STORE"}"#) == 1)
        #expect(text.contains(#"dicomtap_dimse_latency_seconds_bucket{service="C-STORE",le="+Inf"} 1"#))
    }

    @Test func findingsAreCountedByCodeAndNoPatientDataBecomesALabel() throws {
        let metrics = DICOMMetrics()
        var codes: [String: Int] = [:]
        for event in try Self.events("pynetdicom_rpi_find_multiple") {
            metrics.record(event)
            if case .finding(let f) = event { codes[f.code.rawValue, default: 0] += 1 }
        }
        #expect(!codes.isEmpty)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        for (code, count) in codes {
            #expect(Self.value(text, "dicomtap_findings_total{code=\"\(code)\"}") == Double(count))
        }
        // Labels come from closed sets: no AE title, UID or patient ID of the recording appears.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(!line.contains("1.2.840"), "\(line)")
            #expect(!line.contains("ECHOSCU") && !line.contains("PYNETDICOM") && !line.contains("ANY-SCP"), "\(line)")
        }
    }

    @Test func activeAssociationsGoUpAndDown() {
        let metrics = DICOMMetrics()
        metrics.associationStarted()
        metrics.associationStarted()
        metrics.associationEnded()
        metrics.refused(.limit)
        metrics.upstreamFailed(.timeout)
        metrics.rewrote(3)
        metrics.mappingStoreSize(42)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(Self.value(text, "dicomtap_associations_active") == 1)
        #expect(Self.value(text, #"dicomtap_associations_refused_total{reason="limit"}"#) == 1)
        #expect(Self.value(text, #"dicomtap_upstream_connect_failures_total{reason="timeout"}"#) == 1)
        #expect(Self.value(text, "dicomtap_rewritten_values_total") == 3)
        #expect(Self.value(text, "dicomtap_mapping_store_records") == 42)
    }
}
