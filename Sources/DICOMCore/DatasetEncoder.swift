import NIOCore

/// Encodes a dataset (PS3.5 §7). Lengths of sequences and items of defined length are
/// recomputed from their content, so an unmodified decoded dataset re-encodes to the exact
/// input bytes and a modified one gets correct enclosing lengths.
public struct DatasetEncoder: Sendable {
    public init() {}

    /// Encodes `dataset` in `encoding` (by default the one it was read in) into a new buffer.
    public func encode(_ dataset: Dataset, encoding: DatasetEncoding? = nil) throws(DICOMDecodingError) -> ByteBuffer {
        var out = ByteBuffer()
        try encode(dataset, encoding: encoding ?? dataset.encoding, into: &out)
        return out
    }

    /// Appends the encoding of `dataset` to `out`.
    public func encode(_ dataset: Dataset, encoding: DatasetEncoding, into out: inout ByteBuffer) throws(DICOMDecodingError) {
        for element in dataset.elements {
            try encode(element, encoding: encoding, into: &out)
        }
    }

    public func encode(_ element: DataElement, encoding: DatasetEncoding, into out: inout ByteBuffer) throws(DICOMDecodingError) {
        let endianness: Endianness = encoding.isBigEndian ? .big : .little
        out.writeInteger(element.tag.group, endianness: endianness)
        out.writeInteger(element.tag.element, endianness: endianness)
        // Where the length goes: patched after the value is written when it is defined.
        let lengthIndex: Int
        let longLength: Bool
        if encoding.isExplicitVR {
            out.writeInteger(element.vr.byte0)
            out.writeInteger(element.vr.byte1)
            if element.vr.hasLongExplicitLength {
                out.writeInteger(element.reservedBytes, endianness: endianness)
                longLength = true
            } else {
                longLength = false
            }
        } else {
            longLength = true
        }
        lengthIndex = out.writerIndex
        if longLength {
            out.writeInteger(UInt32(0), endianness: endianness)
        } else {
            out.writeInteger(UInt16(0), endianness: endianness)
        }
        let valueStart = out.writerIndex

        switch element.value {
        case .bytes(let bytes):
            var copy = bytes
            out.writeBuffer(&copy)
        case .sequence(let items):
            // PS3.5 §6.2.2: the items of an explicit VR UN sequence are implicit VR little endian.
            let inner: DatasetEncoding = encoding.isExplicitVR && element.vr == .UN ? .implicitLittleEndian : encoding
            let innerEndianness: Endianness = inner.isBigEndian ? .big : .little
            for item in items {
                out.writeInteger(Tag.item.group, endianness: innerEndianness)
                out.writeInteger(Tag.item.element, endianness: innerEndianness)
                let itemLengthIndex = out.writerIndex
                out.writeInteger(item.hasUndefinedLength ? undefinedLength : 0, endianness: innerEndianness)
                let itemStart = out.writerIndex
                try encode(item.dataset, encoding: inner, into: &out)
                if item.hasUndefinedLength {
                    out.writeInteger(Tag.itemDelimitation.group, endianness: innerEndianness)
                    out.writeInteger(Tag.itemDelimitation.element, endianness: innerEndianness)
                    out.writeInteger(item.delimiterLength, endianness: innerEndianness)
                } else {
                    out.setInteger(UInt32(out.writerIndex - itemStart), at: itemLengthIndex, endianness: innerEndianness)
                }
            }
            if element.hasUndefinedLength {
                out.writeInteger(Tag.sequenceDelimitation.group, endianness: innerEndianness)
                out.writeInteger(Tag.sequenceDelimitation.element, endianness: innerEndianness)
                out.writeInteger(element.delimiterLength, endianness: innerEndianness)
            }
        case .bulk(let bulk):
            throw DICOMDecodingError(.unencodable, offset: lengthIndex, tag: element.tag,
                                     "the value (\(bulk.length) bytes) was not kept: it cannot be encoded again")
        case .fragments(let fragments):
            for fragment in fragments {
                out.writeInteger(Tag.item.group, endianness: endianness)
                out.writeInteger(Tag.item.element, endianness: endianness)
                out.writeInteger(UInt32(fragment.readableBytes), endianness: endianness)
                var copy = fragment
                out.writeBuffer(&copy)
            }
            out.writeInteger(Tag.sequenceDelimitation.group, endianness: endianness)
            out.writeInteger(Tag.sequenceDelimitation.element, endianness: endianness)
            out.writeInteger(element.delimiterLength, endianness: endianness)
        }

        let valueLength = out.writerIndex - valueStart
        if element.hasUndefinedLength {
            guard longLength else {
                throw DICOMDecodingError(.unencodable, offset: lengthIndex, tag: element.tag,
                                         "undefined length is not possible for VR \(element.vr) in explicit VR")
            }
            out.setInteger(undefinedLength, at: lengthIndex, endianness: endianness)
        } else if longLength {
            guard valueLength < Int(undefinedLength) else {
                throw DICOMDecodingError(.unencodable, offset: lengthIndex, tag: element.tag, "value of \(valueLength) bytes is too long")
            }
            out.setInteger(UInt32(valueLength), at: lengthIndex, endianness: endianness)
        } else {
            guard valueLength <= Int(UInt16.max) else {
                throw DICOMDecodingError(.unencodable, offset: lengthIndex, tag: element.tag,
                                         "value of \(valueLength) bytes does not fit the 16-bit length of VR \(element.vr)")
            }
            out.setInteger(UInt16(valueLength), at: lengthIndex, endianness: endianness)
        }
    }
}
