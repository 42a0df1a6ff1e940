@testable import DICOMInspect
import Testing

/// The observer's open-request table: a short array, a dictionary past `linearLimit` entries
/// (asynchronous operations); both give the same answers.
@Suite struct OpenRequestsTests {
    @Test(arguments: [3, OpenRequests.linearLimit, OpenRequests.linearLimit + 1, 40])
    func lookupsRemovalAndOrderAreTheSameOnBothSides(count: Int) {
        var open = OpenRequests()
        var model: [OpenKey: Int] = [:]
        // Interleaved requests from both sides with message IDs that repeat across sides.
        for i in 0..<count {
            let key = OpenKey(sender: i % 2 == 0 ? .requestor : .acceptor, messageID: UInt16(100 + i / 2))
            open[key] = i
            model[key] = i
        }
        for (key, index) in model { #expect(open[key] == index) }
        #expect(open[OpenKey(sender: .requestor, messageID: 9999)] == nil)
        // Answer every third request, re-point one, then compare the order of what is left.
        for i in stride(from: 0, to: count, by: 3) {
            let key = OpenKey(sender: i % 2 == 0 ? .requestor : .acceptor, messageID: UInt16(100 + i / 2))
            open[key] = nil
            model[key] = nil
        }
        if let (key, _) = model.first {
            open[key] = 1_000
            model[key] = 1_000
        }
        for (key, index) in model { #expect(open[key] == index) }
        let expected = model.map { (key: $0.key, index: $0.value) }.sorted { $0.index < $1.index }
        let sorted = open.sortedByExchange()
        #expect(sorted.map(\.key) == expected.map(\.key))
        #expect(sorted.map(\.index) == expected.map(\.index))
        open.removeAll()
        #expect(open.sortedByExchange().isEmpty)
    }
}
