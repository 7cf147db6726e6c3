import NIOCore

/// Follows frame boundaries in a stream of HTTP/2 bytes that arrive in arbitrary pieces, without
/// copying: reports each frame's header, and for GOAWAY its error code (RFC 9113 §4.1, §6.8).
/// ``HTTP2ConnectionWatch`` uses one per direction to see what the HTTP/2 handler does not tell
/// its pipeline: that it sent a GOAWAY for an error, and that a header block is being trickled.
struct HTTP2FrameScanner {
    /// A frame header (RFC 9113 §4.1).
    struct FrameHeader: Equatable {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var streamID: UInt32
    }

    /// What the scanner found in one piece of bytes.
    enum Event: Equatable {
        case frame(FrameHeader)
        /// A complete GOAWAY payload's error code (0 is NO_ERROR: a graceful close).
        case goAway(errorCode: UInt32)
    }

    static let goAwayType: UInt8 = 0x7

    /// Bytes still to skip before the first frame (the client connection preface, inbound).
    private var skip: Int
    /// A frame header split across pieces.
    private var partialHeader: [UInt8] = []
    /// Payload bytes of the current frame not seen yet.
    private var remaining = 0
    /// The first 8 payload bytes of a GOAWAY (last stream id, error code), while collecting.
    private var goAwayPrefix: [UInt8]?

    /// `skipping`: bytes before the first frame (24 for the client preface).
    init(skipping: Int = 0) { self.skip = skipping }

    /// Decodes the 9 bytes of a frame header.
    private static func header<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> FrameHeader where Bytes.Index == Int {
        let h = bytes.startIndex
        return FrameHeader(length: Int(bytes[h]) << 16 | Int(bytes[h + 1]) << 8 | Int(bytes[h + 2]), type: bytes[h + 3], flags: bytes[h + 4],
                           streamID: (UInt32(bytes[h + 5]) << 24 | UInt32(bytes[h + 6]) << 16 | UInt32(bytes[h + 7]) << 8 | UInt32(bytes[h + 8]))
                               & 0x7FFF_FFFF)
    }

    /// Scans the next piece of the byte stream.
    mutating func scan(_ buffer: ByteBuffer, _ report: (Event) -> Void) {
        buffer.withUnsafeReadableBytes { bytes in
            var index = 0
            while index < bytes.count {
                if skip > 0 {
                    let step = min(skip, bytes.count - index)
                    skip -= step
                    index += step
                } else if remaining > 0 {
                    let step = min(remaining, bytes.count - index)
                    if var prefix = goAwayPrefix {
                        for byte in bytes[index..<index + min(step, 8 - prefix.count)] { prefix.append(byte) }
                        if prefix.count == 8 {
                            goAwayPrefix = nil
                            report(.goAway(errorCode: prefix[4...].reduce(0) { $0 << 8 | UInt32($1) }))
                        } else {
                            goAwayPrefix = prefix
                        }
                    }
                    remaining -= step
                    index += step
                } else {
                    let header: FrameHeader
                    if partialHeader.isEmpty, bytes.count - index >= 9 {
                        // The usual case: the whole header is in this piece; no copy.
                        header = Self.header(bytes[index..<index + 9])
                        index += 9
                    } else {
                        let step = min(9 - partialHeader.count, bytes.count - index)
                        partialHeader.append(contentsOf: bytes[index..<index + step])
                        index += step
                        guard partialHeader.count == 9 else { continue }
                        header = Self.header(partialHeader[...])
                        partialHeader.removeAll(keepingCapacity: true)
                    }
                    report(.frame(header))
                    remaining = header.length
                    if header.type == Self.goAwayType, header.length >= 8 { goAwayPrefix = [] }
                }
            }
        }
    }
}
