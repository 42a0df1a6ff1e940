import DICOMCore
import DICOMPeerSupport
import DICOMUL
import NIOCore
import Testing
@testable import DIMSE

@Suite(.cpuHeavy) struct MessageAssemblerTests {
    let findCommand = bytes(PynetdicomFixtures.cFindRQ)
    let echoCommand = bytes(PynetdicomFixtures.cEchoRQ)
    let identifier = pattern(300)

    /// A whole C-FIND-RQ (command + identifier) as PDVs of `size` bytes.
    func findPDVs(_ contextID: UInt8 = 1, size: Int = 1 << 20) -> [PresentationDataValueItem] {
        pdvs(contextID, command: true, findCommand, size: size) + pdvs(contextID, command: false, identifier, size: size)
    }

    func echoPDVs(_ contextID: UInt8 = 1) -> [PresentationDataValueItem] {
        [pdv(contextID, command: true, last: true, echoCommand)]
    }

    @Test func oneBytePDVs() throws {
        var assembler = MessageAssembler()
        let items = findPDVs(size: 1)
        let messages = try assemble(items, into: &assembler)
        #expect(messages.count == 1)
        let m = try #require(messages.first)
        #expect(m.presentationContextID == 1)
        #expect(m.commandBytes == findCommand)
        #expect(m.dataSetBytes == identifier)
        #expect(m.command.commandField == .cFindRequest)
        #expect(m.fragments.commandFragments == 84)
        #expect(m.fragments.dataSetFragments == 300)
        #expect(m.fragments.oddLengthFragments == 384)
        #expect(m.fragments.hasDeviations)
        #expect(assembler.contextsInProgress.isEmpty)
    }

    @Test func wholeMessagesWithoutDataSet() throws {
        var assembler = MessageAssembler()
        let m = try #require(try assembler.receive(echoPDVs()[0]))
        #expect(m.dataSetBytes == nil)
        #expect(m.command.commandField == .cEchoRequest)
        #expect(!m.fragments.hasDeviations)
    }

    @Test func interleavedContexts() throws {
        var assembler = MessageAssembler()
        let a = findPDVs(1, size: 7)
        let b = pdvs(3, command: true, findCommand, size: 10) + pdvs(3, command: false, pattern(123, seed: 9), size: 5)
        var merged: [PresentationDataValueItem] = []
        for i in 0..<max(a.count, b.count) {
            if i < a.count { merged.append(a[i]) }
            if i < b.count { merged.append(b[i]) }
        }
        let messages = try assemble(merged, into: &assembler)
        #expect(messages.count == 2)
        let one = try #require(messages.first { $0.presentationContextID == 1 })
        let three = try #require(messages.first { $0.presentationContextID == 3 })
        #expect(one.dataSetBytes == identifier)
        #expect(three.dataSetBytes == pattern(123, seed: 9))
        #expect(one.commandBytes == findCommand && three.commandBytes == findCommand)
    }

    @Test func commandAndDataSetInSeparatePDUsAndManyPDVsPerPDU() throws {
        var assembler = MessageAssembler()
        let commandPDU = DataTransfer(items: pdvs(5, command: true, findCommand, size: 20))
        let dataPDU1 = DataTransfer(items: Array(pdvs(5, command: false, identifier, size: 50).prefix(3)))
        let dataPDU2 = DataTransfer(items: Array(pdvs(5, command: false, identifier, size: 50).dropFirst(3)))
        #expect(assembler.receive(commandPDU).isEmpty)
        #expect(assembler.contextsInProgress == [5])
        #expect(assembler.receive(dataPDU1).isEmpty)
        let results = assembler.receive(dataPDU2)
        #expect(results.count == 1)
        let m = try results[0].get()
        #expect(m.dataSetBytes == identifier)
        #expect(m.fragments.commandFragments == 5)
        #expect(m.fragments.dataSetFragments == 6)
    }

    @Test func pynetdicomPDUsAtMaxLength1024() throws {
        var assembler = MessageAssembler()
        var messages: [DIMSEMessageAssembly] = []
        for hex in PynetdicomFixtures.cFindPDUsMax1024 {
            let pdu = try decodeDataTransfer(bytes(hex))
            #expect(pdu.items.count == 1)
            for result in assembler.receive(pdu) { messages.append(try result.get()) }
        }
        #expect(messages.count == 1)
        let m = try #require(messages.first)
        let request = try #require(m.command.message as? CFindRequest)
        #expect(request.messageID == 21)
        #expect(request.affectedSOPClassUID == "1.2.840.10008.5.1.4.37.1")
        #expect(request.priority == .medium)
        let dataSet = try #require(m.dataSetBytes)
        #expect(dataSet.readableBytes == PynetdicomFixtures.cFindIdentifierLength)
        #expect(m.fragments.dataSetFragments == 2)
        let identifier = try DatasetDecoder().decode(dataSet, encoding: .explicitLittleEndian)
        #expect(identifier[DICOMCore.Tag(0x0010_0020)]?.string() == "12345")
        #expect(identifier[DICOMCore.Tag(0x0010_0021)]?.string() == "HOSP")
        let template = identifier[DICOMCore.Tag(0x0040_A504)]?.items?.first?.dataset
        #expect(template?[DICOMCore.Tag(0x0040_DB00)]?.string() == "9007")

        // Our fragmenter gives pynetdicom's PDUs byte for byte.
        let fragmenter = try MessageFragmenter(maximumLength: 1024)
        let ours = try fragmenter.fragment(m.command, dataSet: dataSet, presentationContextID: 1).map(encode)
        #expect(ours == PynetdicomFixtures.cFindPDUsMax1024.map(bytes))
    }

    // MARK: Errors, each followed by a message that assembles.

    func expectRecovery(_ assembler: inout MessageAssembler, contextID: UInt8 = 1) throws {
        let messages = try assemble(findPDVs(contextID, size: 16), into: &assembler)
        #expect(messages.count == 1)
        #expect(messages.first?.dataSetBytes == identifier)
    }

    @Test func dataSetFragmentBeforeAnyCommand() throws {
        var assembler = MessageAssembler()
        let e = dimseError { _ = try assembler.receive(pdv(7, command: false, last: false, pattern(10))) }
        #expect(e?.code == .dataSetFragmentBeforeCommand)
        #expect(e?.presentationContextID == 7)
        #expect(e?.fragmentNumber == 1)
        #expect(e?.isCommandFragment == false)
        // The rest of that stray data set is skipped without further errors.
        #expect(try assembler.receive(pdv(7, command: false, last: true, pattern(10))) == nil)
        try expectRecovery(&assembler, contextID: 7)
    }

    @Test func dataSetFragmentWhileTheCommandIsIncomplete() throws {
        var assembler = MessageAssembler()
        let command = pdvs(1, command: true, findCommand, size: 40)
        _ = try assembler.receive(command[0])
        let e = dimseError { _ = try assembler.receive(pdv(1, command: false, last: true, identifier)) }
        #expect(e?.code == .dataSetFragmentBeforeCommand)
        #expect(e?.description.contains("incomplete") == true)
        try expectRecovery(&assembler)
    }

    @Test func commandFragmentWhileADataSetIsExpected() throws {
        var assembler = MessageAssembler()
        let find = findPDVs(size: 64)
        let commandCount = find.filter(\.messageControlHeader.isCommand).count
        for item in find.prefix(commandCount + 1) { _ = try assembler.receive(item) }
        // Another command arrives before the identifier's last fragment.
        let next = pdvs(1, command: true, echoCommand, size: 30)
        let e = dimseError { _ = try assembler.receive(next[0]) }
        #expect(e?.code == .commandFragmentDuringDataSet)
        #expect(e?.commandField == 0x0020)
        #expect(e?.isCommandFragment == true)
        // That command is abandoned with the broken message; the next one assembles.
        for item in next.dropFirst() { #expect(try assembler.receive(item) == nil) }
        try expectRecovery(&assembler)
    }

    @Test func dataSetAfterACommandThatSaidNone() throws {
        var assembler = MessageAssembler()
        #expect(try assembler.receive(echoPDVs()[0]) != nil)
        let e = dimseError { _ = try assembler.receive(pdv(1, command: false, last: true, pattern(8))) }
        #expect(e?.code == .unexpectedDataSet)
        #expect(e?.commandField == CommandField.cEchoRequest.rawValue)
        #expect(e?.description.contains("C-ECHO-RQ") == true)
        try expectRecovery(&assembler)
    }

    @Test func emptyFragmentsAreAcceptedByDefault() throws {
        var assembler = MessageAssembler()
        var items = findPDVs(size: 100)
        // A streaming sender's empty last data set fragment.
        let lastIndex = items.count - 1
        items[lastIndex].messageControlHeader = MessageControlHeader(isCommand: false, isLastFragment: false)
        items.append(pdv(1, command: false, last: true, ByteBuffer()))
        let m = try #require(try assemble(items, into: &assembler).first)
        #expect(m.dataSetBytes == identifier)
        #expect(m.fragments.emptyFragments == 1)
    }

    @Test func emptyFragmentsCanBeRejected() throws {
        var assembler = MessageAssembler(configuration: .init(emptyFragments: .reject))
        let command = pdvs(1, command: true, findCommand, size: 100)
        _ = try assembler.receive(command[0])
        let e = dimseError { _ = try assembler.receive(pdv(1, command: false, last: false, ByteBuffer())) }
        #expect(e?.code == .emptyFragment)
        #expect(e?.fragmentNumber == 1)
        #expect(e?.commandField == 0x0020)
        #expect(try assembler.receive(pdv(1, command: false, last: true, identifier)) == nil)
        try expectRecovery(&assembler)
    }

    @Test func commandSetSizeBound() throws {
        var assembler = MessageAssembler(configuration: .init(maximumCommandSetLength: 64))
        let items = findPDVs(size: 30)
        var errors: [DIMSEError] = []
        for item in items {
            do throws(DIMSEError) { _ = try assembler.receive(item) } catch { errors.append(error) }
        }
        // One error for the whole message: the rest of it (its data set) is skipped.
        #expect(errors.count == 1)
        #expect(errors.first?.code == .messageTooLarge)
        #expect(errors.first?.fragmentNumber == 3)
        #expect(errors.first?.isCommandFragment == true)
        var roomy = assembler
        roomy.configuration.maximumCommandSetLength = 1024
        try expectRecovery(&roomy)
    }

    @Test func dataSetSizeBoundIsCheckedBeforeBuffering() throws {
        var assembler = MessageAssembler(configuration: .init(maximumDataSetLength: 250))
        let items = findPDVs(size: 100)
        var errors: [DIMSEError] = []
        for item in items {
            do throws(DIMSEError) { _ = try assembler.receive(item) } catch { errors.append(error) }
        }
        #expect(errors.count == 1)
        #expect(errors.first?.code == .messageTooLarge)
        #expect(errors.first?.fragmentNumber == 3)
        #expect(errors.first?.description.contains("300") == true)
        assembler.configuration.maximumDataSetLength = 300
        try expectRecovery(&assembler)
    }

    @Test func commandSetThatDoesNotDecode() throws {
        var assembler = MessageAssembler()
        let e = dimseError { _ = try assembler.receive(pdv(1, command: true, last: true, pattern(13))) }
        #expect(e?.code == .commandSetNotDecodable)
        #expect(e?.presentationContextID == 1)
        #expect(e?.fragmentNumber == 1)
        try expectRecovery(&assembler)
        // A well-formed dataset that is not a valid C-FIND-RQ (no Priority).
        var set = try DatasetDecoder().decode(findCommand, encoding: .implicitLittleEndian)
        set[CommandTag.priority] = nil
        let e2 = dimseError { _ = try assembler.receive(pdv(3, command: true, last: true, try DatasetEncoder().encode(set))) }
        #expect(e2?.code == .missingElement)
        #expect(e2?.presentationContextID == 3)
        #expect(e2?.commandField == 0x0020)
        try expectRecovery(&assembler, contextID: 3)
    }

    @Test func unknownCommandsAssembleWithTheirDataSet() throws {
        var set = try DatasetDecoder().decode(findCommand, encoding: .implicitLittleEndian)
        set[CommandTag.commandField] = DataElement(tag: CommandTag.commandField, vr: .US, value: .bytes(ByteBuffer(bytes: [0x34, 0x12])))
        let command = try DatasetEncoder().encode(set)
        var assembler = MessageAssembler()
        let items = pdvs(1, command: true, command, size: 50) + pdvs(1, command: false, identifier, size: 50)
        let m = try #require(try assemble(items, into: &assembler).first)
        #expect(m.command.rawCommandField == 0x1234)
        #expect(m.command.commandField == nil)
        #expect(m.dataSetBytes == identifier)
    }

    @Test func resetForgetsAContext() throws {
        var assembler = MessageAssembler()
        _ = try assembler.receive(pdvs(1, command: true, findCommand, size: 10)[0])
        _ = try assembler.receive(pdvs(3, command: true, findCommand, size: 10)[0])
        #expect(assembler.contextsInProgress == [1, 3])
        assembler.reset(presentationContextID: 1)
        #expect(assembler.contextsInProgress == [3])
        assembler.reset()
        #expect(assembler.contextsInProgress.isEmpty)
    }
}
