// Encoding of text values under (0008,0005), the inverse of SpecificCharacterSet+Decoding.swift.

extension SpecificCharacterSet {
    enum ValueEncoder {
        static func encode(_ values: [String], plan: Plan, layout: Layout) -> [UInt8]? {
            var out: [UInt8] = []
            for (k, value) in values.enumerated() {
                if k > 0 { out.append(0x5C) }
                let ok: Bool
                switch plan.kind {
                case .iso2022: ok = iso2022(value, plan: plan, layout: layout, into: &out)
                case .unsupported: ok = iso2022(value, plan: .defaultRepertoire, layout: layout, into: &out)
                case .utf8: ok = utf8(value, layout: layout, into: &out)
                case .gb18030: ok = gb(value, fourByte: true, layout: layout, into: &out)
                case .gbk: ok = gb(value, fourByte: false, layout: layout, into: &out)
                }
                if !ok { return nil }
            }
            return out
        }

        // MARK: ISO 2022

        private static func isResetPoint(_ v: UInt32, layout: Layout) -> Bool {
            switch v {
            case 0x09, 0x0A, 0x0C, 0x0D: return true
            case 0x5E, 0x3D: return layout.isPersonName
            default: return false
            }
        }

        /// Greedy: the current G0, the current G1, then the initial code elements, then the others that the
        /// terms declare. Before every reset point and at the end of the value the initial state is restored.
        static func iso2022(_ value: String, plan: Plan, layout: Layout, into out: inout [UInt8]) -> Bool {
            var g0 = plan.initialG0
            var g1 = plan.initialG1
            func restoreInitial() {
                if g0 != plan.initialG0 {
                    out.append(contentsOf: plan.initialG0.escapeSequence)
                    g0 = plan.initialG0
                }
                if g1 != plan.initialG1 {
                    // With no initial G1 there is nothing to designate back; the decoder forgets G1 itself.
                    if let initial = plan.initialG1 { out.append(contentsOf: initial.escapeSequence) }
                    g1 = plan.initialG1
                }
            }
            for scalar in value.unicodeScalars {
                let v = scalar.value
                if isResetPoint(v, layout: layout) {
                    restoreInitial()
                    guard let bytes = representation(of: scalar, in: g0, layout: layout) else { return false }
                    out.append(contentsOf: bytes)
                    continue
                }
                if let bytes = representation(of: scalar, in: g0, layout: layout) {
                    out.append(contentsOf: bytes)
                    continue
                }
                if let current = g1, let bytes = representation(of: scalar, in: current, layout: layout) {
                    out.append(contentsOf: bytes)
                    continue
                }
                guard plan.extensions else { return false }
                var found = false
                for element in plan.declared where element != g0 && element != g1 {
                    guard let bytes = representation(of: scalar, in: element, layout: layout) else { continue }
                    out.append(contentsOf: element.escapeSequence)
                    if element.isG1 { g1 = element } else { g0 = element }
                    out.append(contentsOf: bytes)
                    found = true
                    break
                }
                if !found { return false }
            }
            restoreInitial()
            return true
        }

        /// The bytes of `scalar` in `element` (GL for G0 sets, GR for G1 sets), or nil.
        static func representation(of scalar: Unicode.Scalar, in element: CodeElement, layout: Layout) -> [UInt8]? {
            let v = scalar.value
            switch element {
            case .isoIR6:
                guard v < 0x80, v != 0x1B, !(v == 0x5C && layout.multiValued) else { return nil }
                return [UInt8(v)]
            case .isoIR14:
                if v == 0xA5 { return layout.multiValued ? nil : [0x5C] }
                if v == 0x203E { return [0x7E] }
                guard v < 0x80, v != 0x1B, v != 0x5C, v != 0x7E else { return nil }
                return [UInt8(v)]
            case .isoIR13:
                guard v >= 0xFF61 && v <= 0xFF9F else { return nil }
                return [UInt8(v - 0xFF61 + 0xA1)]
            case .upper(let upper):
                guard let b = upper.reverse[v] else { return nil }
                return [b]
            case .isoIR87, .isoIR159, .isoIR149, .isoIR58:
                guard v <= 0xFFFF, let code = Tables.reverse94(element)[UInt16(v)] else { return nil }
                let high = UInt8(code >> 8), low = UInt8(code & 0xFF)
                return element.isG1 ? [high | 0x80, low | 0x80] : [high, low]
            }
        }

        // MARK: UTF-8

        static func utf8(_ value: String, layout: Layout, into out: inout [UInt8]) -> Bool {
            for b in value.utf8 {
                if b == 0x1B || (b == 0x5C && layout.multiValued) { return false }
                out.append(b)
            }
            return true
        }

        // MARK: GB18030 / GBK

        static func gb(_ value: String, fourByte: Bool, layout: Layout, into out: inout [UInt8]) -> Bool {
            for scalar in value.unicodeScalars {
                let v = scalar.value
                if v < 0x80 {
                    if v == 0x1B || (v == 0x5C && layout.multiValued) { return false }
                    out.append(UInt8(v))
                    continue
                }
                if v <= 0xFFFF, let index = Tables.gb18030TwoByteReverse[UInt16(v)],
                   fourByte || !Tables.gbkExcluded[Int(index)] {
                    let lead = Int(index) / 190, trail = Int(index) % 190
                    out.append(UInt8(0x81 + lead))
                    out.append(UInt8(trail < 63 ? 0x40 + trail : 0x41 + trail))
                    continue
                }
                guard fourByte, let linear = Tables.gb18030FourByteLinear(for: v) else { return false }
                var rest = linear
                let b4 = rest % 10; rest /= 10
                let b3 = rest % 126; rest /= 126
                let b2 = rest % 10
                let b1 = rest / 10
                guard b1 <= 0xFE - 0x81 else { return false }
                out.append(contentsOf: [UInt8(0x81 + b1), UInt8(0x30 + b2), UInt8(0x81 + b3), UInt8(0x30 + b4)])
            }
            return true
        }
    }
}
