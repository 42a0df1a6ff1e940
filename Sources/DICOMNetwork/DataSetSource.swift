import DIMSE
import NIOCore

/// A data set to send: in memory, or read in pieces while it is sent (a recorded data set kept in
/// a spool file), so that a long one is never held whole.
public enum DataSetSource: Sendable {
    case bytes(ByteBuffer)
    /// `length` bytes, `read(offset, count)` giving the next piece (called off the event loop).
    case pieces(length: Int, read: @Sendable (_ offset: Int, _ count: Int) throws -> ByteBuffer)

    public var length: Int {
        switch self {
        case .bytes(let b): return b.readableBytes
        case .pieces(let length, _): return length
        }
    }

    /// Bytes read and sent at a time.
    static let pieceLength = 1 << 20
}

extension ULConnectionHandler {
    /// Sends `command` and `source` on `channel`'s association: whole, or the data set piece by
    /// piece, each piece written before the next is read.
    static func send(_ command: DIMSECommand, dataSet source: DataSetSource?, contextID: UInt8,
                     handler: NIOLoopBound<ULConnectionHandler>, on eventLoop: any EventLoop) async throws {
        guard case .pieces(let length, let read)? = source else {
            let bytes: ByteBuffer? = if case .bytes(let b)? = source { b } else { nil }
            try await eventLoop.submit {
                try handler.value.send(command: command, dataSet: bytes, contextID: contextID)
            }.get()
            return
        }
        var fragmenter = try await eventLoop.submit {
            try handler.value.beginStreamedMessage(command: command, contextID: contextID)
        }.get()
        var offset = 0
        repeat {
            let count = min(DataSetSource.pieceLength, length - offset)
            let piece: ByteBuffer
            do {
                piece = try read(offset, count)
                guard piece.readableBytes == count else {
                    throw AssociationError.protocolViolation("the data set to send ended after \(offset + piece.readableBytes) of \(length) bytes")
                }
            } catch {
                // The command and part of the data set went: the peer waits for the rest, which
                // will not come. The association cannot go on.
                try? await eventLoop.submit { handler.value.requestAbort() }.get()
                throw error
            }
            offset += count
            let pdus = fragmenter.add(piece, isLast: offset >= length)
            let written = try await eventLoop.submit { handler.value.sendDataSetPDUs(pdus) }.get()
            guard let written else {
                throw AssociationError.notEstablished("the association ended while a data set was being sent")
            }
            try await written.get()
        } while offset < length
    }
}
