import DICOMCore
import Foundation
import NIOCore

/// An SR content item (PS3.3 §C.17.3, Document Content Macro and Content Item Macro) as the templates build it.
/// By-value relationships only: Annex Q forbids by-reference relationships in the requested template.
struct ContentItem: Sendable, Hashable {
    enum Value: Sendable, Hashable {
        case container
        case text(String)
        case code(CodedConcept)
        case dateTime(String)
        case numeric(Double, units: CodedConcept)
    }

    /// Relationship Type (0040,A010): CONTAINS, HAS PROPERTIES, HAS CONCEPT MOD... (nil for the root).
    var relationship: String?
    var concept: CodedConcept
    var value: Value
    var children: [ContentItem] = []

    /// Value Type (0040,A040), PS3.3 Table C.17.3-7.
    var valueType: String {
        switch value {
        case .container: return "CONTAINER"
        case .text: return "TEXT"
        case .code: return "CODE"
        case .dateTime: return "DATETIME"
        case .numeric: return "NUM"
        }
    }

    static func contains(_ concept: CodedConcept, _ value: Value, _ children: [ContentItem] = []) -> ContentItem {
        ContentItem(relationship: "CONTAINS", concept: concept, value: value, children: children)
    }

    static func property(_ concept: CodedConcept, _ value: Value) -> ContentItem {
        ContentItem(relationship: "HAS PROPERTIES", concept: concept, value: value)
    }
}

/// A value that cannot be represented in the character set being tried.
struct Unencodable: Error {
    let tag: Tag
}

/// Builds elements under one Specific Character Set (little endian, as every builder in `ElementBuilders.swift`).
struct ElementFactory {
    let characterSet: SpecificCharacterSet

    func string(_ tag: Tag, _ vr: VR, _ value: String) throws(Unencodable) -> DataElement {
        guard let element = DataElement(tag: tag, vr: vr, string: value, characterSet: characterSet) else {
            throw Unencodable(tag: tag)
        }
        return element
    }

    func strings(_ tag: Tag, _ vr: VR, _ values: [String]) throws(Unencodable) -> DataElement {
        guard let element = DataElement(tag: tag, vr: vr, strings: values, characterSet: characterSet) else {
            throw Unencodable(tag: tag)
        }
        return element
    }

    /// A Code Sequence Macro item (PS3.3 Table 8.8-1): Code Value (or Long Code Value past 16 characters),
    /// Coding Scheme Designator, Code Meaning.
    func codeItem(_ code: CodedConcept) throws(Unencodable) -> Dataset {
        var item = Dataset()
        if code.value.utf8.count > 16 {
            item.set(try string(Tag.longCodeValue, .UC, code.value))
        } else {
            item.set(try string(Tag.codeValue, .SH, code.value))
        }
        item.set(try string(Tag.codingSchemeDesignator, .SH, code.scheme))
        item.set(try string(Tag.codeMeaning, .LO, code.meaning))
        return item
    }

    func codeSequence(_ tag: Tag, _ code: CodedConcept) throws(Unencodable) -> DataElement {
        .sequence(tag, items: [try codeItem(code)])
    }

    /// The attributes of one content item (relationship, value type, concept name, value, children).
    func dataset(for item: ContentItem) throws(Unencodable) -> Dataset {
        var ds = Dataset()
        if let relationship = item.relationship {
            ds.set(try string(Tag.relationshipType, .CS, relationship))
        }
        try addValue(of: item, to: &ds)
        if !item.children.isEmpty {
            var children: [Dataset] = []
            for child in item.children { children.append(try dataset(for: child)) }
            ds.set(.sequence(Tag.contentSequence, items: children))
        }
        return ds
    }

    /// Value Type, Concept Name Code Sequence and the value attributes of `item`.
    func addValue(of item: ContentItem, to ds: inout Dataset, isRoot: Bool = false) throws(Unencodable) {
        ds.set(try string(Tag.valueType, .CS, item.valueType))
        ds.set(try codeSequence(Tag.conceptNameCodeSequence, item.concept))
        switch item.value {
        case .container:
            // Continuity Of Content is type 1 for a CONTAINER content item; Annex Q lists no such attribute at the
            // root of the response identifier, so the root leaves it out.
            if !isRoot { ds.set(try string(Tag.continuityOfContent, .CS, "SEPARATE")) }
        case .text(let text):
            ds.set(try string(Tag.textValue, .UT, text))
        case .code(let code):
            ds.set(try codeSequence(Tag.conceptCodeSequence, code))
        case .dateTime(let dt):
            ds.set(try string(Tag.dateTime, .DT, dt))
        case .numeric(let number, let units):
            var measured = Dataset()
            measured.set(try codeSequence(Tag.measurementUnitsCodeSequence, units))
            measured.set(try string(Tag.numericValue, .DS, Self.decimalString(number)))
            ds.set(.sequence(Tag.measuredValueSequence, items: [measured]))
        }
    }

    /// A DS value (at most 16 characters, PS3.5 Table 6.2-1).
    static func decimalString(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var text = "\(value)"
        var digits = 15
        while text.utf8.count > 16 && digits > 1 {
            text = String(describing: Double(String(format: "%.\(digits)g", value)) ?? value)
            digits -= 1
        }
        return text
    }
}
