import DICOMUL
import NIOCore

extension AssociationObserver {
    /// One side's byte stream cut into PDUs by the shared framing decoder, kept going across
    /// damage: after a framing error it looks for the next plausible PDU header
    /// (resynchronisation); after missing bytes (a gap) it resumes right after the PDU the gap
    /// fell in, or at the next plausible header. Stream offsets count every byte of the side,
    /// skipped ones included.
    struct StreamFramer: Sendable {
        /// Bytes received and not framed yet.
        private(set) var buffer = ByteBuffer()
        private var decoder: PDUFrameDecoder
        /// Bytes skipped while resynchronising (added to the decoder's offsets).
        private var skipped = 0
        /// The stream could not be framed: looking for the next plausible PDU header.
        private(set) var framingLost = false
        /// Bytes still to discard after a gap inside a PDU (the rest of that PDU).
        private var pendingSkip = 0
        let maximumPDULength: Int

        init(maximumPDULength: Int) {
            self.maximumPDULength = maximumPDULength
            decoder = PDUFrameDecoder(maximumPDULength: maximumPDULength)
        }

        /// What the next bytes of the stream are.
        enum Step {
            /// A PDU (its stream offset counts the skipped bytes).
            case frame(PDUFrame)
            /// The stream cannot be framed at `streamOffset`: framing is lost until a plausible header.
            case framingLost(PDUDecodingError, streamOffset: Int)
            /// Framing resumed at a plausible header of `type` after `dropped` bytes.
            case resynchronized(PDUType, dropped: Int, streamOffset: Int)
            /// More bytes are needed.
            case needsMoreBytes
        }

        /// The PDU in progress when bytes went missing: its header arrived.
        struct CutPDU {
            var type: PDUType
            /// The bytes of it that arrived, its header first.
            var received: ByteBuffer
            var bodyLength: Int
            /// Its offset in the stream.
            var streamOffset: Int

            var reserved: UInt8 { received.getInteger(at: received.readerIndex + 1, as: UInt8.self) ?? 0 }
            /// The body bytes that arrived.
            var bodyPrefix: ByteBuffer {
                received.getSlice(at: received.readerIndex + pduHeaderLength, length: received.readableBytes - pduHeaderLength)
                    ?? ByteBuffer()
            }
        }

        /// The next bytes of the stream, in arbitrary pieces.
        mutating func append(_ bytes: ByteBuffer) {
            var incoming = bytes
            if pendingSkip > 0 {
                let n = min(pendingSkip, incoming.readableBytes)
                incoming.moveReaderIndex(forwardBy: n)
                pendingSkip -= n
            }
            if buffer.readableBytes == 0 {
                buffer = incoming
            } else {
                buffer.writeBuffer(&incoming)
            }
        }

        /// The next PDU, or what stands in its way.
        mutating func next() -> Step {
            if framingLost {
                guard let found = resynchronize() else { return .needsMoreBytes }
                return .resynchronized(found.type, dropped: found.dropped, streamOffset: decoder.streamOffset + skipped)
            }
            do throws(PDUDecodingError) {
                guard var frame = try decoder.decodeFrame(buffer: &buffer) else { return .needsMoreBytes }
                frame.streamOffset += skipped
                return .frame(frame)
            } catch {
                let offset = error.offset + skipped
                framingLost = true
                // Skip the bad header byte so resynchronisation makes progress.
                buffer.moveReaderIndex(forwardBy: 1)
                skipped += 1
                return .framingLost(error, streamOffset: offset)
            }
        }

        /// After `next()` needs more bytes: lets go of what was framed.
        mutating func compact() {
            if buffer.readableBytes == 0 {
                buffer = ByteBuffer()
            } else if buffer.readerIndex > 1 << 16 {
                buffer.discardReadBytes()
            }
        }

        /// `length` bytes at `streamOffset` are missing. Returns the PDU in progress (when its
        /// header arrived and framing was not lost) and whether framing resumes right after it
        /// (the gap ends inside it); else it resumes at the next plausible PDU header.
        mutating func gap(length: Int, at streamOffset: Int) -> (cut: CutPDU?, resumesInsidePDU: Bool) {
            let buffered = buffer
            buffer = ByteBuffer()
            var cut: CutPDU?
            var resumesInsidePDU = false
            if !framingLost, buffered.readableBytes >= pduHeaderLength,
               let typeByte = buffered.getInteger(at: buffered.readerIndex, as: UInt8.self), let type = PDUType(rawValue: typeByte),
               let bodyLength = buffered.getInteger(at: buffered.readerIndex + 2, as: UInt32.self) {
                let pduEnd = streamOffset - buffered.readableBytes + pduHeaderLength + Int(bodyLength)
                cut = CutPDU(type: type, received: buffered, bodyLength: Int(bodyLength),
                             streamOffset: streamOffset - buffered.readableBytes)
                if streamOffset + length <= pduEnd {
                    // The rest of this PDU after the gap is skipped; the next PDU starts framing again.
                    pendingSkip = pduEnd - (streamOffset + length)
                    resumesInsidePDU = true
                }
            }
            skipped += buffered.readableBytes + length + pendingSkip
            framingLost = !resumesInsidePDU
            return (cut, resumesInsidePDU)
        }

        /// The stream ended: what was not framed is dropped.
        mutating func dropBuffered() {
            buffer = ByteBuffer()
        }

        /// Scans for a plausible PDU header (type 1–7, reserved 0, a length that fits the
        /// type), discarding what comes before it. Returns nil when more bytes are needed.
        private mutating func resynchronize() -> (type: PDUType, dropped: Int)? {
            var dropped = 0
            while buffer.readableBytes >= pduHeaderLength {
                let i = buffer.readerIndex
                if let type = buffer.getInteger(at: i, as: UInt8.self).flatMap(PDUType.init(rawValue:)),
                   buffer.getInteger(at: i + 1, as: UInt8.self) == 0,
                   let length = buffer.getInteger(at: i + 2, as: UInt32.self),
                   plausible(type: type, length: Int(length), at: i) {
                    framingLost = false
                    // The framer's own offset stays in step with the bytes it has seen.
                    skipped += dropped
                    return (type, dropped)
                }
                buffer.moveReaderIndex(forwardBy: 1)
                dropped += 1
            }
            skipped += dropped
            return nil
        }

        private func plausible(type: PDUType, length: Int, at i: Int) -> Bool {
            switch type {
            case .associateReject, .releaseRequest, .releaseResponse, .abort:
                return length == 4
            case .associateRequest, .associateAccept:
                return length >= 68 && length <= 1 << 16
            case .dataTransfer:
                guard length >= 6, length <= maximumPDULength else { return false }
                // The first PDV's length must fit inside the PDU and its context ID must be odd.
                guard let pdvLength = buffer.getInteger(at: i + 6, as: UInt32.self) else { return true }
                let contextID = buffer.getInteger(at: i + 10, as: UInt8.self) ?? 1
                return pdvLength >= 2 && Int(pdvLength) + 4 <= length && contextID & 1 == 1
            }
        }
    }
}
