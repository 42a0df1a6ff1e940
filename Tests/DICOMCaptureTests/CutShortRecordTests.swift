import Foundation
import Testing
@testable import DICOMCapture

/// A pcap whose writer was killed mid-record (`dicomtap proxy --record` after a kill -9): the last record is left out
/// with a warning that says so in words, and every packet before it is analysed.
struct CutShortRecordTests {
    @Test func lastRecordCutShortIsLeftOutWithAWarning() throws {
        let directory = try TemporaryDirectory()
        var conversation = Conversation(client: Endpoint(address: .v4(1), port: 2000), server: Endpoint(address: .v4(2), port: 104))
        let specs = conversation.handshake() + conversation.send(.client, pattern(300), segmentSize: 100)
        let frames = specs.map { conversation.frame($0, link: .sll, clientIP: .v4(1), serverIP: .v4(2)) }
        let full = PcapWriter.bytes(linkType: 113, records: frames.map { PcapRecord(timestampNanoseconds: 5, data: $0) })
        let last = frames[frames.count - 1].count

        // Inside the last packet's bytes: 30 of them present.
        let inData = try directory.write("in-data.pcap", Array(full.prefix(full.count - last + 30)))
        var error = try #require(try Self.endError(inData))
        #expect(error.cutShortRecord?.present == 30 && error.cutShortRecord?.needed == last)
        #expect(error.endWarning == "the last packet record is cut short (30 of \(last) bytes): the file was not closed cleanly; it is left out")
        var analyzer = try CaptureAnalyzer.analyze(path: inData) { _ in }
        #expect(analyzer.packets == frames.count - 1)
        #expect(analyzer.warnings.map(\.description).contains(error.endWarning), "\(analyzer.warnings)")

        // Inside the last record's 16-byte header.
        let inHeader = try directory.write("in-header.pcap", Array(full.prefix(full.count - last - 9)))
        error = try #require(try Self.endError(inHeader))
        #expect(error.cutShortRecord?.present == 7 && error.cutShortRecord?.needed == 16)
        analyzer = try CaptureAnalyzer.analyze(path: inHeader) { _ in }
        #expect(analyzer.packets == frames.count - 1)
        #expect(analyzer.warnings.contains { $0.message.hasPrefix("the last packet record is cut short (7 of 16 bytes)") })
    }

    /// A pcapng cut keeps libpcap's words (its blocks are not packet records).
    @Test func otherCutsKeepLibpcapsWords() {
        let error = CaptureError(.truncated, packetIndex: 3, "truncated pcapng dump file; tried to read 100 bytes, only got 10", path: "x")
        #expect(error.cutShortRecord == nil)
        #expect(error.endWarning == "truncated pcapng dump file; tried to read 100 bytes, only got 10; everything up to the cut is reported")
    }

    private static func endError(_ path: String) throws -> CaptureError? {
        let reader = try CaptureReader(path: path)
        do {
            while try reader.next() != nil {}
        } catch {
            return error
        }
        return nil
    }
}
