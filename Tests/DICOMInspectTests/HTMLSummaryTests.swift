import Testing
@testable import DICOMInspect

/// The HTML report's per-association summary keeps small rows: runs of alike exchanges become one band.
@Suite struct HTMLSummaryTests {
    @Test func aRunOfAlikeExchangesBecomesOneBand() {
        var a = SyntheticAssociation()
        a.associate()
        for id in UInt16(1)...UInt16(40) {
            a.find(id: id, patientID: "P\(id % 5)")
            a.respond(to: id, status: 0x0000)
        }
        var summary = HTMLAssociationSummary()
        for e in a.events { summary.observe(e) } // PDUs, messages and each ended exchange, as the report sees them
        #expect(summary.rows.count == 1)
        #expect(summary.pduArrows.map(\.label) == ["A-ASSOCIATE-RQ", "A-ASSOCIATE-AC"])
        guard case .band(let band)? = summary.rows.first else { Issue.record("no band"); return }
        #expect(band.count == 40)
        #expect(band.messages == 80)
        #expect(band.firstMessageID == 1 && band.lastMessageID == 40)
        #expect(band.patients.count == 3 && band.morePatients)
        #expect(band.latencies.count == 40)
        #expect(summary.exchangeMessages == 80)
    }

    @Test func rowsPastTheLimitJoinOneMixedBand() {
        var a = SyntheticAssociation()
        a.associate()
        for id in UInt16(1)...UInt16(30) {
            a.find(id: id)
            a.respond(to: id, status: id % 2 == 0 ? 0x0000 : 0xC000)
        }
        var summary = HTMLAssociationSummary()
        summary.maximumRows = 10
        for ex in a.observer.exchanges { summary.observe(.exchangeEnded(ex)) }
        #expect(summary.rows.count == 11)
        guard case .band(let band)? = summary.rows.last else { Issue.record("no band"); return }
        #expect(band.isMixed && band.count == 20)
    }

    @Test func escapingLeavesNoMarkup() {
        #expect(HTMLWriter.escape(#"<b>"x" & 'y'</b>"#) == "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;")
        #expect(HTMLWriter.escape("AE\u{1}\u{7F}") == "AE\u{2401}\u{2421}")
    }
}
