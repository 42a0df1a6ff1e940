// Decoding of text values under (0008,0005): PS3.5 §6.1.2.4-§6.1.2.5 and Annexes H-K.
// Every path checks its indices; malformed input becomes a `Failure`, never a trap.

extension SpecificCharacterSet {
    enum ValueDecoder {
        static func decode(_ bytes: [UInt8], plan: Plan, layout: Layout) -> Result<[String], Failure> {
            do {
                switch plan.kind {
                case .iso2022:
                    return .success(try iso2022(bytes, plan: plan, layout: layout))
                case .utf8:
                    return .success(try utf8(bytes, plan: plan, layout: layout))
                case .gb18030:
                    return .success(try gb(bytes, fourByte: true, plan: plan, layout: layout))
                case .gbk:
                    return .success(try gb(bytes, fourByte: false, plan: plan, layout: layout))
                case .unsupported(let term):
                    // Every DICOM repertoire has ASCII in G0, so plain ASCII is safe to show.
                    do {
                        return .success(try iso2022(bytes, plan: .defaultRepertoire, layout: layout))
                    } catch {
                        return .failure(Failure("character set \(term) not supported (\(error.reason))"))
                    }
                }
            } catch {
                return .failure(error)
            }
        }

        // MARK: ISO 2022 (default repertoire, single-byte sets, code extensions)

        static func iso2022(_ bytes: [UInt8], plan: Plan, layout: Layout) throws(Failure) -> [String] {
            // Fast path: G0 starts as ISO-IR 6 and the bytes hold no escape and nothing above
            // 0x7F, so G0 never changes and every byte is its own scalar; the loop below would
            // give the same values, split at `\` for multi-valued VRs.
            if plan.initialG0 == .isoIR6, !bytes.contains(where: { $0 >= 0x80 || $0 == 0x1B }) {
                guard layout.multiValued else { return [String(decoding: bytes, as: UTF8.self)] }
                return bytes.split(separator: 0x5C, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            }
            var values: [String] = []
            var current = String.UnicodeScalarView()
            var g0 = plan.initialG0
            var g1 = plan.initialG1
            var lastDesignatedG1: CodeElement? = nil
            let n = bytes.count
            var i = 0
            while i < n {
                let b = bytes[i]
                switch b {
                case 0x1B:
                    guard plan.extensions else {
                        throw Failure("escape sequence at offset \(i), but (0008,0005) \(plan.label) "
                                      + "does not use code extensions")
                    }
                    switch CodeElement.parseEscape(bytes, at: i) {
                    case .failure(let failure):
                        throw failure
                    case .success(let (element, length)):
                        if element.isG1 {
                            g1 = element
                            lastDesignatedG1 = element
                        } else {
                            g0 = element
                        }
                        i += length
                    }
                case 0x09, 0x0A, 0x0C, 0x0D:
                    // TAB LF FF CR: the initial code elements are active again (PS3.5 §6.1.2.5.3).
                    current.append(Unicode.Scalar(b))
                    g0 = plan.initialG0
                    g1 = plan.initialG1
                    i += 1
                case 0x00...0x1F, 0x7F:
                    current.append(Unicode.Scalar(b))
                    i += 1
                case 0x20...0x7E:
                    if g0.isTwoByte {
                        if b == 0x20 { // SPACE is always 0x20 in GL (ISO 2022 §6.3)
                            current.append(" ")
                            i += 1
                            continue
                        }
                        current.append(try twoByte(bytes, at: i, element: g0, offset: 0x21))
                        i += 2
                        continue
                    }
                    if b == 0x5C && layout.multiValued {
                        values.append(String(current))
                        current = String.UnicodeScalarView()
                        g0 = plan.initialG0
                        g1 = plan.initialG1
                        i += 1
                        continue
                    }
                    if g0 == .isoIR14 && b == 0x5C {
                        current.append("\u{00A5}")
                    } else if g0 == .isoIR14 && b == 0x7E {
                        current.append("\u{203E}")
                    } else {
                        current.append(Unicode.Scalar(b))
                    }
                    if layout.isPersonName && (b == 0x5E || b == 0x3D) { // ^ =
                        g0 = plan.initialG0
                        g1 = plan.initialG1
                    }
                    i += 1
                default: // 0x80...0xFF
                    guard let set = g1 ?? lastDesignatedG1 else {
                        throw Failure("byte 0x\(hex2(b)) at offset \(i) not in \(g0.name)")
                    }
                    if b < 0xA0 {
                        throw Failure("byte 0x\(hex2(b)) at offset \(i) not in \(set.name) (C1 control)")
                    }
                    switch set {
                    case .isoIR13:
                        guard b >= 0xA1 && b <= 0xDF else {
                            throw Failure("byte 0x\(hex2(b)) at offset \(i) not in ISO-IR 13")
                        }
                        current.append(Unicode.Scalar(0xFF61 + UInt32(b - 0xA1)) ?? "\u{FFFD}")
                        i += 1
                    case .upper(let upper):
                        let table = upper.table
                        let index = Int(b) - 0xA0
                        guard index < table.count, table[index] != 0, let scalar = Unicode.Scalar(table[index]) else {
                            throw Failure("byte 0x\(hex2(b)) at offset \(i) not in \(set.name)")
                        }
                        current.append(scalar)
                        i += 1
                    case .isoIR149, .isoIR58:
                        current.append(try twoByte(bytes, at: i, element: set, offset: 0xA1))
                        i += 2
                    case .isoIR6, .isoIR14, .isoIR87, .isoIR159:
                        throw Failure("byte 0x\(hex2(b)) at offset \(i) not in \(set.name)")
                    }
                }
            }
            values.append(String(current))
            return values
        }

        /// One 94x94 character whose bytes are in 0x21...0x7E (`offset` 0x21, GL) or 0xA1...0xFE (0xA1, GR).
        private static func twoByte(_ bytes: [UInt8], at i: Int, element: CodeElement,
                                    offset: UInt8) throws(Failure) -> Unicode.Scalar {
            guard i + 1 < bytes.count else {
                throw Failure("truncated \(element.name) character at offset \(i)")
            }
            let b1 = bytes[i], b2 = bytes[i + 1]
            let last = offset &+ 93
            guard b1 >= offset && b1 <= last else {
                throw Failure("byte 0x\(hex2(b1)) at offset \(i) not in \(element.name)")
            }
            guard b2 >= offset && b2 <= last else {
                throw Failure("byte 0x\(hex2(b2)) at offset \(i + 1) is not a second byte of \(element.name)")
            }
            let table = Tables.table94(element)
            let index = Int(b1 - offset) * 94 + Int(b2 - offset)
            guard index < table.count, table[index] != 0, let scalar = Unicode.Scalar(table[index]) else {
                throw Failure("\(element.name) code 0x\(hex2(b1))\(hex2(b2)) at offset \(i) is not mapped")
            }
            return scalar
        }

        /// An ASCII byte of a character set without code extensions: a character, or a backslash ending a value of a
        /// multi-valued element; an escape is an error.
        @inline(__always)
        private static func ascii(_ b: UInt8, at i: Int, plan: Plan, layout: Layout, values: inout [String],
                                  current: inout String.UnicodeScalarView) throws(Failure) {
            if b == 0x1B {
                throw Failure("escape sequence at offset \(i), but (0008,0005) \(plan.label) does not use code extensions")
            }
            if b == 0x5C && layout.multiValued {
                values.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(Unicode.Scalar(b))
            }
        }

        // MARK: UTF-8 (ISO_IR 192)

        static func utf8(_ bytes: [UInt8], plan: Plan, layout: Layout) throws(Failure) -> [String] {
            var values: [String] = []
            var current = String.UnicodeScalarView()
            let n = bytes.count
            var i = 0
            while i < n {
                let b = bytes[i]
                if b < 0x80 {
                    try ascii(b, at: i, plan: plan, layout: layout, values: &values, current: &current)
                    i += 1
                    continue
                }
                // Well-formed sequences, Unicode Table 3-7.
                let length: Int
                var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
                var value: UInt32
                switch b {
                case 0xC2...0xDF: length = 2; value = UInt32(b & 0x1F)
                case 0xE0: length = 3; value = UInt32(b & 0x0F); lo = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF: length = 3; value = UInt32(b & 0x0F)
                case 0xED: length = 3; value = UInt32(b & 0x0F); hi = 0x9F
                case 0xF0: length = 4; value = UInt32(b & 0x07); lo = 0x90
                case 0xF1...0xF3: length = 4; value = UInt32(b & 0x07)
                case 0xF4: length = 4; value = UInt32(b & 0x07); hi = 0x8F
                default:
                    throw Failure("invalid UTF-8: byte 0x\(hex2(b)) at offset \(i) cannot start a character")
                }
                for k in 1..<length {
                    guard i + k < n else {
                        throw Failure("invalid UTF-8: truncated sequence at offset \(i)")
                    }
                    let c = bytes[i + k]
                    let (min, max) = k == 1 ? (lo, hi) : (UInt8(0x80), UInt8(0xBF))
                    guard c >= min && c <= max else {
                        throw Failure("invalid UTF-8: byte 0x\(hex2(c)) at offset \(i + k) in sequence at offset \(i)")
                    }
                    value = value << 6 | UInt32(c & 0x3F)
                }
                guard let scalar = Unicode.Scalar(value) else {
                    throw Failure("invalid UTF-8 at offset \(i)")
                }
                current.append(scalar)
                i += length
            }
            values.append(String(current))
            return values
        }

        // MARK: GB18030 / GBK

        static func gb(_ bytes: [UInt8], fourByte: Bool, plan: Plan, layout: Layout) throws(Failure) -> [String] {
            var values: [String] = []
            var current = String.UnicodeScalarView()
            let name = fourByte ? "GB18030" : "GBK"
            let n = bytes.count
            var i = 0
            while i < n {
                let b = bytes[i]
                if b < 0x80 {
                    try ascii(b, at: i, plan: plan, layout: layout, values: &values, current: &current)
                    i += 1
                    continue
                }
                guard b >= 0x81 && b <= 0xFE else {
                    throw Failure("byte 0x\(hex2(b)) at offset \(i) not in \(name)")
                }
                guard i + 1 < n else {
                    throw Failure("truncated \(name) character at offset \(i)")
                }
                let b2 = bytes[i + 1]
                if (b2 >= 0x40 && b2 <= 0x7E) || (b2 >= 0x80 && b2 <= 0xFE) {
                    let trail = Int(b2) - (b2 < 0x7F ? 0x40 : 0x41)
                    let index = (Int(b) - 0x81) * 190 + trail
                    let table = Tables.gb18030TwoByte
                    guard index < table.count, table[index] != 0,
                          fourByte || !Tables.gbkExcluded[index],
                          let scalar = Unicode.Scalar(table[index]) else {
                        throw Failure("\(name) code 0x\(hex2(b))\(hex2(b2)) at offset \(i) is not mapped")
                    }
                    current.append(scalar)
                    i += 2
                    continue
                }
                guard fourByte, b2 >= 0x30 && b2 <= 0x39 else {
                    throw Failure("byte 0x\(hex2(b2)) at offset \(i + 1) is not a second byte of \(name)")
                }
                guard i + 3 < n else {
                    throw Failure("truncated GB18030 four-byte character at offset \(i)")
                }
                let b3 = bytes[i + 2], b4 = bytes[i + 3]
                guard b3 >= 0x81 && b3 <= 0xFE, b4 >= 0x30 && b4 <= 0x39 else {
                    throw Failure("invalid GB18030 four-byte sequence at offset \(i)")
                }
                let linear = ((Int(b - 0x81) * 10 + Int(b2 - 0x30)) * 126 + Int(b3 - 0x81)) * 10 + Int(b4 - 0x30)
                guard let cp = Tables.gb18030FourByte(linear: linear), let scalar = Unicode.Scalar(cp) else {
                    throw Failure("GB18030 code 0x\(hex2(b))\(hex2(b2))\(hex2(b3))\(hex2(b4)) at offset \(i) "
                                  + "is not mapped")
                }
                current.append(scalar)
                i += 4
            }
            values.append(String(current))
            return values
        }
    }
}
