import DICOMCore
import DICOMRewrite
import Foundation
import NIOCore

/// The rewriter with the shipped Basic Profile (`tools/rewrite-annex-e.yaml`, no options), towards
/// the SCP, with a privacy oracle.
///
/// Input: one selector byte (bits 0-1: implicit VR LE, explicit VR LE, explicit VR BE, deflated
/// explicit VR LE; bit 2: the data set is a stored instance or any other), then a data set
/// (not deflated: the harness deflates it).
///
/// The data set is decoded; every value of an attribute the profile de-identifies is replaced by a
/// marker (`QZXJMARK`, or for a UI value a UID holding `31337.2718281828`): attributes with a rule
/// other than keep or shift-date, at any depth, and private attributes other than private creators
/// (the profile removes them). Values inside a sequence whose rule is keep (passed without being
/// descended into) are left alone. The marked data set is encoded (deflated for the deflated
/// syntax) and rewritten; the output (inflated when deflated) must contain no marker. A rewrite
/// that fails sends nothing (the proxy aborts the association), so it passes; one that changes
/// nothing returns the marked input itself, which fails when anything was marked.
enum RewriteHarness {
    static let textMarker = Array("QZXJMARK".utf8)
    static let uidMarker = Array("9.31337.2718281828".utf8)
    static let searched = [Array("QZXJ".utf8), Array("31337.2718281828".utf8)]
    static let syntaxes: [TransferSyntax] = [.implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian,
                                             .deflatedExplicitVRLittleEndian]

    static let rules: RewriteRules = {
        let path = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent("tools/rewrite-annex-e.yaml")
        do {
            return try RewriteRulesLoader.load(path: path)
        } catch {
            oracleFailure("cannot load the Basic Profile from \(path) (run from the repository root): \(error)")
        }
    }()
    static let key: SecretKey = {
        do { return try SecretKey(bytes: Array(0..<32)) } catch { oracleFailure("test key: \(error)") }
    }()

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var input = FuzzInput(data)
        let selector = input.byte()
        let syntax = syntaxes[Int(selector & 3)]
        let purpose: DataSetPurpose = selector & 4 == 0 ? .other : .store
        let body = input.rest()
        guard !searched.contains(where: { contains(body, $0) }) else { return }
        guard var dataset = try? DatasetDecoder(options: .lenient).decode(ByteBuffer(bytes: body), encoding: syntax.encoding) else { return }
        var marked = 0
        mark(&dataset, marked: &marked)
        guard var plain = try? DatasetEncoder().encode(dataset) else { return }
        if syntax.isDeflated {
            guard let deflated = try? Deflate.deflate(plain) else { oracleFailure("cannot deflate the marked data set") }
            plain = deflated
        }
        let rewriter: Rewriter
        do {
            rewriter = try Rewriter(rules: rules, key: key, store: MappingStore())
        } catch {
            oracleFailure("the Basic Profile's rewriter: \(error)")
        }
        var notes: [RewriteNote] = []
        let output: ByteBuffer
        do {
            guard let rewritten = try rewriter.rewrite(dataSet: plain, transferSyntax: syntax, direction: .towardsAcceptor,
                                                       purpose: purpose, notes: &notes) else {
                if marked > 0 { oracleFailure("\(marked) marked values, and the rewriter changed nothing (\(syntax.name))") }
                return
            }
            output = rewritten
        } catch {
            return
        }
        var sent = output
        if syntax.isDeflated {
            guard let inflated = try? Deflate.inflate(output, maxSize: 1 << 26, offset: 0) else {
                oracleFailure("the rewritten deflated data set does not inflate")
            }
            sent = inflated
        }
        let bytes = Array(sent.readableBytesView)
        for marker in searched where contains(bytes, marker) {
            oracleFailure("a marked value reaches the SCP (\(String(decoding: marker, as: UTF8.self)) in the output, \(syntax.name), \(purpose))")
        }
    }

    /// Whether the profile de-identifies `tag`'s values.
    static func deidentifies(_ tag: Tag) -> Bool {
        if tag.isGroupLength || tag.group == 0x0002 || tag.group == 0xFFFE { return false }
        if tag.isPrivate { return !tag.isPrivateCreator && rules.privateAttributes == .remove }
        guard let rule = rules.rule(for: tag) else { return false }
        switch rule.action {
        case .keep, .shiftDate: return false
        case .pseudonymize, .map, .replace, .empty, .remove: return true
        }
    }

    static func mark(_ dataset: inout Dataset, marked: inout Int) {
        for i in dataset.indices {
            var element = dataset[i]
            switch element.value {
            case .bytes:
                guard deidentifies(element.tag) else { continue }
                element.value = .bytes(ByteBuffer(bytes: element.vr == .UI ? uidMarker : textMarker))
                marked += 1
            case .sequence(var items):
                if let rule = rules.rule(for: element.tag), rule.action == .keep { continue }
                for j in items.indices { mark(&items[j].dataset, marked: &marked) }
                element.value = .sequence(items)
            case .fragments, .bulk:
                continue
            }
            dataset.replaceElement(at: i, with: element)
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        search: for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            for k in 1..<needle.count where haystack[start + k] != needle[k] { continue search }
            return true
        }
        return false
    }

    static func seeds(root: String) throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for (syntax, bytes) in try SeedSources.dataSets(root: root) {
            var plain = ByteBuffer(bytes: bytes)
            if syntax.isDeflated {
                guard let inflated = try? Deflate.inflate(plain, maxSize: 1 << 26, offset: 0) else { continue }
                plain = inflated
            }
            let selector = DataSetHarness.selector(for: syntax)
            seeds.append([selector] + Array(plain.readableBytesView))
            seeds.append([selector | 4] + Array(plain.readableBytesView))
        }
        return seeds
    }
}
