import NIOCore

// MARK: - One direction: buffering out of order, delivery, gaps

extension Connection {
    /// Drops buffered bytes at or after `end` (a FIN seen after them).
    static func trimPending(_ stream: inout StreamState, to end: Int, _ context: inout Context) {
        stream.notCaptured = stream.notCaptured.compactMap { range in
            range.lowerBound < end ? range.lowerBound..<min(range.upperBound, end) : nil
        }
        while let last = stream.pending.last, last.end > end {
            let keep = max(0, end - last.start)
            context.statistics.bytesAfterFIN += last.data.readableBytes - keep
            stream.pendingBytes -= last.data.readableBytes - keep
            if keep == 0 {
                stream.pending.removeLast()
            } else {
                stream.pending[stream.pending.count - 1].data.moveWriterIndex(to: last.data.readerIndex + keep)
            }
        }
    }

    static func insert(_ stream: inout StreamState, start: Int, segment: TCPSegment, id: ConnectionID,
                       direction: Direction, _ context: inout Context) {
        let captured = segment.payload.readableBytes
        let original = segment.payloadOriginalLength
        guard original > 0 else { return }
        var low = start
        var capturedEnd = start + captured
        var originalEnd = start + original
        // Bytes before the stream start (mid-stream) or already delivered.
        if low < stream.next {
            let old = min(stream.next, originalEnd) - low
            if start < 0 && !stream.fromBeginning {
                context.statistics.bytesBeforeStreamStart += min(0, originalEnd) - low
                context.statistics.duplicateBytes += old - (min(0, originalEnd) - low)
            } else {
                context.statistics.duplicateBytes += old
            }
            low = stream.next
        }
        // Bytes at or after the FIN.
        if let fin = stream.fin, originalEnd > fin {
            context.statistics.bytesAfterFIN += originalEnd - max(fin, low)
            originalEnd = fin
            capturedEnd = min(capturedEnd, fin)
            if low >= originalEnd { return }
        }
        guard low < originalEnd else {
            context.statistics.duplicateSegments += 1
            return
        }
        let time = segment.timestamp
        let packetIndex = segment.index
        // The captured part.
        var isNew = false
        if low < capturedEnd,
           let bytes = segment.payload.getSlice(at: segment.payload.readerIndex + (low - start), length: capturedEnd - low) {
            if stream.pending.isEmpty && low == stream.next {
                // In order with nothing buffered: deliver without buffering.
                isNew = true
                stream.next = capturedEnd
                context.statistics.bytesDelivered += bytes.readableBytes
                context.events.append(.data(id, direction, bytes, time: time, streamOffset: low, packetIndex: packetIndex))
            } else {
                let added = addPending(&stream, start: low, bytes: bytes, packetIndex: packetIndex, time: time)
                context.statistics.duplicateBytes += bytes.readableBytes - added
                isNew = added > 0
            }
        }
        // The part the snapshot length cut.
        if max(low, capturedEnd) < originalEnd {
            let cut = max(low, capturedEnd)..<originalEnd
            let position = stream.notCaptured.firstIndex { $0.lowerBound > cut.lowerBound } ?? stream.notCaptured.endIndex
            stream.notCaptured.insert(cut, at: position)
            isNew = true
        }
        if !isNew { context.statistics.duplicateSegments += 1 }
        drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
        // The out-of-order bound.
        while stream.pendingBytes > context.maxBufferedBytes, let first = stream.pending.first {
            context.statistics.bufferLimitGaps += 1
            emitGap(&stream, to: first.start, reason: .bufferLimit, id: id, direction: direction, time: time,
                    packetIndex: packetIndex, &context)
            drain(&stream, id: id, direction: direction, time: time, packetIndex: packetIndex, &context)
        }
    }

    /// Buffers `bytes` at `start` where nothing is buffered yet (the first-seen bytes win);
    /// returns how many bytes were new.
    static func addPending(_ stream: inout StreamState, start: Int, bytes: ByteBuffer, packetIndex: Int, time: Int64) -> Int {
        let end = start + bytes.readableBytes
        // First chunk that ends after `start` (binary search).
        var lowIndex = 0, highIndex = stream.pending.count
        while lowIndex < highIndex {
            let middle = (lowIndex + highIndex) / 2
            if stream.pending[middle].end <= start { lowIndex = middle + 1 } else { highIndex = middle }
        }
        let first = lowIndex
        if first == stream.pending.count || stream.pending[first].start >= end {
            // No overlap (the usual case: appended after the last buffered chunk).
            stream.pending.insert(PendingChunk(start: start, data: bytes, packetIndex: packetIndex, time: time), at: first)
            stream.pendingBytes += bytes.readableBytes
            return bytes.readableBytes
        }
        // Fill only the holes between the chunks it overlaps.
        var merged: [PendingChunk] = []
        var cursor = start
        var index = first
        var added = 0
        while index < stream.pending.count && stream.pending[index].start < end {
            let chunk = stream.pending[index]
            if chunk.start > cursor {
                if let piece = bytes.getSlice(at: bytes.readerIndex + (cursor - start), length: chunk.start - cursor) {
                    merged.append(PendingChunk(start: cursor, data: piece, packetIndex: packetIndex, time: time))
                    stream.pendingBytes += piece.readableBytes
                    added += piece.readableBytes
                }
            }
            merged.append(chunk)
            cursor = max(cursor, chunk.end)
            index += 1
        }
        if cursor < end, let piece = bytes.getSlice(at: bytes.readerIndex + (cursor - start), length: end - cursor) {
            merged.append(PendingChunk(start: cursor, data: piece, packetIndex: packetIndex, time: time))
            stream.pendingBytes += piece.readableBytes
            added += piece.readableBytes
        }
        if added > 0 { stream.pending.replaceSubrange(first..<index, with: merged) }
        return added
    }

    /// Delivers buffered chunks that start at `next`, and reports snapshot-length cuts reached.
    static func drain(_ stream: inout StreamState, id: ConnectionID, direction: Direction, time: Int64,
                      packetIndex: Int, _ context: inout Context) {
        var consumed = 0
        while true {
            if consumed < stream.pending.count, stream.pending[consumed].start <= stream.next {
                let chunk = stream.pending[consumed]
                consumed += 1
                stream.pendingBytes -= chunk.data.readableBytes
                guard chunk.end > stream.next else { continue }
                let skip = stream.next - chunk.start
                let bytes = chunk.data.getSlice(at: chunk.data.readerIndex + skip, length: chunk.data.readableBytes - skip)
                    ?? ByteBuffer()
                context.statistics.bytesDelivered += bytes.readableBytes
                context.events.append(.data(id, direction, bytes, time: chunk.time, streamOffset: stream.next,
                                            packetIndex: chunk.packetIndex))
                stream.next = chunk.end
                continue
            }
            // A cut range at `next`: a gap up to its end or the next buffered byte.
            while let cut = stream.notCaptured.first, cut.upperBound <= stream.next {
                stream.notCaptured.removeFirst()
            }
            if let cut = stream.notCaptured.first, cut.lowerBound <= stream.next {
                var end = cut.upperBound
                if consumed < stream.pending.count { end = min(end, stream.pending[consumed].start) }
                if end > stream.next {
                    emitGap(&stream, to: end, reason: .notCaptured, id: id, direction: direction, time: time,
                            packetIndex: packetIndex, &context)
                    continue
                }
            }
            break
        }
        if consumed > 0 { stream.pending.removeFirst(consumed) }
    }

    static func emitGap(_ stream: inout StreamState, to end: Int, reason: GapReason, id: ConnectionID,
                        direction: Direction, time: Int64, packetIndex: Int, _ context: inout Context) {
        guard end > stream.next else { return }
        let gap = Gap(streamOffsets: stream.next..<end, firstSequenceNumber: stream.sequenceNumber(at: stream.next),
                      reason: reason)
        context.statistics.gaps += 1
        context.statistics.gapBytes += gap.length
        context.events.append(.gap(id, direction, gap, time: time, packetIndex: packetIndex))
        stream.next = end
    }
}
