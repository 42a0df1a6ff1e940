import DICOMCore
import DIMSE
import NIOCore

/// Rewrites a data set as its bytes arrive: fed by `DatasetParser` (the one parser), it applies
/// the rules to each element at any depth through `Rewriter` (the one place that knows what
/// each action does) and writes the result. Elements without a rule keep their exact bytes;
/// values at or over the parser's bulk threshold go on as they arrive (or are dropped, for
/// `remove` and `empty`).
///
/// What it holds: the output of any sequence or item of defined length still open (its length
/// is written when it ends) and of a group with a Group Length (gggg,0000). Past `holdLimit`
/// held bytes, the open sequences and items are written with undefined length instead (PS3.5
/// §7.5 allows either) and a group with nothing changed in it so far goes on with its Group
/// Length as received (grown by the delimiters the conversion adds), so memory stays bounded
/// by the limit whatever the data set. A change in a group whose length went on already, or a
/// changed group past four times the limit, is a failure.
///
/// A sequence sent as UN (CP-246: explicit VR, a standard tag the dictionary knows as SQ) is
/// read as one and rewritten inside (its items are Implicit VR Little Endian, PS3.5 §6.2.2);
/// towards the SCP, one that cannot be read as a sequence is emptied, so that nothing in it leaks.
/// What a data set is, for the rules: a stored instance gets the de-identification marks; a
/// query's identifier keeps its matching keys' meaning; a command set has only the UIDs that
/// repeat its data set's rewritten.
package enum DataSetPurpose: Sendable {
    case store, query, other, command
}

struct DatasetRewriteStream: DatasetVisitor {
    let rewriter: Rewriter
    let direction: RewriteDirection
    let holdLimit: Int
    /// What the data set is: a stored instance gets the de-identification marks, a query's
    /// identifier keeps its matching keys' meaning.
    let purpose: Purpose
    /// The Issuer of Patient ID assumed where a data set has none (the calling AE's default issuer).
    let defaultIssuer: String?
    /// Notes and new pseudonyms so far.
    var log = RewriteLog()
    var failure: RewriteError?
    let safeCreators: Set<SafePrivateAttribute>
    /// The marks still to be written (a stored instance, at the top level, before the first tag past them).
    var marksPending: Bool
    /// A Patient ID read, not written yet: its pseudonym depends on the Issuer of Patient ID that may follow.
    var pendingPatientID: (head: ElementHead, value: ByteBuffer, rule: AttributeRule)?
    /// The top level's encoding (from its first element), for the marks.
    var topEncoding: DatasetEncoding?

    typealias Purpose = DataSetPurpose

    /// Rewritten bytes not handed on yet; `handedOn` bytes were handed on before them.
    var output = ByteBuffer()
    var handedOn = 0
    var levels: [Level]
    var containers: [Container] = []
    /// Whether anything was rewritten, removed or emptied.
    var changedAnything = false
    /// Inside a subtree that is dropped (a removed sequence, an item of an emptied one): the
    /// containers open in it, its root included. Kept unchanged (`keep`): the same count.
    var dropDepth = 0
    var keepDepth = 0
    var bulk: BulkMode = .none
    /// The byte order of the encapsulated pixel data being written.
    var fragmentsBigEndian = false

    enum BulkMode { case none, pass, drop }

    /// A data set level: the top, or an item.
    struct Level {
        var characterSet: SpecificCharacterSet
        var path: String
        /// The group at this level whose Group Length (gggg,0000) was seen.
        var group: GroupLength?
        /// The sequence being read at this level and the items written so far in it, for paths and notes.
        var sequenceTag = Tag.item
        var sequencePath = ""
        var itemCount = 0
        /// The Private Creators read at this level, by their creator element's tag.
        var creators: [Tag: String] = [:]
    }

    /// A group whose length is written at `valuePosition` (absolute output position) and whose
    /// elements start at `start`.
    struct GroupLength {
        var group: UInt16
        var valuePosition: Int
        var start: Int
        var bigEndian: Bool
        /// One of its elements changed: the length is recomputed when the group ends.
        var changed = false
        /// It went on as received (past the hold limit, nothing changed so far): nothing in it may change.
        var released = false
    }

    /// A sequence or item being written.
    struct Container {
        var isSequence: Bool
        /// Absolute output position of its 4-byte length field (nil: undefined length on the wire).
        var lengthPosition: Int?
        /// Where its value starts (absolute).
        var valueStart: Int
        var bigEndian: Bool
        /// Its delimiters' byte order (a sequence's: its items').
        var delimiterBigEndian: Bool
        /// Switched to undefined length (past `holdLimit`): ends with a delimitation item.
        var converted = false
        /// A sequence whose items are dropped (`empty`).
        var dropsItems = false
        /// Something inside changed.
        var changed = false
        /// The level it is written at (the levels up to it enclose it).
        var level: Int
    }

    init(rewriter: Rewriter, direction: RewriteDirection, holdLimit: Int, characterSet: SpecificCharacterSet = .default,
         purpose: Purpose = .other, defaultIssuer: String? = nil) {
        self.rewriter = rewriter
        self.direction = direction
        self.holdLimit = holdLimit
        self.purpose = purpose
        self.defaultIssuer = defaultIssuer
        safeCreators = rewriter.rules.privateAttributes == .keepSafe ? rewriter.rules.safeCreators : []
        marksPending = purpose == .store && direction == .towardsAcceptor && rewriter.rules.profile?.marksStoredInstances == true
        levels = [Level(characterSet: characterSet, path: "")]
    }

    var isStopped: Bool { failure != nil }

    /// Output position just past what is written.
    var position: Int { handedOn + output.readableBytes }

    /// The bytes that can be handed on now: everything before the first open container whose
    /// length is still to be written, or the first group whose length may change.
    mutating func take() -> ByteBuffer {
        if output.readableBytes > holdLimit {
            convertOpenContainers()
            releaseUnchangedGroups()
        }
        var limit = position
        if let first = containers.first(where: { $0.lengthPosition != nil && !$0.converted }), let at = first.lengthPosition {
            limit = min(limit, at)
        }
        for level in levels { if let g = level.group, !g.released { limit = min(limit, g.valuePosition) } }
        let n = max(0, limit - handedOn)
        guard n > 0, let piece = output.readSlice(length: n) else { return ByteBuffer() }
        handedOn += n
        if output.readableBytes == 0 { output = ByteBuffer() } else if output.readerIndex > 1 << 20 { output.discardReadBytes() }
        return piece
    }

    /// The notes made since the last call.
    mutating func takeNotes() -> [RewriteNote] {
        defer { log.notes = [] }
        return log.notes
    }

    /// The pseudonyms issued since the last call that the mapping store did not know.
    mutating func takeRecords() -> [PseudonymRecord] {
        defer { log.newRecords = [] }
        return log.newRecords
    }

    /// Everything, at the end of the data set.
    mutating func finish() -> ByteBuffer {
        flushPatientID()
        writeMarks(before: nil)
        closeGroup(at: levels.count - 1)
        let rest = output
        output = ByteBuffer()
        handedOn += rest.readableBytes
        return rest
    }

    /// Past the hold limit: open sequences and items of defined length get undefined length (their
    /// ends then write delimitation items), so what is written so far can be handed on. The
    /// delimiter each adds (8 bytes) is added to the Group Length of every group enclosing it
    /// that is recomputed from nothing else.
    mutating func convertOpenContainers() {
        for i in containers.indices where containers[i].lengthPosition != nil && !containers[i].converted {
            guard let at = containers[i].lengthPosition, at >= handedOn else { continue }
            output.setInteger(UInt32.max, at: output.readerIndex + at - handedOn,
                              endianness: containers[i].bigEndian ? .big : .little)
            containers[i].converted = true
            for l in 0...containers[i].level { grow(groupAt: l, by: 8) }
        }
        if levels.contains(where: { $0.group?.changed == true }) && output.readableBytes > 4 * holdLimit {
            fail("a group with a Group Length in which a value changed is larger than \(4 * holdLimit) bytes: it cannot be rewritten")
        }
    }

    /// Adds `delta` to the Group Length of the group open at level `l` (when it is not recomputed at its end anyway).
    mutating func grow(groupAt l: Int, by delta: UInt32) {
        guard let g = levels[l].group, !g.changed else { return }
        guard !g.released, g.valuePosition >= handedOn else {
            fail("the Group Length of group \(hex4(g.group)) went on before the group grew: it cannot be rewritten")
            return
        }
        let at = output.readerIndex + g.valuePosition - handedOn
        let e: Endianness = g.bigEndian ? .big : .little
        let old: UInt32 = output.getInteger(at: at, endianness: e) ?? 0
        output.setInteger(old &+ delta, at: at, endianness: e)
    }

    /// Past the hold limit: groups with nothing changed so far go on with their Group Length as it is.
    mutating func releaseUnchangedGroups() {
        for l in levels.indices where levels[l].group?.changed == false { levels[l].group!.released = true }
    }

    mutating func fail(_ text: String) {
        if failure == nil { failure = RewriteError(.dataSet, text) }
    }
}

extension RewriteAction {
    /// Whether the action puts a new text in place of the value (only a string can take one).
    var substitutesValue: Bool {
        switch self {
        case .pseudonymize, .map, .replace, .shiftDate: return true
        case .empty, .remove, .keep: return false
        }
    }
}
