import NIOCore

/// A DICOM Upper Layer PDU (PS3.8 §9.3): one case per PDU type, each with its payload.
public enum PDU: Sendable, Hashable, CustomStringConvertible {
    case associateRequest(AssociateRequest)
    case associateAccept(AssociateAccept)
    case associateReject(AssociateReject)
    case dataTransfer(DataTransfer)
    case releaseRequest(ReleasePDU)
    case releaseResponse(ReleasePDU)
    case abort(Abort)

    public var type: PDUType {
        switch self {
        case .associateRequest: return .associateRequest
        case .associateAccept: return .associateAccept
        case .associateReject: return .associateReject
        case .dataTransfer: return .dataTransfer
        case .releaseRequest: return .releaseRequest
        case .releaseResponse: return .releaseResponse
        case .abort: return .abort
        }
    }

    public var description: String { type.description }

    /// Decodes a framed PDU: the body must be consumed exactly.
    public init(frame: PDUFrame) throws(PDUDecodingError) {
        var body = frame.body
        do throws(PDUDecodingError) {
            switch frame.type {
            case .associateRequest:
                self = .associateRequest(AssociateRequest(
                    fields: try .decode(body: &body, pduType: .associateRequest, pduReserved: frame.reserved)))
            case .associateAccept:
                self = .associateAccept(AssociateAccept(
                    fields: try .decode(body: &body, pduType: .associateAccept, pduReserved: frame.reserved)))
            case .associateReject:
                self = .associateReject(try .decode(body: &body, pduReserved: frame.reserved))
            case .dataTransfer:
                self = .dataTransfer(try .decode(body: &body, reserved: frame.reserved))
            case .releaseRequest:
                self = .releaseRequest(try .decode(body: &body, type: .releaseRequest, pduReserved: frame.reserved))
            case .releaseResponse:
                self = .releaseResponse(try .decode(body: &body, type: .releaseResponse, pduReserved: frame.reserved))
            case .abort:
                self = .abort(try .decode(body: &body, pduReserved: frame.reserved))
            }
        } catch {
            var e = error
            e.pduType = frame.type.rawValue
            e.rawBytes = frame.encoded()
            throw e
        }
    }

    /// Decodes what can be decoded from the first bytes of an A-ASSOCIATE-RQ or -AC whose end
    /// is missing (a capture cut by its snapshot length): the fixed fields and every item
    /// that is complete. `nil` for other PDU types or when even the fixed fields are missing.
    public static func decodePrefix(type: PDUType, reserved: UInt8, body prefix: ByteBuffer) -> PDU? {
        guard type == .associateRequest || type == .associateAccept,
              prefix.readableBytes >= AssociationPDUFields.fixedLength else { return nil }
        var body = prefix
        var fixed = body.readSlice(length: AssociationPDUFields.fixedLength) ?? ByteBuffer()
        guard var fields = try? AssociationPDUFields.decode(body: &fixed, pduType: type, pduReserved: reserved) else { return nil }
        // Items one at a time, stopping at the first that is cut.
        while body.readableBytes >= 4, let length = body.getInteger(at: body.readerIndex + 2, as: UInt16.self),
              body.readableBytes >= 4 + Int(length),
              var one = body.readSlice(length: 4 + Int(length)),
              let items = try? AssociationItem.decodeAll(&one, base: pduHeaderLength, pduType: type) {
            fields.items += items
        }
        return type == .associateRequest ? .associateRequest(AssociateRequest(fields: fields))
            : .associateAccept(AssociateAccept(fields: fields))
    }

    /// Writes the whole PDU (header and body); returns the number of bytes written.
    @discardableResult
    public func write(into buffer: inout ByteBuffer) -> Int {
        let start = buffer.writerIndex
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(headerReserved)
        buffer.writeInteger(UInt32(0))
        switch self {
        case .associateRequest(let rq): rq.fields.writeBody(into: &buffer)
        case .associateAccept(let ac): ac.fields.writeBody(into: &buffer)
        case .associateReject(let rj): rj.writeBody(into: &buffer)
        case .dataTransfer(let p): p.writeBody(into: &buffer)
        case .releaseRequest(let r), .releaseResponse(let r): buffer.writeInteger(r.reserved)
        case .abort(let a): a.writeBody(into: &buffer)
        }
        buffer.setInteger(UInt32(buffer.writerIndex - start - pduHeaderLength), at: start + 2)
        return buffer.writerIndex - start
    }

    public func encoded() -> ByteBuffer {
        var b = ByteBuffer()
        write(into: &b)
        return b
    }

    private var headerReserved: UInt8 {
        switch self {
        case .associateRequest(let rq): return rq.fields.pduReserved
        case .associateAccept(let ac): return ac.fields.pduReserved
        case .associateReject(let rj): return rj.pduReserved
        case .dataTransfer(let p): return p.reserved
        case .releaseRequest(let r), .releaseResponse(let r): return r.pduReserved
        case .abort(let a): return a.pduReserved
        }
    }
}

/// One framed PDU: header fields and the body bytes, not yet decoded. `streamOffset` is the
/// position of the PDU's first byte in the byte stream it was framed from.
public struct PDUFrame: Sendable, Hashable {
    public var type: PDUType
    public var reserved: UInt8
    public var body: ByteBuffer
    public var streamOffset: Int

    public init(type: PDUType, reserved: UInt8, body: ByteBuffer, streamOffset: Int) {
        self.type = type
        self.reserved = reserved
        self.body = body
        self.streamOffset = streamOffset
    }

    /// Total length on the wire (header + body).
    public var length: Int { pduHeaderLength + body.readableBytes }

    /// The frame's bytes as they were on the wire.
    public func encoded() -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(type.rawValue)
        b.writeInteger(reserved)
        b.writeInteger(UInt32(body.readableBytes))
        var copy = body
        b.writeBuffer(&copy)
        return b
    }
}
