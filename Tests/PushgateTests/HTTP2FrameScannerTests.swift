import NIOCore
@testable import Pushgate
import Testing

/// The frame-boundary scanner under the HTTP/2 handler: frames found whatever the piece sizes.
@Suite("HTTP/2 frame scanner")
struct HTTP2FrameScannerTests {
    private func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
                UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    private func scan(_ bytes: [UInt8], pieces: Int, skipping: Int = 0) -> [HTTP2FrameScanner.Event] {
        var scanner = HTTP2FrameScanner(skipping: skipping)
        var events: [HTTP2FrameScanner.Event] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + pieces)
            scanner.scan(ByteBuffer(bytes: bytes[index..<end])) { events.append($0) }
            index = end
        }
        return events
    }

    @Test("frames and a GOAWAY's error code are found in one piece and byte by byte", arguments: [1, 2, 5, 9, 1000])
    func pieces(size: Int) {
        let goAway = frame(type: 7, stream: 0, payload: [0, 0, 0, 3, 0, 0, 0, 0x0B, 1, 2])  // ENHANCE_YOUR_CALM + debug data
        let bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(type: 4, stream: 0, payload: [])
            + frame(type: 1, flags: 0x5, stream: 1, payload: [0x82, 0x84]) + frame(type: 0, flags: 1, stream: 1, payload: Array(repeating: 7, count: 20))
            + goAway + frame(type: 6, stream: 0, payload: Array(repeating: 0, count: 8))
        let events = scan(bytes, pieces: size, skipping: 24)
        let headers = events.compactMap { event -> HTTP2FrameScanner.FrameHeader? in
            if case .frame(let header) = event { return header }
            return nil
        }
        #expect(headers.map(\.type) == [4, 1, 0, 7, 6])
        #expect(headers[1] == .init(length: 2, type: 1, flags: 0x5, streamID: 1))
        #expect(headers[2].length == 20)
        #expect(events.contains(.goAway(errorCode: 0x0B)))
    }

    @Test("a graceful GOAWAY reports NO_ERROR")
    func graceful() {
        let events = scan(frame(type: 7, stream: 0, payload: [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]), pieces: 3)
        #expect(events.last == .goAway(errorCode: 0))
    }
}
