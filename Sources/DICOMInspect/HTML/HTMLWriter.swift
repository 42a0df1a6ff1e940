import DICOMCore

/// HTML (and inline SVG) written as it is built, escaped by construction: markup (element and
/// attribute names, fixed fragments, the style sheet and script) can only come from string
/// literals (`StaticString`), and every `String` goes through `escape`, whatever its origin
/// (AE titles, patient names, UIDs, Error Comments all come from the network or a file).
/// There is no method that writes a run-time `String` unescaped.
///
/// Why our own and not JohnSundell/Plot or swift-mustache: the reports need inline SVG (Plot's
/// DSL is for HTML and gives SVG only through untyped custom elements), they are written as
/// they go, section by section, to keep `analyze`'s memory bound (Plot builds a whole node
/// tree before rendering, Mustache a whole context), and the large nested expressions of a
/// result-builder DSL type-check slowly on the small build machines. One escaping function
/// and one writer are easy to check: `HTMLReportTests` feeds it hostile AE titles, names and
/// comments through a real browser.
public struct HTMLWriter: Sendable {
    package private(set) var buffer: TextBuffer

    public init(capacity: Int = 4096) { buffer = TextBuffer(capacity: capacity) }

    /// The HTML written so far.
    public var string: String { buffer.string }
    public var isEmpty: Bool { buffer.isEmpty }

    /// Markup, only from a literal.
    public mutating func markup(_ literal: StaticString) {
        literal.withUTF8Buffer { buffer.append($0) }
    }

    /// Text from anywhere, escaped.
    public mutating func text(_ s: String) { Self.escape(s, into: &buffer) }

    public mutating func text(_ n: Int) { buffer.appendDecimal(n) }

    /// A number with at most one decimal (coordinates, milliseconds).
    public mutating func number(_ v: Double) { Self.appendNumber(v, into: &buffer) }

    /// `<tag a="v" ...>`.
    public mutating func open(_ tag: StaticString, _ attributes: [HTMLAttribute] = []) {
        buffer.append(UInt8(ascii: "<"))
        markup(tag)
        for a in attributes { a.write(into: &buffer) }
        buffer.append(UInt8(ascii: ">"))
    }

    public mutating func close(_ tag: StaticString) {
        buffer.append(UInt8(ascii: "<"))
        buffer.append(UInt8(ascii: "/"))
        markup(tag)
        buffer.append(UInt8(ascii: ">"))
    }

    /// `<tag ...>text</tag>`, the text escaped.
    public mutating func element(_ tag: StaticString, _ attributes: [HTMLAttribute] = [], _ content: String) {
        open(tag, attributes)
        text(content)
        close(tag)
    }

    /// An element without content: `<tag ... />` (SVG shapes, `<input>`, `<br>`).
    public mutating func empty(_ tag: StaticString, _ attributes: [HTMLAttribute] = []) {
        buffer.append(UInt8(ascii: "<"))
        markup(tag)
        for a in attributes { a.write(into: &buffer) }
        markup("/>")
    }

    /// A fragment built by another writer (so also escaped by construction).
    public mutating func append(_ other: HTMLWriter) { buffer.append(other.buffer) }

    /// `&`, `<`, `>`, `"` and `'` as character references; C0 control characters (other than tab,
    /// line feed and carriage return) and DEL as their visible Control Pictures (U+2400...), so
    /// an AE title with a control character shows it instead of hiding it.
    public static func escape(_ s: String) -> String {
        var out = TextBuffer(capacity: s.utf8.count + 8)
        escape(s, into: &out)
        return out.string
    }

    package static func escape(_ s: String, into out: inout TextBuffer) {
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "&"): out.append("&amp;")
            case UInt8(ascii: "<"): out.append("&lt;")
            case UInt8(ascii: ">"): out.append("&gt;")
            case UInt8(ascii: "\""): out.append("&quot;")
            case UInt8(ascii: "'"): out.append("&#39;")
            case 0x09, 0x0A, 0x0D: out.append(b)
            // UTF-8 of U+2400 + b: E2 90 (80 + b); DEL is U+2421.
            case 0x00..<0x20: out.append([0xE2, 0x90, 0x80 + b])
            case 0x7F: out.append([0xE2, 0x90, 0xA1])
            default: out.append(b)
            }
        }
    }

    package static func appendNumber(_ v: Double, into out: inout TextBuffer) {
        guard v.isFinite else { out.append(UInt8(ascii: "0")); return }
        let tenths = Int64((v * 10).rounded())
        if tenths < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = tenths.magnitude
        out.appendDecimal(magnitude / 10)
        if magnitude % 10 != 0 {
            out.append(UInt8(ascii: "."))
            out.appendDecimal(magnitude % 10)
        }
    }
}

/// One attribute: the name a literal, the value escaped (text) or a number.
public struct HTMLAttribute: Sendable {
    enum Value: Sendable {
        case text(String)
        case number(Double)
    }

    let name: StaticString
    let value: Value

    public init(_ name: StaticString, _ value: String) {
        self.name = name
        self.value = .text(value)
    }

    public init(_ name: StaticString, _ value: Double) {
        self.name = name
        self.value = .number(value)
    }

    public init(_ name: StaticString, _ value: Int) { self.init(name, Double(value)) }

    func write(into out: inout TextBuffer) {
        out.append(UInt8(ascii: " "))
        name.withUTF8Buffer { out.append($0) }
        out.append(UInt8(ascii: "="))
        out.append(UInt8(ascii: "\""))
        switch value {
        case .text(let s): HTMLWriter.escape(s, into: &out)
        case .number(let v): HTMLWriter.appendNumber(v, into: &out)
        }
        out.append(UInt8(ascii: "\""))
    }
}
