import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing
@testable import Pushgate

/// HTTP/2 requests served from their frames (``HTTP2RequestStreams``), on a test channel fed the
/// frames NIO's HTTP/2 handler would pass on: the same limits as over HTTP/1.1, early answers
/// that ask the client to stop sending, reset requests that never run, GET left to the
/// multiplexer.
@Suite("HTTP/2 request streams")
struct HTTP2RequestStreamsTests {
    /// Answers 201 with the body length and path, under a fixed body limit; counts the requests run.
    struct CountingResponder: HTTPResponder {
        let limit: Int
        let runs: NIOLockedValueBox<Int>
        func match(method: HTTPMethod, path: String) -> MatchedRoute {
            MatchedRoute(bodyLimit: limit, label: "\(method.rawValue) test") { request in
                runs.withLockedValue { $0 += 1 }
                return APIResponse(status: .created, headers: ["X-Length": String(request.body.readableBytes), "X-Path": request.path])
            }
        }
    }

    let runs = NIOLockedValueBox(0)
    let stream = HTTP2StreamID(1)

    func channel(limit: Int = 16, timeout: TimeAmount = .seconds(10)) async throws -> NIOAsyncTestingChannel {
        let responder = CountingResponder(limit: limit, runs: runs)
        return try await NIOAsyncTestingChannel { channel in
            try channel.pipeline.syncOperations.addHandler(HTTP2RequestStreams(
                responder: responder, limits: RequestLimits(maxHeaderBytes: 256, requestTimeout: timeout), tracker: RequestTracker(),
                activity: ConnectionActivity(), logger: .init(label: "test"), accessLog: false))
        }
    }

    func headers(_ method: String = "POST", path: String = "/x?q=1", _ extra: [(String, String)] = [], end: Bool = false) -> HTTP2Frame {
        let headers = HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", "push.example.net"), (":path", path)] + extra)
        return HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers, endStream: end)))
    }

    func data(_ text: String, end: Bool) -> HTTP2Frame {
        HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: text)), endStream: end)))
    }

    /// The next frame written, once the request's task has run.
    func written(_ channel: NIOAsyncTestingChannel) async throws -> HTTP2Frame {
        await channel.testingEventLoop.run()
        return try await channel.waitForOutboundWrite(as: HTTP2Frame.self)
    }

    func status(of frame: HTTP2Frame) -> (status: String?, headers: HPACKHeaders, endStream: Bool)? {
        guard case .headers(let headers) = frame.payload else { return nil }
        return (headers.headers.first(name: ":status"), headers.headers, headers.endStream)
    }

    @Test("a request within the limits reaches its route with its body and path (query dropped); 201 ends the stream")
    func passes() async throws {
        let channel = try await channel()
        try await channel.writeInbound(headers())
        try await channel.writeInbound(data("01234", end: false))
        try await channel.writeInbound(data("56789", end: true))
        let answer = try #require(status(of: try await written(channel)))
        #expect(answer.status == "201" && answer.endStream)
        #expect(answer.headers.first(name: "x-length") == "10" && answer.headers.first(name: "x-path") == "/x")
        #expect(answer.headers.first(name: "content-length") == "0")
        #expect(runs.withLockedValue { $0 } == 1)
    }

    @Test("413 at once from content-length, with its JSON body, then RST_STREAM NO_ERROR: the client stops sending")
    func declaredTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(headers("POST", [("content-length", "17")]))
        let answer = try #require(status(of: try await channel.waitForOutboundWrite(as: HTTP2Frame.self)))
        #expect(answer.status == "413" && !answer.endStream)
        guard case .data(let body) = try await channel.waitForOutboundWrite(as: HTTP2Frame.self).payload, case .byteBuffer(let json) = body.data else {
            Issue.record("no body")
            return
        }
        #expect(body.endStream && String(buffer: json).contains("\"errno\""))
        guard case .rstStream(let code) = try await channel.waitForOutboundWrite(as: HTTP2Frame.self).payload else {
            Issue.record("no RST_STREAM")
            return
        }
        #expect(code == .noError && runs.withLockedValue { $0 } == 0)
    }

    @Test("413 while streaming, as soon as the body passes the limit; the rest is dropped")
    func streamedTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(headers())
        try await channel.writeInbound(data("0123456789", end: false))
        try await channel.writeInbound(data("0123456789", end: false))
        #expect(status(of: try await channel.waitForOutboundWrite(as: HTTP2Frame.self))?.status == "413")
        try await channel.writeInbound(data("0123456789", end: true))
        await channel.testingEventLoop.run()
        #expect(runs.withLockedValue { $0 } == 0)
    }

    @Test("431 for a header block over the limit; a complete request is not reset")
    func headersTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(headers("POST", [("x-big", String(repeating: "a", count: 300))], end: true))
        #expect(status(of: try await channel.waitForOutboundWrite(as: HTTP2Frame.self))?.status == "431")
        _ = try await channel.waitForOutboundWrite(as: HTTP2Frame.self)  // the JSON body
        #expect(try await channel.readOutbound(as: HTTP2Frame.self) == nil)
    }

    @Test("408 when the body does not complete within the request timeout, then RST_STREAM NO_ERROR")
    func timeout() async throws {
        let channel = try await channel(timeout: .seconds(2))
        try await channel.writeInbound(headers())
        await channel.testingEventLoop.advanceTime(by: .seconds(3))
        #expect(status(of: try await channel.waitForOutboundWrite(as: HTTP2Frame.self))?.status == "408")
        _ = try await channel.waitForOutboundWrite(as: HTTP2Frame.self)
        guard case .rstStream(.noError) = try await channel.waitForOutboundWrite(as: HTTP2Frame.self).payload else {
            Issue.record("no RST_STREAM NO_ERROR")
            return
        }
    }

    @Test("a request reset in the read that completed it never runs (rapid reset)")
    func resetInSameRead() async throws {
        let channel = try await channel()
        let request = headers(end: true), stream = self.stream
        try await channel.testingEventLoop.executeInContext {
            channel.pipeline.fireChannelRead(request)
            channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: stream, reason: .cancel))
            channel.pipeline.fireChannelReadComplete()
        }
        await channel.testingEventLoop.run()
        #expect(runs.withLockedValue { $0 } == 0)
        #expect(try await channel.readOutbound(as: HTTP2Frame.self) == nil)
    }

    @Test("GET and HEAD pass on to the stream multiplexer untouched, with the frames that follow")
    func getPassesOn() async throws {
        let channel = try await channel()
        try await channel.writeInbound(headers("GET", path: "/rs/abc", end: false))
        try await channel.writeInbound(data("x", end: true))
        let passed = try #require(try await channel.readInbound(as: HTTP2Frame.self))
        guard case .headers = passed.payload else {
            Issue.record("the HEADERS frame was not passed on")
            return
        }
        #expect(try await channel.readInbound(as: HTTP2Frame.self) != nil)
        #expect(runs.withLockedValue { $0 } == 0)
    }

    @Test("a large body gives the client's stream window back as it arrives")
    func windowGivenBack() async throws {
        let channel = try await channel(limit: 100_000)
        try await channel.writeInbound(headers())
        let chunk = String(repeating: "a", count: 16_384)
        for _ in 0..<2 { try await channel.writeInbound(data(chunk, end: false)) }
        guard case .windowUpdate(let increment) = try await channel.waitForOutboundWrite(as: HTTP2Frame.self).payload else {
            Issue.record("no WINDOW_UPDATE")
            return
        }
        #expect(increment == 32_768)
        try await channel.writeInbound(data("end", end: true))
        #expect(status(of: try await written(channel))?.headers.first(name: "x-length") == "32771")
    }
}
