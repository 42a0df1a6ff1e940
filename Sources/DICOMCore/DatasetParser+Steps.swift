import NIOCore

// MARK: - One step of each container: an element of a data set, an item of a sequence, a fragment

extension DatasetParser {
    /// One element (or the end) of a data set level. False when more bytes are needed or the data set is done.
    mutating func dataSetStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, end: Int?, undefinedItem: Bool,
                                                         into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        let isTop = frames.count == 1
        if let end, pos == end, !isTop {
            frames.removeLast()
            itemDepth -= 1
            v.itemEnd(delimiterLength: nil)
            return true
        }
        let bound = frame.bound
        if let bound {
            let left = bound - pos
            if left == 0 {
                if isTop && !undefinedItem {
                    done = true
                    return false
                }
                throw error(.truncated, pos, nil, "item of undefined length has no Item Delimitation Item before the end of its container")
            }
            if left < 8 {
                throw error(.truncated, pos, nil, "\(left) bytes left, an element header needs at least 8")
            }
        }
        guard c.available - pos >= 8 else { return false }
        let e = frame.encoding
        let be = e.isBigEndian
        let tag = c.tag(pos, be)
        switch tag {
        case .itemDelimitation:
            guard undefinedItem else {
                throw error(.unexpectedDelimiter, pos, tag, "Item Delimitation Item outside an item of undefined length")
            }
            let delimiter = c.u32(pos + 4, be)
            c.pos = pos + 8
            frames.removeLast()
            itemDepth -= 1
            v.itemEnd(delimiterLength: delimiter)
            return true
        case .sequenceDelimitation:
            throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item without an open sequence of undefined length")
        case .item:
            throw error(.unexpectedDelimiter, pos, tag, "Item tag outside a sequence")
        default:
            break
        }
        let vr: VR
        let length: UInt32
        let headerLength: Int
        var reserved: UInt16 = 0
        if e.isExplicitVR {
            let b0 = c.byte(pos + 4), b1 = c.byte(pos + 5)
            guard let decoded = VR(byte0: b0, byte1: b1) else {
                throw error(.invalidVR, pos + 4, tag, "bytes 0x\(hex2(b0)) 0x\(hex2(b1)) are not a VR")
            }
            vr = decoded
            if decoded.hasLongExplicitLength {
                if let bound, bound - pos < 12 {
                    throw error(.truncated, pos, tag, "\(bound - pos) bytes left, a \(decoded) header needs 12")
                }
                guard c.available - pos >= 12 else { return false }
                reserved = c.u16(pos + 6, be)
                length = c.u32(pos + 8, be)
                headerLength = 12
            } else {
                length = UInt32(c.u16(pos + 6, be))
                headerLength = 8
            }
        } else {
            length = c.u32(pos + 4, be)
            headerLength = 8
            vr = implicitVR(for: tag)
        }
        let valueStart = pos + headerLength
        var head = ElementHead(tag: tag, vr: vr, headerLength: headerLength, length: nil, reservedBytes: reserved,
                               offset: pos, encoding: e)
        if length == undefinedLength {
            var inner = e
            let isSequence: Bool
            switch vr {
            case .SQ:
                isSequence = true
            case .UN where e.isExplicitVR:
                // PS3.5 §6.2.2: UN of undefined length holds an implicit VR little endian sequence.
                inner = .implicitLittleEndian
                isSequence = true
            case .OB, .OW, .UN:
                isSequence = e.isExplicitVR ? false : tag != .pixelData
            default:
                // Implicit VR: an undefined length can only be a sequence (or pixel data).
                guard !e.isExplicitVR else {
                    throw error(.undefinedLengthNotAllowed, pos, tag, "undefined length is not allowed for VR \(vr)")
                }
                isSequence = true
            }
            c.pos = valueStart
            if isSequence {
                try checkDepth(valueStart, tag)
                push(.sequence(tag: tag, end: nil), encoding: inner, end: nil)
                v.sequenceStart(head, recordedVR: e.isExplicitVR ? vr : .SQ, itemEncoding: inner)
            } else {
                push(.fragments(tag: tag), encoding: e, end: nil)
                v.fragmentsStart(head)
            }
            return true
        }
        let len = Int(length)
        head.length = len
        pendingOverrun = bound == nil ? Overrun(kind: .element, end: valueStart + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound, len > bound - valueStart {
            let detail = { (what: String) in "value length \(len) runs past \(what) (\(bound - valueStart) bytes left)" }
            if bound == totalLength { throw error(.lengthOverrun, pos, tag, detail("the end of the input")) }
            if totalLength == nil {
                overrunOfItemEnd = (bound, error(.lengthOverrun, pos, tag, detail("the end of the input")))
            }
            throw error(.lengthOverrun, pos, tag, detail("the end of the enclosing item"))
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "value length \(len) is odd (\(vr))")
        }
        if vr == .SQ {
            try checkDepth(valueStart, tag)
            c.pos = valueStart
            push(.sequence(tag: tag, end: valueStart + len), encoding: e, end: valueStart + len, overrun: pendingOverrun)
            v.sequenceStart(head, recordedVR: vr, itemEncoding: e)
            return true
        }
        if len >= bulkThreshold && !v.wantsWhole(head) {
            c.pos = valueStart
            bulkRemaining = len
            bulkElement = (head, nil, tag)
            v.bulkStart(head)
            if len == 0 { v.bulkEnd() }
            return true
        }
        guard c.available - valueStart >= len else { return false }
        c.pos = valueStart + len
        v.element(head, value: c.slice(valueStart, len))
        return true
    }

    func checkDepth(_ at: Int, _ tag: Tag) throws(DICOMDecodingError) {
        guard itemDepth < options.maxNestingDepth else {
            throw error(.nestingTooDeep, at, tag, "sequences nested deeper than \(options.maxNestingDepth) levels")
        }
    }

    /// One item (or the end) of a sequence.
    mutating func sequenceStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, tag: Tag, end: Int?,
                                                          into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        if let end, pos == end {
            frames.removeLast()
            v.sequenceEnd(delimiterLength: nil)
            if frames.isEmpty { done = true }
            return !frames.isEmpty
        }
        if let bound = frame.bound, bound - pos < 8 {
            let why = end == nil ? "sequence of undefined length has no Sequence Delimitation Item before the end"
                : "\(bound - pos) bytes left in the sequence, an item header needs 8"
            throw error(.truncated, pos, tag, why)
        }
        guard c.available - pos >= 8 else { return false }
        let be = frame.encoding.isBigEndian
        let itemTag = c.tag(pos, be)
        let itemLength = c.u32(pos + 4, be)
        if itemTag == .sequenceDelimitation {
            guard end == nil else {
                throw error(.unexpectedDelimiter, pos, tag, "Sequence Delimitation Item in a sequence of defined length")
            }
            c.pos = pos + 8
            frames.removeLast()
            v.sequenceEnd(delimiterLength: itemLength)
            return true
        }
        guard itemTag == .item else {
            throw error(.unexpectedDelimiter, pos, tag, "expected an item (FFFE,E000) in the sequence, found \(itemTag)")
        }
        c.pos = pos + 8
        if itemLength == undefinedLength {
            push(.dataSet(end: nil, undefinedItem: true), encoding: frame.encoding, end: nil)
            itemDepth += 1
            v.itemStart(ItemHead(offset: pos, length: nil, encoding: frame.encoding))
            return true
        }
        let len = Int(itemLength)
        pendingOverrun = frame.bound == nil ? Overrun(kind: .item, end: pos + 8 + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound = frame.bound, len > bound - pos - 8 {
            throw error(.lengthOverrun, pos, tag, "item length \(len) runs past the end of the sequence (\(bound - pos - 8) bytes left)")
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "item length \(len) is odd")
        }
        push(.dataSet(end: pos + 8 + len, undefinedItem: false), encoding: frame.encoding, end: pos + 8 + len,
             overrun: pendingOverrun)
        itemDepth += 1
        v.itemStart(ItemHead(offset: pos, length: len, encoding: frame.encoding))
        return true
    }

    /// One fragment (or the end) of encapsulated pixel data.
    mutating func fragmentsStep<V: DatasetVisitor>(_ c: inout Cursor, frame: Frame, tag: Tag,
                                                           into v: inout V) throws(DICOMDecodingError) -> Bool {
        let pos = c.pos
        if let bound = frame.bound, bound - pos < 8 {
            throw error(.truncated, pos, tag, "encapsulated value has no Sequence Delimitation Item before the end")
        }
        guard c.available - pos >= 8 else { return false }
        let be = frame.encoding.isBigEndian
        let itemTag = c.tag(pos, be)
        let itemLength = c.u32(pos + 4, be)
        if itemTag == .sequenceDelimitation {
            c.pos = pos + 8
            frames.removeLast()
            v.fragmentsEnd(delimiterLength: itemLength)
            return true
        }
        guard itemTag == .item else {
            throw error(.unexpectedDelimiter, pos, tag, "expected a fragment item (FFFE,E000), found \(itemTag)")
        }
        guard itemLength != undefinedLength else {
            throw error(.undefinedLengthNotAllowed, pos, tag, "a fragment item must have a defined length")
        }
        let len = Int(itemLength)
        pendingOverrun = frame.bound == nil ? Overrun(kind: .fragment, end: pos + 8 + len, headerOffset: pos, tag: tag, length: len) : nil
        if let bound = frame.bound, len > bound - pos - 8 {
            throw error(.lengthOverrun, pos, tag, "fragment length \(len) runs past the end (\(bound - pos - 8) bytes left)")
        }
        if len & 1 == 1 && !options.allowOddLengths {
            throw error(.oddLength, pos, tag, "fragment length \(len) is odd")
        }
        let item = ItemHead(offset: pos, length: len, encoding: frame.encoding)
        if len >= bulkThreshold {
            c.pos = pos + 8
            bulkRemaining = len
            bulkElement = (nil, item, tag)
            v.fragmentBulkStart(item)
            if len == 0 { v.bulkEnd() }
            return true
        }
        guard c.available - pos - 8 >= len else { return false }
        c.pos = pos + 8 + len
        v.fragment(item, value: c.slice(pos + 8, len))
        return true
    }
}
