import DICOMCore
import DICOMPeerSupport
import DICOMUL
import NIOCore
import Testing
@testable import DIMSE

@Suite(.cpuHeavy) struct MessageFragmenterTests {
    let findCommand = bytes(PynetdicomFixtures.cFindRQ)

    @Test func maximumLengthBelowEightIsAnError() throws {
        for length in UInt32(1)...7 {
            let e = dimseError { _ = try MessageFragmenter(maximumLength: length) }
            #expect(e?.code == .invalidMaximumLength)
        }
        #expect(dimseError { _ = try MessageFragmenter(maximumLength: 8) } == nil)
        #expect(dimseError { _ = try MessageFragmenter(maximumLength: 0) } == nil)
        #expect(dimseError { _ = try MessageFragmenter(maximumLength: 100, maximumPDVsPerPDU: 0) }?.code == .invalidConfiguration)
    }

    @Test func tinyMaximumLengthGivesTwoByteFragments() throws {
        let fragmenter = try MessageFragmenter(maximumLength: 8)
        let data = pattern(11)
        let pdus = fragmenter.fragment(commandSet: findCommand, dataSet: data, presentationContextID: 1)
        let items = pdus.flatMap(\.items)
        #expect(pdus.allSatisfy { $0.bodyLength <= 8 && $0.items.count == 1 })
        #expect(items.filter(\.messageControlHeader.isCommand).count == 42)
        #expect(items.filter { !$0.messageControlHeader.isCommand }.count == 6)
        #expect(items.last?.fragment.readableBytes == 1)
        for item in items where !item.messageControlHeader.isLastFragment {
            #expect(item.fragment.readableBytes == 2)
        }
        // Odd maximum lengths round the fragment down to even.
        let odd = try MessageFragmenter(maximumLength: 9).fragment(commandSet: findCommand, dataSet: nil, presentationContextID: 1)
        #expect(odd.flatMap(\.items).allSatisfy { $0.fragment.readableBytes == 2 })
    }

    @Test func unlimitedLengthGivesOnePDVPerStream() throws {
        let data = pattern(100_000)
        let one = try MessageFragmenter(maximumLength: 0).fragment(commandSet: findCommand, dataSet: data, presentationContextID: 3)
        #expect(one.count == 2)
        #expect(one[0].items[0].messageControlHeader.rawValue == 0x03)
        #expect(one[1].items[0].messageControlHeader.rawValue == 0x02)
        let packed = try MessageFragmenter(maximumLength: 0, maximumPDVsPerPDU: 2)
            .fragment(commandSet: findCommand, dataSet: data, presentationContextID: 3)
        #expect(packed.count == 1)
        #expect(packed[0].items.count == 2)
    }

    @Test func emptyDataSetGivesOneEmptyLastFragment() throws {
        let pdus = try MessageFragmenter(maximumLength: 16).fragment(commandSet: findCommand, dataSet: ByteBuffer(),
                                                                      presentationContextID: 1)
        let last = try #require(pdus.last?.items.last)
        #expect(!last.messageControlHeader.isCommand)
        #expect(last.messageControlHeader.isLastFragment)
        #expect(last.fragment.readableBytes == 0)
    }

    @Test func packingSeveralPDVsPerPDU() throws {
        let data = pattern(1602)
        let pdus = try MessageFragmenter(maximumLength: 1024, maximumPDVsPerPDU: .max)
            .fragment(commandSet: findCommand, dataSet: data, presentationContextID: 1)
        #expect(pdus.count == 2)
        #expect(pdus.map(\.bodyLength) == [1024, 6 + 1602 - 928])
        #expect(pdus[0].items.map(\.fragment.readableBytes) == [84, 928])
        for pdu in pdus {
            // Never two fragments of the same command or data set in one PDU (PS3.8 §E.1).
            for (a, b) in zip(pdu.items, pdu.items.dropFirst()) {
                #expect(a.messageControlHeader.isCommand != b.messageControlHeader.isCommand)
            }
        }
    }

    @Test func commandAndDataSetPresenceMustAgree() throws {
        let fragmenter = try MessageFragmenter(maximumLength: 1024)
        let find = DIMSECommand.cFindRequest(CFindRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.37.1"))
        #expect(dimseError { _ = try fragmenter.fragment(find, dataSet: nil, presentationContextID: 1) }?.code == .dataSetMismatch)
        let echo = DIMSECommand.cEchoRequest(CEchoRequest(messageID: 1))
        #expect(dimseError { _ = try fragmenter.fragment(echo, dataSet: pattern(2), presentationContextID: 1) }?.code == .dataSetMismatch)
        #expect(try fragmenter.fragment(echo, dataSet: nil, presentationContextID: 1).count == 1)
    }

    /// Fragmenter → assembler for many maximum lengths, data set sizes and packings: the same
    /// bytes come out, every PDU respects the maximum, and the control header bits are right.
    @Test(arguments: [1, 4, Int.max])
    func roundTrip(maximumPDVsPerPDU: Int) throws {
        let lengths: [UInt32] = [8, 9, 10, 11, 16, 17, 90, 91, 100, 257, 1024, 1030, 4096, 16_384, 65_536, 0]
        let sizes = [0, 1, 2, 7, 84, 100, 1017, 1018, 1019, 4096, 70_001]
        for length in lengths {
            let fragmenter = try MessageFragmenter(maximumLength: length, maximumPDVsPerPDU: maximumPDVsPerPDU)
            // 70 001 bytes in 2-byte fragments once (length 8) is enough: ~35 000 PDVs.
            for size in sizes where !(size > 65_536 && (9...15).contains(length)) {
                let data = size == 0 ? nil : pattern(size, seed: UInt8(size & 0xFF))
                let pdus = fragmenter.fragment(commandSet: findCommand, dataSet: data, presentationContextID: 5)
                // Checked in bulk: an #expect per PDV is slow in debug builds with ~10^5 PDVs.
                var sawDataSet = false
                var violations: [String] = []
                for pdu in pdus {
                    if length > 0 && pdu.bodyLength > Int(length) { violations.append("PDU of \(pdu.bodyLength)") }
                    if pdu.items.isEmpty || pdu.items.count > maximumPDVsPerPDU { violations.append("\(pdu.items.count) PDVs") }
                    for item in pdu.items {
                        if item.messageControlHeader.isCommand {
                            if sawDataSet { violations.append("command after data set") }
                        } else {
                            sawDataSet = true
                        }
                        if item.messageControlHeader.hasReservedBitsSet { violations.append("reserved bits") }
                    }
                }
                #expect(violations.isEmpty, "max \(length), data set \(size): \(violations.prefix(5))")
                let items = pdus.flatMap(\.items)
                let lastFlags = items.filter(\.messageControlHeader.isLastFragment).map(\.messageControlHeader.isCommand)
                #expect(lastFlags == (data == nil ? [true] : [true, false]))

                // Through the wire format and back (when there are not too many PDUs: slow in
                // debug builds), then into the assembler.
                var assembler = MessageAssembler()
                var messages: [DIMSEMessageAssembly] = []
                for pdu in pdus {
                    let received = pdus.count <= 2_000 ? try decodeDataTransfer(encode(pdu)) : pdu
                    for result in assembler.receive(received) { messages.append(try result.get()) }
                }
                // The C-FIND-RQ fixture says a data set follows; without one it stays in progress.
                if let data {
                    #expect(messages.count == 1)
                    #expect(messages.first?.commandBytes == findCommand)
                    #expect(messages.first?.dataSetBytes == data)
                    #expect(messages.first?.fragments.oddLengthFragments == (size % 2 == 1 ? 1 : 0))
                } else {
                    #expect(messages.isEmpty)
                    #expect(assembler.contextsInProgress == [5])
                }
            }
        }
    }
}
