import DICOMCore
import DICOMInspect
import DICOMUL
import DIMSE
import Testing

/// Capture timestamps can be anything (a pcapng's if_tsoffset, times clamped to Int64.min/max by the reader):
/// differences saturate and every renderer still renders.
@Suite struct ExtremeTimeTests {
    @Test func timestampDifferencesSaturate() {
        #expect(Timestamp(nanoseconds: .max) - Timestamp(nanoseconds: .min) == .nanoseconds(Int64.max))
        #expect(Timestamp(nanoseconds: .min) - Timestamp(nanoseconds: .max) == .nanoseconds(Int64.min))
        #expect(Timestamp(nanoseconds: 5) - Timestamp(nanoseconds: 2) == .nanoseconds(3))
        #expect(Timestamp(nanoseconds: 2_500_000_000).seconds(since: Timestamp(nanoseconds: 500_000_000)) == 2)
    }

    @Test func associationSpanningTheWholeClockRenders() {
        var a = SyntheticAssociation()
        a.clock = Int64.min
        a.associate()
        a.find(id: 1)
        a.clock = Int64.max - 100_000_000
        a.respond(to: 1, status: 0x0000)
        a.events += a.observer.connectionClosed(at: Timestamp(nanoseconds: .max))
        let dump = AnnotatedDumpRenderer(origin: Timestamp(nanoseconds: .min))
        let lines = a.events.flatMap { dump.render($0, info: a.observer.info) }
        #expect(!lines.isEmpty)
        let json = AssociationJSON().render(index: 1, client: "c", server: "s", observer: a.observer).serialized()
        #expect(json.contains("\"finalStatus\""))
        var statistics = AnalysisStatistics()
        statistics.add(a.observer)
        #expect(!statistics.renderText().isEmpty)
    }
}
