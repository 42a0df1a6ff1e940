import DICOMCore
import DICOMInspect
import DIMSE
import NIOCore

/// Where an element sits in an identifier: tags from the top level down, with the item
/// number (0-based) of each sequence passed through.
package struct ElementPath: Sendable, Hashable, CustomStringConvertible {
    package struct Step: Sendable, Hashable {
        package var tag: Tag
        /// The item of `tag`'s sequence the next step is in (nil on the last step).
        package var item: Int?
        package init(tag: Tag, item: Int? = nil) {
            self.tag = tag
            self.item = item
        }
    }

    package var steps: [Step]
    package init(_ steps: [Step] = []) { self.steps = steps }

    func appending(_ tag: Tag) -> ElementPath { ElementPath(steps + [Step(tag: tag)]) }
    func appending(_ tag: Tag, item: Int) -> ElementPath { ElementPath(steps + [Step(tag: tag, item: item)]) }

    /// `(0040,A730) ContentSequence[1] > (0040,A160) TextValue` (item numbers 1-based, as dumps show them).
    package var description: String {
        steps.map { step in
            var s = "\(step.tag)"
            if let keyword = DataDictionary.keyword(for: step.tag) { s += " " + keyword }
            if let item = step.item { s += "[\(item + 1)]" }
            return s
        }.joined(separator: " > ")
    }
}

/// One difference between what was recorded and what the new peer answered.
package struct Difference: Sendable, Hashable, CustomStringConvertible {
    package struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        /// A response's Status (0000,0900) differs.
        package static let status = Kind(rawValue: "status")
        /// The number of Pending responses differs.
        package static let pendingCount = Kind(rawValue: "pending-count")
        /// A recorded response has no counterpart in the replay.
        package static let missingResponse = Kind(rawValue: "missing-response")
        /// The replay got a response the recording does not have.
        package static let extraResponse = Kind(rawValue: "extra-response")
        /// One response carries a data set (identifier) and the other does not.
        package static let dataSetPresence = Kind(rawValue: "dataset-presence")
        /// A response data set could not be decoded.
        package static let dataSetNotDecodable = Kind(rawValue: "dataset-not-decodable")
        /// An element of the recorded identifier is absent from the replayed one.
        package static let missingElement = Kind(rawValue: "missing-element")
        /// The replayed identifier has an element the recorded one does not.
        package static let extraElement = Kind(rawValue: "extra-element")
        /// Same element, different value.
        package static let value = Kind(rawValue: "value")
        /// Same element, different VR.
        package static let vr = Kind(rawValue: "vr")
        /// Same sequence, different number of items.
        package static let itemCount = Kind(rawValue: "item-count")
        /// Offending Element (0000,0901) or the sub-operation counts of a C-GET/C-MOVE response differ.
        package static let commandElement = Kind(rawValue: "command-element")
        /// A recorded presentation context was not accepted by the new peer.
        package static let contextNotAccepted = Kind(rawValue: "context-not-accepted")
        /// A recorded request could not be sent (its context was not accepted, the association ended).
        package static let requestNotSent = Kind(rawValue: "request-not-sent")
        /// The request got no final response before the association ended.
        package static let noFinalResponse = Kind(rawValue: "no-final-response")
    }

    package var kind: Kind
    /// Which response: `pending 2`, `final`; nil for differences about the whole exchange.
    package var response: String?
    package var path: ElementPath?
    package var recorded: String?
    package var replayed: String?

    package init(_ kind: Kind, response: String? = nil, path: ElementPath? = nil, recorded: String?, replayed: String?) {
        self.kind = kind
        self.response = response
        self.path = path
        self.recorded = recorded
        self.replayed = replayed
    }

    package var description: String {
        var s = kind.rawValue
        if let response { s += " [\(response)]" }
        if let path, !path.steps.isEmpty { s += " \(path)" }
        s += ": recorded " + (recorded ?? "(none)") + ", replayed " + (replayed ?? "(none)")
        return s
    }
}

/// What to leave out of a comparison.
package struct ComparisonOptions: Sendable {
    /// Tags not compared, at any depth (`--ignore`): values that legitimately differ (times, UIDs).
    package var ignoredTags: Set<Tag> = []
    /// Pair pending identifiers by content instead of by position (PACS that return matches
    /// in another order): equal identifiers are paired first, the rest in order.
    package var unorderedMatches = false
    package init(ignoredTags: Set<Tag> = [], unorderedMatches: Bool = false) {
        self.ignoredTags = ignoredTags
        self.unorderedMatches = unorderedMatches
    }
}

/// Compares two data sets element by element, into sequences, skipping ignored tags and
/// group lengths (an encoding detail). String values are compared as decoded text (each
/// side under its own Specific Character Set, padding removed), binary values as numbers
/// (byte order normalised), so a change of transfer syntax alone is not a difference.
package struct DatasetComparer: Sendable {
    package var ignoredTags: Set<Tag>
    let display = TextDumpRenderer(options: TextDumpRenderer.Options(maxValueLength: 80))

    package init(ignoredTags: Set<Tag> = []) { self.ignoredTags = ignoredTags }

    package func differences(recorded: Dataset, replayed: Dataset, response: String? = nil) -> [Difference] {
        var out: [Difference] = []
        compare(recorded, .default, replayed, .default, path: ElementPath(), response: response, into: &out)
        return out
    }

    /// True when the two data sets have no difference.
    package func equal(_ a: Dataset, _ b: Dataset) -> Bool { differences(recorded: a, replayed: b).isEmpty }

    private func compare(_ a: Dataset, _ inheritedA: SpecificCharacterSet, _ b: Dataset, _ inheritedB: SpecificCharacterSet,
                         path: ElementPath, response: String?, into out: inout [Difference]) {
        let csA = a.characterSet(inheriting: inheritedA)
        let csB = b.characterSet(inheriting: inheritedB)
        let left = a.elements.filter(included).sorted { $0.tag < $1.tag }
        let right = b.elements.filter(included).sorted { $0.tag < $1.tag }
        var i = 0, j = 0
        while i < left.count || j < right.count {
            if j == right.count || (i < left.count && left[i].tag < right[j].tag) {
                out.append(Difference(.missingElement, response: response, path: path.appending(left[i].tag),
                                      recorded: show(left[i], csA), replayed: nil))
                i += 1
            } else if i == left.count || right[j].tag < left[i].tag {
                out.append(Difference(.extraElement, response: response, path: path.appending(right[j].tag),
                                      recorded: nil, replayed: show(right[j], csB)))
                j += 1
            } else {
                compare(left[i], csA, right[j], csB, path: path, response: response, into: &out)
                i += 1
                j += 1
            }
        }
    }

    private func included(_ e: DataElement) -> Bool { !e.tag.isGroupLength && !ignoredTags.contains(e.tag) }

    private func compare(_ x: DataElement, _ csA: SpecificCharacterSet, _ y: DataElement, _ csB: SpecificCharacterSet,
                         path: ElementPath, response: String?, into out: inout [Difference]) {
        let here = path.appending(x.tag)
        switch (x.value, y.value) {
        case (.sequence(let itemsA), .sequence(let itemsB)):
            if itemsA.count != itemsB.count {
                out.append(Difference(.itemCount, response: response, path: here,
                                      recorded: items(itemsA.count), replayed: items(itemsB.count)))
            }
            for k in 0..<min(itemsA.count, itemsB.count) {
                compare(itemsA[k].dataset, csA, itemsB[k].dataset, csB, path: path.appending(x.tag, item: k),
                        response: response, into: &out)
            }
        case (.sequence, _), (_, .sequence):
            out.append(Difference(.vr, response: response, path: here, recorded: x.vr.description, replayed: y.vr.description))
        default:
            if x.vr != y.vr && x.vr != .UN && y.vr != .UN {
                out.append(Difference(.vr, response: response, path: here, recorded: x.vr.description, replayed: y.vr.description))
            } else if canonical(x, csA) != canonical(y, csB) {
                out.append(Difference(.value, response: response, path: here, recorded: show(x, csA), replayed: show(y, csB)))
            }
        }
    }

    /// The value in a form independent of padding, byte order and character set.
    private func canonical(_ e: DataElement, _ cs: SpecificCharacterSet) -> CanonicalValue {
        switch e.value {
        case .sequence: return .other([])
        case .fragments(let f): return .other(f.flatMap { Array($0.readableBytesView) })
        case .bulk(let b): return .bulk(b.length, fragments: b.fragmentCount)
        case .bytes(let b):
            if e.vr.isString, case .values(let v)? = e.strings(characterSet: cs) { return .strings(v) }
            if let le = e.littleEndianBytes { return .other(le) }
            return .other(Array(b.readableBytesView))
        }
    }

    private enum CanonicalValue: Equatable {
        case strings([String])
        case other([UInt8])
        /// A value not kept: compared by size only.
        case bulk(Int, fragments: Int?)
    }

    func show(_ e: DataElement, _ cs: SpecificCharacterSet) -> String {
        if case .sequence(let list) = e.value { return "SQ " + items(list.count) }
        let text = display.valueText(e, charset: cs)
        return "\(e.vr) " + (text.isEmpty ? "(empty)" : text)
    }
}

/// The outcome of one replayed request, compared with its recording.
package struct ExchangeComparison: Sendable {
    /// The request's position in the recorded association (0-based).
    package var index: Int
    /// `C-FIND-RQ`.
    package var request: String
    package var service: DIMSEService?
    package var sopClassUID: String?
    package var recordedMessageID: UInt16
    /// The Message ID the replay used (nil when the request was not sent).
    package var replayedMessageID: UInt16?
    package var recordedFinalStatus: UInt16?
    package var replayedFinalStatus: UInt16?
    package var recordedPending: Int
    package var replayedPending: Int
    package var recordedDuration: Duration?
    package var replayedDuration: Duration?
    /// A C-CANCEL-RQ was replayed: the number of pending responses depends on timing and is not compared.
    package var cancelled: Bool
    /// Why the request was deliberately not sent (a C-MOVE without `--allow-move`); nil when it was
    /// sent or could not be. A skipped request is not a difference.
    package var skipped: String?
    package var differences: [Difference]
    package var notes: [String]
    /// The final responses' sub-operation counts (C-GET, C-MOVE), when they have them.
    package var recordedSubOperations: SubOperationCounts?
    package var replayedSubOperations: SubOperationCounts?

    package var matched: Bool { differences.isEmpty }
}

/// Compares a replayed request's responses with the recorded ones: status of every response,
/// number of pending responses, identifiers element by element (recursively, `ignoredTags`
/// left out at any depth), offending element and sub-operation counts. Message IDs are not
/// compared (a replay renumbers them).
package struct ResponseComparer: Sendable {
    package var options: ComparisonOptions
    package init(options: ComparisonOptions = ComparisonOptions()) { self.options = options }

    /// `skipped`: why the request was deliberately not sent (then no `request-not-sent` difference).
    package func compare(_ recorded: RecordedRequest, replayedMessageID: UInt16?, replayed: [RecordedMessage],
                        replayedRequestTime: Timestamp? = nil, skipped: String? = nil) -> ExchangeComparison {
        let comparer = DatasetComparer(ignoredTags: options.ignoredTags)
        var diffs: [Difference] = []
        var notes: [String] = []
        let recPending = recorded.responses.filter { $0.statusCategory == .pending }
        let newPending = replayed.filter { $0.statusCategory == .pending }
        let recFinal = recorded.finalResponse
        let newFinal: RecordedMessage? = replayed.last.flatMap { ($0.statusCategory?.isFinal ?? true) ? $0 : nil }
        let cancelled = recorded.cancel != nil
        let service = recorded.commandField?.service

        if replayedMessageID != nil {
            if recPending.count != newPending.count {
                if cancelled {
                    notes.append("cancelled: \(recPending.count) pending responses recorded, \(newPending.count) replayed; "
                                 + "after a C-CANCEL the count depends on timing and is not compared")
                } else {
                    diffs.append(Difference(.pendingCount, recorded: "\(recPending.count)", replayed: "\(newPending.count)"))
                }
            }
            for (k, pair) in pairPending(recPending, newPending, comparer).enumerated() {
                let label = "pending \(k + 1)"
                switch pair {
                case (let a?, let b?):
                    diffs += compareMessages(a, b, label: label, service: service, sopClassUID: recorded.sopClassUID, comparer)
                case (let a?, nil) where !cancelled:
                    diffs.append(Difference(.missingResponse, response: label, recorded: summary(a), replayed: nil))
                case (nil, let b?) where !cancelled:
                    diffs.append(Difference(.extraResponse, response: label, recorded: nil, replayed: summary(b)))
                default:
                    break
                }
            }
            switch (recFinal, newFinal) {
            case (let a?, let b?):
                diffs += compareMessages(a, b, label: "final", service: service, sopClassUID: recorded.sopClassUID, comparer)
            case (let a?, nil):
                diffs.append(Difference(.noFinalResponse, response: "final", recorded: summary(a), replayed: nil))
            case (nil, let b?):
                diffs.append(Difference(.extraResponse, response: "final", recorded: nil, replayed: summary(b)))
            case (nil, nil):
                break
            }
        }
        var result = ExchangeComparison(
            index: recorded.index, request: recorded.message.command.commandField.map { "\($0)" }
                ?? CommandField.name(of: recorded.message.command.rawCommandField),
            service: service, sopClassUID: recorded.sopClassUID, recordedMessageID: recorded.messageID, replayedMessageID: replayedMessageID,
            recordedFinalStatus: recFinal?.status, replayedFinalStatus: newFinal?.status,
            recordedPending: recPending.count, replayedPending: newPending.count,
            recordedDuration: recFinal.map { gap($0.time, recorded.message.time) },
            replayedDuration: zip(replayedRequestTime, newFinal).map { gap($1.time, $0) },
            cancelled: cancelled, skipped: skipped, differences: diffs, notes: notes,
            recordedSubOperations: recFinal?.command.subOperationCounts, replayedSubOperations: newFinal?.command.subOperationCounts)
        if replayedMessageID == nil, skipped == nil {
            result.differences.append(Difference(.requestNotSent, recorded: summary(recorded.message), replayed: nil))
        }
        return result
    }

    private func compareMessages(_ a: RecordedMessage, _ b: RecordedMessage, label: String, service: DIMSEService?,
                                 sopClassUID: String?, _ comparer: DatasetComparer) -> [Difference] {
        var diffs: [Difference] = []
        if a.status != b.status {
            diffs.append(Difference(.status, response: label, recorded: a.status.map { statusText($0, service, sopClassUID) },
                                    replayed: b.status.map { statusText($0, service, sopClassUID) }))
        }
        for tag in commandTagsCompared(service) where !options.ignoredTags.contains(tag) {
            let x = a.command.commandSet[tag], y = b.command.commandSet[tag]
            let vx = x.flatMap { $0.littleEndianBytes ?? $0.bytes.map { Array($0.readableBytesView) } }
            let vy = y.flatMap { $0.littleEndianBytes ?? $0.bytes.map { Array($0.readableBytesView) } }
            if vx != vy {
                diffs.append(Difference(.commandElement, response: label, path: ElementPath([.init(tag: tag)]),
                                        recorded: x.map { comparer.show($0, .default) }, replayed: y.map { comparer.show($0, .default) }))
            }
        }
        switch (a.hasDataSet, b.hasDataSet) {
        case (true, false):
            diffs.append(Difference(.dataSetPresence, response: label, recorded: "data set", replayed: "no data set"))
        case (false, true):
            diffs.append(Difference(.dataSetPresence, response: label, recorded: "no data set", replayed: "data set"))
        case (false, false):
            break
        case (true, true):
            switch (a.dataSet, b.dataSet) {
            case (let x?, let y?):
                diffs += comparer.differences(recorded: x, replayed: y, response: label)
            case (_, nil):
                diffs.append(Difference(.dataSetNotDecodable, response: label, recorded: nil, replayed: "not decodable"))
            case (nil, _):
                diffs.append(Difference(.dataSetNotDecodable, response: label, recorded: "not decodable", replayed: nil))
            }
        }
        return diffs
    }

    /// Command elements besides Status that say something about the outcome.
    private func commandTagsCompared(_ service: DIMSEService?) -> [Tag] {
        var tags = [CommandTag.offendingElement]
        if service == .cGet || service == .cMove {
            tags += [CommandTag.numberOfRemainingSuboperations, CommandTag.numberOfCompletedSuboperations,
                     CommandTag.numberOfFailedSuboperations, CommandTag.numberOfWarningSuboperations]
        }
        return tags
    }

    /// Recorded and replayed pending responses paired by position, or by content first when `unorderedMatches`.
    private func pairPending(_ rec: [RecordedMessage], _ new: [RecordedMessage],
                             _ comparer: DatasetComparer) -> [(RecordedMessage?, RecordedMessage?)] {
        guard options.unorderedMatches else {
            return (0..<max(rec.count, new.count)).map { ($0 < rec.count ? rec[$0] : nil, $0 < new.count ? new[$0] : nil) }
        }
        var pairs: [(RecordedMessage?, RecordedMessage?)] = []
        var unusedNew = Array(new.indices)
        var leftRec: [RecordedMessage] = []
        for r in rec {
            if let k = unusedNew.firstIndex(where: { i in
                r.status == new[i].status && equalDataSets(r.dataSet, new[i].dataSet, comparer)
            }) {
                pairs.append((r, new[unusedNew[k]]))
                unusedNew.remove(at: k)
            } else {
                leftRec.append(r)
            }
        }
        let leftNew = unusedNew.map { new[$0] }
        for k in 0..<max(leftRec.count, leftNew.count) {
            pairs.append((k < leftRec.count ? leftRec[k] : nil, k < leftNew.count ? leftNew[k] : nil))
        }
        return pairs
    }

    private func equalDataSets(_ a: Dataset?, _ b: Dataset?, _ comparer: DatasetComparer) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let x?, let y?): return comparer.equal(x, y)
        default: return false
        }
    }

    func summary(_ m: RecordedMessage) -> String {
        var s = CommandField.name(of: m.command.rawCommandField)
        if let status = m.status { s += " " + statusText(status, m.command.commandField?.service, m.command.sopClassUID) }
        if m.hasDataSet { s += " with data set" }
        return s
    }
}

func items(_ n: Int) -> String { n == 1 ? "1 item" : "\(n) items" }

/// `0xFF00 Pending` with the service's meaning for the code.
func statusText(_ code: UInt16, _ service: DIMSEService?, _ sopClassUID: String?) -> String {
    let status = DIMSEStatus.lookup(code, service: service, sopClassUID: sopClassUID)
    return DICOMInspect.statusText(code) + " " + status.category.description
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
