import DICOMCore
import DIMSE
import NIOCore

// MARK: - The rewritten bytes: headers, values, lengths of groups, sequences and items

extension DatasetRewriteStream {
    // MARK: Writing

    mutating func writeHeader(_ head: ElementHead, vr: VR? = nil, length: UInt32) {
        let e: Endianness = head.encoding.isBigEndian ? .big : .little
        output.writeInteger(head.tag.group, endianness: e)
        output.writeInteger(head.tag.element, endianness: e)
        let vr = vr ?? head.vr
        if head.encoding.isExplicitVR {
            output.writeInteger(vr.byte0)
            output.writeInteger(vr.byte1)
            if vr.hasLongExplicitLength {
                output.writeInteger(head.reservedBytes, endianness: e)
                output.writeInteger(length, endianness: e)
            } else {
                output.writeInteger(UInt16(truncatingIfNeeded: length), endianness: e)
            }
        } else {
            output.writeInteger(length, endianness: e)
        }
    }

    mutating func writeItemTag(_ tag: Tag, length: UInt32, bigEndian: Bool) {
        let e: Endianness = bigEndian ? .big : .little
        output.writeInteger(tag.group, endianness: e)
        output.writeInteger(tag.element, endianness: e)
        output.writeInteger(length, endianness: e)
    }

    mutating func write(_ element: DataElement, encoding: DatasetEncoding) {
        do throws(DICOMDecodingError) {
            try DatasetEncoder().encode(element, encoding: encoding, into: &output)
        } catch {
            failure = RewriteError(.unencodable, "\(element.tag) cannot be encoded: \(error)")
        }
    }

    var top: Int { levels.count - 1 }

    /// A change at the current position: every open container and every open group encloses it.
    mutating func changed() {
        changedAnything = true
        for l in levels.indices where levels[l].group != nil {
            if levels[l].group!.released {
                fail("a value in group \(hex4(levels[l].group!.group)) changed after its Group Length went on (the group is over \(holdLimit) bytes): it cannot be rewritten")
            }
            levels[l].group!.changed = true
        }
        for i in containers.indices { containers[i].changed = true }
    }

    /// Before an element of `group` at the current level: ends a Group Length's group when another begins.
    mutating func enterGroup(_ group: UInt16) {
        if let g = levels[top].group, g.group != group { closeGroup(at: top) }
    }

    mutating func closeGroup(at index: Int) {
        guard let g = levels[index].group else { return }
        levels[index].group = nil
        guard g.changed, !g.released, g.valuePosition >= handedOn else { return }
        output.setInteger(UInt32(position - g.start), at: output.readerIndex + g.valuePosition - handedOn,
                          endianness: g.bigEndian ? .big : .little)
    }

    /// Writes an element as a rule left it.
    mutating func write(_ outcome: Rewriter.Outcome, head: ElementHead, value: ByteBuffer) {
        switch outcome {
        case .unchanged, .doNotDescend:
            if head.tag.isGroupLength && value.readableBytes == 4 && keepDepth == 0 {
                levels[top].group = GroupLength(group: head.tag.group, valuePosition: position + head.headerLength,
                                                start: position + head.headerLength + 4, bigEndian: head.encoding.isBigEndian)
            }
            writeHeader(head, length: UInt32(value.readableBytes))
            var v = value
            output.writeBuffer(&v)
        case .replaced(let new):
            changed()
            write(new, encoding: head.encoding)
        case .removed:
            changed()
        }
    }

    /// Ends the innermost container: its delimiter as received, or its length now known.
    mutating func close(delimiter: Tag, length: UInt32?) {
        guard let c = containers.popLast() else { return }
        if let length {
            writeItemTag(delimiter, length: length, bigEndian: c.delimiterBigEndian)
        } else if c.converted {
            writeItemTag(delimiter, length: 0, bigEndian: c.delimiterBigEndian)
        } else if let at = c.lengthPosition, at >= handedOn {
            output.setInteger(UInt32(position - c.valueStart), at: output.readerIndex + at - handedOn,
                              endianness: c.bigEndian ? .big : .little)
        }
    }
}
