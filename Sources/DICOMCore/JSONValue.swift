import NIOCore

/// A small JSON value with ordered objects and a deterministic serializer: the output of
/// the DICOM JSON renderer and of the tools' machine-readable reports.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number already rendered as JSON text (keeps 64-bit integers and float32 values exact).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .number(let n): hasher.combine(n)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o):
            for (k, v) in o { hasher.combine(k); hasher.combine(v) }
        }
    }

    public static func int<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }
    public static func double(_ v: Double) -> JSONValue {
        v.isFinite ? .number(jsonNumber(v)) : .string(String(v))
    }

    /// Serializes; `indent` > 0 pretty-prints with that many spaces per level.
    public func serialized(indent: Int = 0) -> String {
        // Written as UTF-8 bytes and made a String once: appending to a String piece by piece
        // costs more than the serialization itself.
        var out = TextBuffer(capacity: 1024)
        write(indent: indent, into: &out)
        return out.string
    }

    /// Appends what `serialized(indent:)` returns to `out` as UTF-8.
    package func write(indent: Int, into out: inout TextBuffer) {
        var writer = JSONTextWriter(indent: indent)
        swap(&writer.out, &out)
        writer.value(self)
        swap(&writer.out, &out)
    }

    /// Hands the value to `writer`, event by event.
    package func write<W: JSONWriter>(to writer: inout W) {
        switch self {
        case .null: writer.null()
        case .bool(let b): writer.bool(b)
        case .number(let n): writer.number(n)
        case .string(let s): writer.string(s)
        case .array(let a):
            writer.beginArray()
            for v in a { v.write(to: &writer) }
            writer.endArray()
        case .object(let o):
            writer.beginObject()
            for (k, v) in o {
                writer.key(string: k)
                v.write(to: &writer)
            }
            writer.endObject()
        }
    }
}

/// Receives a JSON document as a sequence of events (containers, keys, scalars): the one
/// description of a JSON report that both a `JSONValue` tree (`JSONTreeBuilder`) and its
/// serialized bytes (`JSONTextWriter`, written directly without the tree) are made from.
/// In an object, each value follows its `key`.
package protocol JSONWriter {
    mutating func beginObject()
    mutating func endObject()
    mutating func beginArray()
    mutating func endArray()
    mutating func key(string key: String)
    /// A key made of characters that need no escaping (the field names of the reports).
    mutating func key(_ key: StaticString)
    /// `gggggeeee`, the DICOM JSON model key of `tag` (`Tag.jsonKey`).
    mutating func key(_ tag: Tag)
    mutating func null()
    mutating func bool(_ value: Bool)
    /// A number already rendered as JSON text (`JSONValue.number`).
    mutating func number(_ text: String)
    mutating func int(_ value: Int64)
    mutating func uint(_ value: UInt64)
    /// As `JSONValue.double`: a JSON number when finite, else its Swift text as a string.
    mutating func double(_ value: Double)
    mutating func string(_ value: String)
    /// A string given as valid UTF-8 bytes.
    mutating func string(utf8: ByteBufferView)
    /// A string whose UTF-8 `text` appends to the buffer it is given (e.g. a time or a status
    /// code written in place, without making a String).
    mutating func string(_ text: (inout TextBuffer) -> Void)
    /// A value already built as a tree.
    mutating func value(_ value: JSONValue)
    /// `dataset` in the DICOM JSON model (`DICOMJSONRenderer`).
    mutating func dataset(_ dataset: Dataset, characterSet: SpecificCharacterSet)
}

// Inlinable so that they are specialized for the writer in the modules that call them.
extension JSONWriter {
    @inlinable package mutating func int(_ value: Int) { int(Int64(value)) }
    @inlinable package mutating func int(_ value: Int?) {
        if let value { int(Int64(value)) } else { null() }
    }
    @inlinable package mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }
    @inlinable package mutating func double(_ value: Double?) {
        if let value { double(value) } else { null() }
    }
}

/// Writes JSON text as UTF-8, byte for byte what `JSONValue.serialized(indent:)` gives for the
/// same events: `indent` > 0 pretty-prints (a newline and `indent` × depth spaces before each
/// member, `": "` after keys), empty containers as `{}` / `[]`.
package struct JSONTextWriter: JSONWriter {
    package var out: TextBuffer
    let indent: Int
    var level = 0
    /// No member written yet in the innermost open container.
    var first = true
    /// A key was written: the next value follows it on the same line.
    var afterKey = false

    package init(indent: Int, into out: TextBuffer = TextBuffer()) {
        self.indent = indent
        self.out = out
    }

    /// The separator before a member (or the value of a key).
    @inline(__always) mutating func member() {
        if afterKey { afterKey = false; return }
        if level == 0 { return }
        separator(comma: !first, level)
        first = false
    }

    /// `,` (with `comma`), then with pretty-printing a newline and the indentation of `level`,
    /// appended in one piece for the usual depths.
    @inline(__always) mutating func separator(comma: Bool, _ level: Int) {
        guard indent > 0 else {
            if comma { out.append(UInt8(ascii: ",")) }
            return
        }
        var n = indent * level
        let k = min(n, 32)
        let skip = comma ? 0 : 1
        Self.separators.withUTF8Buffer {
            out.append(UnsafeBufferPointer(rebasing: $0.dropFirst(skip).prefix(2 - skip + k)))
        }
        n -= k
        while n > 0 {
            let k = min(n, 32)
            Self.separators.withUTF8Buffer { out.append(UnsafeBufferPointer(rebasing: $0.dropFirst(2).prefix(k))) }
            n -= k
        }
    }

    /// `,`, a newline and 32 spaces: every separator is a piece of it.
    static let separators: StaticString = ",\n                                "

    /// Ends a key: its closing quote unless `quoted` (written already), `:`, and a space when
    /// pretty-printing.
    @inline(__always) mutating func afterKeyText(quoted: Bool = false) {
        let skip = quoted ? 1 : 0
        Self.keyEnd.withUTF8Buffer {
            out.append(UnsafeBufferPointer(rebasing: $0.dropFirst(skip).prefix((indent > 0 ? 3 : 2) - skip)))
        }
        afterKey = true
    }

    /// What ends a key: its quote, `:`, and a space when pretty-printing.
    static let keyEnd: StaticString = "\": "

    package mutating func beginObject() { open(UInt8(ascii: "{")) }
    package mutating func endObject() { close(UInt8(ascii: "}")) }

    /// A writer for a member to be put into an array or object later with `rawMember`: it
    /// writes at `level` as if it were the first member there.
    package init(indent: Int, fragmentAtLevel level: Int) {
        self.init(indent: indent)
        self.level = level
    }

    /// A member written beforehand by a writer made with `init(indent:fragmentAtLevel:)` at this level.
    package mutating func rawMember(_ fragment: TextBuffer) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(fragment)
        first = false
    }
    package mutating func beginArray() { open(UInt8(ascii: "[")) }
    package mutating func endArray() { close(UInt8(ascii: "]")) }

    @inline(__always) mutating func open(_ bracket: UInt8) {
        member()
        out.append(bracket)
        level += 1
        first = true
    }

    @inline(__always) mutating func close(_ bracket: UInt8) {
        level -= 1
        if !first { separator(comma: false, level) }
        out.append(bracket)
        first = false
    }

    package mutating func key(string key: String) {
        member()
        writeString(key)
        afterKeyText(quoted: true)
    }

    package mutating func key(_ key: StaticString) {
        member()
        out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { out.append($0) }
        afterKeyText()
    }

    package mutating func key(_ tag: Tag) {
        member()
        out.append(UInt8(ascii: "\""))
        out.appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 24), uppercase: true)
        out.appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 16), uppercase: true)
        out.appendHex2(UInt8(truncatingIfNeeded: tag.rawValue >> 8), uppercase: true)
        out.appendHex2(UInt8(truncatingIfNeeded: tag.rawValue), uppercase: true)
        afterKeyText()
    }

    package mutating func null() { member(); out.append("null") }
    package mutating func bool(_ value: Bool) { member(); out.append(value ? "true" : "false") }
    package mutating func number(_ text: String) { member(); out.append(text) }
    package mutating func int(_ value: Int64) { member(); out.appendDecimal(value) }
    package mutating func uint(_ value: UInt64) { member(); out.appendDecimal(value) }

    package mutating func double(_ value: Double) {
        guard value.isFinite else { string(String(value)); return }
        member()
        if value == value.rounded(), abs(value) < 1e15 {
            out.appendDecimal(Int64(value))
        } else {
            out.append(String(value))
        }
    }

    package mutating func string(_ value: String) {
        member()
        writeString(value)
    }

    package mutating func string(utf8: ByteBufferView) {
        member()
        if utf8.withContiguousStorageIfAvailable({ writeEscaped($0) }) == nil {
            Array(utf8).withUnsafeBufferPointer { writeEscaped($0) }
        }
    }

    package mutating func string(_ text: (inout TextBuffer) -> Void) {
        member()
        out.append(UInt8(ascii: "\""))
        let start = out.count
        text(&out)
        for i in start..<out.count where Self.needsEscape(out.bytes[i]) {
            // Rare: written again with its escapes.
            let raw = Array(out.bytes[start...])
            out.removeLast(raw.count + 1)
            raw.withUnsafeBufferPointer { writeEscaped($0) }
            return
        }
        out.append(UInt8(ascii: "\""))
    }

    package mutating func value(_ value: JSONValue) { value.write(to: &self) }

    package mutating func dataset(_ dataset: Dataset, characterSet: SpecificCharacterSet) {
        DICOMJSONRenderer().write(dataset, characterSet: characterSet, into: &self)
    }

    mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { writeEscaped($0) }
    }

    @inline(__always) static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// `"…"` with `"`, `\\` and the control characters escaped (`\n`, `\r`, `\t`, else `\u00XX`
    /// in lower-case hex); every other byte of the UTF-8 copied as it is.
    mutating func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        out.append(UInt8(ascii: "\""))
        var clean = true
        for b in bytes where Self.needsEscape(b) { clean = false; break }
        if clean {
            out.append(bytes)
        } else {
            for b in bytes {
                switch b {
                case 0x22: out.append(UInt8(ascii: "\\")); out.append(b)
                case 0x5C: out.append(UInt8(ascii: "\\")); out.append(b)
                case 0x0A: out.append("\\n")
                case 0x0D: out.append("\\r")
                case 0x09: out.append("\\t")
                case ..<0x20:
                    out.append("\\u00")
                    out.appendHex2(b, uppercase: false)
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Builds the `JSONValue` tree of a sequence of `JSONWriter` events.
package struct JSONTreeBuilder: JSONWriter {
    struct Frame {
        var isObject: Bool
        var members: [(String, JSONValue)] = []
        var items: [JSONValue] = []
    }

    var stack: [Frame] = []
    var keys: [String] = []
    /// The finished top-level value.
    package private(set) var result: JSONValue = .null

    package init() {}

    mutating func add(_ v: JSONValue) {
        guard !stack.isEmpty else { result = v; return }
        if stack[stack.count - 1].isObject {
            stack[stack.count - 1].members.append((keys.removeLast(), v))
        } else {
            stack[stack.count - 1].items.append(v)
        }
    }

    package mutating func beginObject() { stack.append(Frame(isObject: true)) }
    package mutating func endObject() { add(.object(stack.removeLast().members)) }
    package mutating func beginArray() { stack.append(Frame(isObject: false)) }
    package mutating func endArray() { add(.array(stack.removeLast().items)) }
    package mutating func key(string key: String) { keys.append(key) }
    package mutating func key(_ key: StaticString) { keys.append(key.description) }
    package mutating func key(_ tag: Tag) { keys.append(tag.jsonKey) }
    package mutating func null() { add(.null) }
    package mutating func bool(_ value: Bool) { add(.bool(value)) }
    package mutating func number(_ text: String) { add(.number(text)) }
    package mutating func int(_ value: Int64) { add(.int(value)) }
    package mutating func uint(_ value: UInt64) { add(.int(value)) }
    package mutating func double(_ value: Double) { add(.double(value)) }
    package mutating func string(_ value: String) { add(.string(value)) }
    package mutating func string(utf8: ByteBufferView) { add(.string(String(decoding: utf8, as: UTF8.self))) }
    package mutating func string(_ text: (inout TextBuffer) -> Void) {
        var buffer = TextBuffer(capacity: 32)
        text(&buffer)
        add(.string(buffer.string))
    }
    package mutating func value(_ value: JSONValue) { add(value) }
    package mutating func dataset(_ dataset: Dataset, characterSet: SpecificCharacterSet) {
        DICOMJSONRenderer().write(dataset, characterSet: characterSet, into: &self)
    }
}

/// Renders a double as JSON: integral values without a fraction, others in Swift's shortest
/// round-trip form (the same digits Python's `repr` gives).
func jsonNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return String(v)
}
