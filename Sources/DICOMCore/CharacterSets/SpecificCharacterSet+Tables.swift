// Lazily decoded views of the generated tables in CharacterSetTables+Generated.swift, plus the
// reverse maps the encoder needs. Every `static let` is initialised once, thread-safely, on first use.

extension SpecificCharacterSet {
    enum Tables {
        /// JIS X 0208, 94x94 row-major from 0x2121; 0 = unmapped.
        static let jisX0208 = decodeBase64Table(CharacterSetTables.jisX0208Base64, count: 94 * 94)
        /// JIS X 0212, 94x94 row-major from 0x2121; 0 = unmapped.
        static let jisX0212 = decodeBase64Table(CharacterSetTables.jisX0212Base64, count: 94 * 94)
        /// KS X 1001, 94x94 row-major from 0x2121; 0 = unmapped.
        static let ksX1001 = decodeBase64Table(CharacterSetTables.ksX1001Base64, count: 94 * 94)
        /// GB 2312, 94x94 row-major from 0x2121; 0 = unmapped.
        static let gb2312 = decodeBase64Table(CharacterSetTables.gb2312Base64, count: 94 * 94)
        /// GB18030 two-byte area, 126 leads x 190 trails; every entry mapped.
        static let gb18030TwoByte = decodeBase64Table(CharacterSetTables.gb18030TwoByteBase64, count: 126 * 190)

        /// The two-byte codes of GB18030 that GBK does not have, as a bitmap over the 23940 indices.
        static let gbkExcluded: [Bool] = {
            var excluded = [Bool](repeating: false, count: 126 * 190)
            let runs = CharacterSetTables.gbkExcludedRuns
            var k = 0
            while k + 1 < runs.count {
                let first = Int(runs[k]), last = Int(runs[k + 1])
                if first <= last, last < excluded.count {
                    for i in first...last { excluded[i] = true }
                }
                k += 2
            }
            return excluded
        }()

        static let jisX0208Reverse = reverse94(jisX0208)
        static let jisX0212Reverse = reverse94(jisX0212)
        static let ksX1001Reverse = reverse94(ksX1001)
        static let gb2312Reverse = reverse94(gb2312)
        /// Code point → index into the GB18030 two-byte area (first index wins).
        static let gb18030TwoByteReverse: [UInt16: UInt16] = {
            var map: [UInt16: UInt16] = [:]
            map.reserveCapacity(gb18030TwoByte.count)
            for (i, cp) in gb18030TwoByte.enumerated() where cp != 0 && map[cp] == nil {
                map[cp] = UInt16(i)
            }
            return map
        }()

        /// The 94x94 table of a two-byte code element.
        static func table94(_ element: CodeElement) -> [UInt16] {
            switch element {
            case .isoIR87: return jisX0208
            case .isoIR159: return jisX0212
            case .isoIR149: return ksX1001
            case .isoIR58: return gb2312
            default: return []
            }
        }

        /// Code point → (row << 8 | cell), both in 0x21...0x7E, for a two-byte code element.
        static func reverse94(_ element: CodeElement) -> [UInt16: UInt16] {
            switch element {
            case .isoIR87: return jisX0208Reverse
            case .isoIR159: return jisX0212Reverse
            case .isoIR149: return ksX1001Reverse
            case .isoIR58: return gb2312Reverse
            default: return [:]
            }
        }

        private static func reverse94(_ table: [UInt16]) -> [UInt16: UInt16] {
            var map: [UInt16: UInt16] = [:]
            map.reserveCapacity(table.count)
            for (i, cp) in table.enumerated() where cp != 0 && map[cp] == nil {
                map[cp] = UInt16(0x21 + i / 94) << 8 | UInt16(0x21 + i % 94)
            }
            return map
        }

        // MARK: GB18030 four-byte area

        /// Linear index of 0x90 0x30 0x81 0x30, the first four-byte code of the supplementary planes.
        static let gb18030SupplementaryBase = 189_000

        /// Code point for a four-byte GB18030 linear index, or nil if unmapped.
        static func gb18030FourByte(linear: Int) -> UInt32? {
            if linear >= 0 && linear < CharacterSetTables.gb18030FourByteBMPCount {
                let ranges = CharacterSetTables.gb18030FourByteRanges
                // Binary search the last range whose first index <= linear.
                var lo = 0, hi = ranges.count / 2 - 1
                while lo < hi {
                    let mid = (lo + hi + 1) / 2
                    if Int(ranges[2 * mid]) <= linear { lo = mid } else { hi = mid - 1 }
                }
                guard lo >= 0, 2 * lo + 1 < ranges.count else { return nil }
                return ranges[2 * lo + 1] + UInt32(linear - Int(ranges[2 * lo]))
            }
            let offset = linear - gb18030SupplementaryBase
            if offset >= 0 && offset <= 0xFFFFF { return 0x10000 + UInt32(offset) }
            return nil
        }

        /// Four-byte GB18030 linear index for a code point that is not in the two-byte area, or nil.
        static func gb18030FourByteLinear(for cp: UInt32) -> Int? {
            if cp >= 0x10000 {
                return cp <= 0x10FFFF ? gb18030SupplementaryBase + Int(cp - 0x10000) : nil
            }
            let ranges = CharacterSetTables.gb18030FourByteRanges
            let count = ranges.count / 2
            guard count > 0 else { return nil }
            // Code points increase with the linear index, so binary search on the first code point.
            var lo = 0, hi = count - 1
            guard cp >= ranges[1] else { return nil }
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if ranges[2 * mid + 1] <= cp { lo = mid } else { hi = mid - 1 }
            }
            let start = Int(ranges[2 * lo])
            let end = lo + 1 < count ? Int(ranges[2 * lo + 2]) : CharacterSetTables.gb18030FourByteBMPCount
            let linear = start + Int(cp - ranges[2 * lo + 1])
            return linear < end ? linear : nil
        }

        // MARK: base64

        /// Decodes a base64 literal (whitespace ignored) of little-endian UInt16 values.
        /// A malformed literal yields zeros (= unmapped), never a trap.
        static func decodeBase64Table(_ text: String, count: Int) -> [UInt16] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count * 2)
            var accumulator: UInt32 = 0
            var bits = 0
            for c in text.utf8 {
                let v: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): v = 62
                case UInt8(ascii: "/"): v = 63
                default: continue // '=', newlines, spaces
                }
                accumulator = (accumulator << 6 | v) & 0xFF_FFFF
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
            var table = [UInt16](repeating: 0, count: count)
            for i in 0..<min(count, bytes.count / 2) {
                table[i] = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
            }
            return table
        }
    }
}
