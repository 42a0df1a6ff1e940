import NIOCore

/// Typed views of an element's value bytes (PS3.5 §6.2), honouring the byte order it was read in.
extension DataElement {
    /// Number of values (VM) as encoded: items for sequences, fragments for encapsulated data,
    /// backslash-separated values for strings, value size multiples for binary VRs.
    public func valueMultiplicity(characterSet: SpecificCharacterSet = .default) -> Int {
        switch value {
        case .sequence(let items): return items.count
        case .fragments(let f): return f.count
        case .bulk(let b): return b.fragmentCount ?? 1
        case .bytes(let b):
            if b.readableBytes == 0 { return 0 }
            if vr.isString {
                if vr.isSingleValuedText { return 1 }
                if case .values(let v) = strings(characterSet: characterSet) { return v.count }
                return 1
            }
            switch vr {
            case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return 1
            default:
                if let size = vr.binaryItemSize { return b.readableBytes / size }
                return 1
            }
        }
    }

    /// The values of a string VR decoded under `characterSet` (used only by the VRs it applies
    /// to) with padding removed as PS3.5 Table 6.2-1 allows. `nil` for non-string VRs.
    public func strings(characterSet: SpecificCharacterSet = .default) -> DecodedText? {
        guard vr.isString, let b = bytes else { return nil }
        if let values = asciiStrings(b, characterSet: characterSet) { return .values(values) }
        let raw = Array(b.readableBytesView)
        let decoded = (vr.usesSpecificCharacterSet ? characterSet : .default).decode(raw, vr: vr.code)
        guard case .values(let values) = decoded else { return decoded }
        return .values(values.map { trimPadding($0) })
    }

    /// `strings(characterSet:)` made straight from the bytes when the decoder cannot change
    /// them (every byte ASCII other than ESC, and a character set that keeps ASCII in G0):
    /// split at `\` unless the VR is LT, ST or UT, padding trimmed as `trimPadding` trims ASCII
    /// text. Nil when the decoder must run.
    func asciiStrings(_ b: ByteBuffer, characterSet: SpecificCharacterSet) -> [String]? {
        var values: [String] = []
        let ascii = forEachASCIIValue(b, characterSet: characterSet) { values.append(String(decoding: $0, as: UTF8.self)) }
        return ascii ? values : nil
    }

    /// The values `asciiStrings` makes, handed to `body` as their trimmed bytes (no String made),
    /// in order. False, without calling `body`, when the decoder must run.
    @inline(__always)
    func forEachASCIIValue(_ b: ByteBuffer, characterSet: SpecificCharacterSet, _ body: (ByteBufferView) -> Void) -> Bool {
        if vr.usesSpecificCharacterSet && !characterSet.keepsASCII { return false }
        let view = b.readableBytesView
        for byte in view where byte >= 0x80 || byte == 0x1B { return false }
        if view.isEmpty { return true }
        guard vr != .LT && vr != .ST && vr != .UT else { body(Self.trimmed(view, vr: vr)); return true }
        var start = view.startIndex
        let end = view.endIndex
        while true {
            let valueEnd = view[start..<end].firstIndex(of: 0x5C) ?? end
            body(Self.trimmed(view[start..<valueEnd], vr: vr))
            if valueEnd == end { return true }
            start = valueEnd + 1
        }
    }

    /// One ASCII value without the padding `trimPadding` removes for `vr`.
    static func trimmed(_ value: ByteBufferView, vr: VR) -> ByteBufferView {
        var lo = value.startIndex
        var hi = value.endIndex
        switch vr {
        case .UI:
            while hi > lo, value[hi - 1] == 0 || value[hi - 1] == 0x20 { hi -= 1 }
        case .LT, .ST, .UT, .UR:
            while hi > lo, value[hi - 1] == 0x20 { hi -= 1 }
        case .PN, .LO, .SH, .UC:
            while lo < hi, value[lo] == 0x20 { lo += 1 }
            while hi > lo, value[hi - 1] == 0x20 { hi -= 1 }
        default:
            while lo < hi, value[lo] == 0x20 || value[lo] == 0 { lo += 1 }
            while hi > lo, value[hi - 1] == 0x20 || value[hi - 1] == 0 { hi -= 1 }
        }
        return value[lo..<hi]
    }

    /// The first string value, or nil.
    public func string(characterSet: SpecificCharacterSet = .default) -> String? {
        if case .values(let v)? = strings(characterSet: characterSet) { return v.first }
        return nil
    }

    func trimPadding(_ s: String) -> String {
        switch vr {
        case .UI:
            return s.asciiTrimmed("\0 ", leading: false) ?? s.trimmingTrailing(["\0", " "])
        case .LT, .ST, .UT, .UR, .UC, .PN, .LO, .SH:
            // Leading spaces are significant for LT, ST, UT; trailing spaces are padding.
            if vr == .LT || vr == .ST || vr == .UT || vr == .UR {
                return s.asciiTrimmed(" ", leading: false) ?? s.trimmingTrailing([" "])
            }
            return s.trimmingCharacters(in: " ")
        default:
            return s.trimmingCharacters(in: " \0")
        }
    }

    /// Integer values of US, SS, UL, SL, SV, UV (and the binary item views of OW/OL/OV).
    public var integers: [Int64]? {
        guard let b = bytes else { return nil }
        let order: Endianness = isBigEndian ? .big : .little
        func read<T: FixedWidthInteger>(_: T.Type) -> [Int64] {
            let size = MemoryLayout<T>.size
            var out: [Int64] = []
            out.reserveCapacity(b.readableBytes / size)
            var i = b.readerIndex
            while i + size <= b.writerIndex {
                if let v = b.getInteger(at: i, endianness: order, as: T.self) { out.append(Int64(truncatingIfNeeded: v)) }
                i += size
            }
            return out
        }
        switch vr {
        case .US, .OW: return read(UInt16.self)
        case .SS: return read(Int16.self)
        case .UL, .OL: return read(UInt32.self)
        case .SL: return read(Int32.self)
        case .SV: return read(Int64.self)
        case .UV, .OV: return read(UInt64.self)
        default: return nil
        }
    }

    /// Unsigned 64-bit values of UV (which do not all fit in Int64).
    public var unsignedIntegers: [UInt64]? {
        guard let b = bytes, vr == .UV || vr == .OV else { return nil }
        let order: Endianness = isBigEndian ? .big : .little
        var out: [UInt64] = []
        var i = b.readerIndex
        while i + 8 <= b.writerIndex {
            if let v = b.getInteger(at: i, endianness: order, as: UInt64.self) { out.append(v) }
            i += 8
        }
        return out
    }

    /// Floating point values of FL, FD, OF, OD.
    public var doubles: [Double]? {
        guard let b = bytes else { return nil }
        let order: Endianness = isBigEndian ? .big : .little
        var out: [Double] = []
        var i = b.readerIndex
        switch vr {
        case .FL, .OF:
            while i + 4 <= b.writerIndex {
                if let v = b.getInteger(at: i, endianness: order, as: UInt32.self) { out.append(Double(Float(bitPattern: v))) }
                i += 4
            }
        case .FD, .OD:
            while i + 8 <= b.writerIndex {
                if let v = b.getInteger(at: i, endianness: order, as: UInt64.self) { out.append(Double(bitPattern: v)) }
                i += 8
            }
        default:
            return nil
        }
        return out
    }

    /// Float values of FL/OF as Float (for exact rendering).
    public var floats: [Float]? {
        guard let b = bytes, vr == .FL || vr == .OF else { return nil }
        let order: Endianness = isBigEndian ? .big : .little
        var out: [Float] = []
        var i = b.readerIndex
        while i + 4 <= b.writerIndex {
            if let v = b.getInteger(at: i, endianness: order, as: UInt32.self) { out.append(Float(bitPattern: v)) }
            i += 4
        }
        return out
    }

    /// Attribute tags of an AT value.
    public var tags: [Tag]? {
        guard let b = bytes, vr == .AT else { return nil }
        let order: Endianness = isBigEndian ? .big : .little
        var out: [Tag] = []
        var i = b.readerIndex
        while i + 4 <= b.writerIndex {
            let g = b.getInteger(at: i, endianness: order, as: UInt16.self) ?? 0
            let e = b.getInteger(at: i + 2, endianness: order, as: UInt16.self) ?? 0
            out.append(Tag(group: g, element: e))
            i += 4
        }
        return out
    }

    /// The value bytes in little endian order (binary VRs read from a big endian dataset are
    /// swapped per value size), as PS3.18 §F.2.7 wants for InlineBinary.
    public var littleEndianBytes: [UInt8]? {
        guard let b = bytes else { return nil }
        var raw = Array(b.readableBytesView)
        guard isBigEndian else { return raw }
        let size: Int
        switch vr {
        case .OW, .US, .SS: size = 2
        case .OF, .OL, .FL, .UL, .SL: size = 4
        case .OD, .OV, .FD, .SV, .UV: size = 8
        default: size = 1
        }
        if size > 1 {
            var i = 0
            while i + size <= raw.count {
                raw[i..<(i + size)].reverse()
                i += size
            }
        }
        return raw
    }
}

extension String {
    func trimmingTrailing(_ chars: Set<Character>) -> String {
        var sub = Substring(self)
        while let l = sub.last, chars.contains(l) { sub.removeLast() }
        return String(sub)
    }
}
