import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import Pushgate

/// The NIO handlers on test channels: body and header limits, the request timeout, protocol
/// sniffing, flush coalescing.
@Suite("HTTP handlers")
struct HTTPHandlerTests {
    /// Answers every request 201 with the body length, under a fixed body limit.
    struct EchoResponder: HTTPResponder {
        let limit: Int
        func match(method: HTTPMethod, path: String) -> MatchedRoute {
            MatchedRoute(bodyLimit: limit, label: "\(method.rawValue) test") { request in
                APIResponse(status: .created, headers: ["X-Length": String(request.body.readableBytes), "X-Path": request.path])
            }
        }
    }

    func channel(limit: Int = 16, timeout: TimeAmount = .seconds(10), responder: (any HTTPResponder)? = nil,
                 activity: ConnectionActivity = ConnectionActivity()) async throws -> NIOAsyncTestingChannel {
        let responder = responder ?? EchoResponder(limit: limit)
        return try await NIOAsyncTestingChannel { channel in
            try channel.pipeline.syncOperations.addHandler(RequestHandler(
                responder: responder, limits: RequestLimits(maxHeaderBytes: 256, requestTimeout: timeout),
                isHTTP2: false, tracker: RequestTracker(), activity: activity, logger: .init(label: "test")))
        }
    }

    /// Answers every request with a streamed body of the given chunks, noting each one written.
    struct StreamingResponder: HTTPResponder {
        let chunks: [String]
        let written: NIOLockedValueBox<[String]>
        func match(method: HTTPMethod, path: String) -> MatchedRoute {
            MatchedRoute(bodyLimit: 0, label: "stream") { _ in
                let chunks = self.chunks, written = self.written
                let stream = AsyncStream<ResponseStream.Chunk> { continuation in
                    for chunk in chunks {
                        continuation.yield(.init(ByteBuffer(string: chunk)) { written.withLockedValue { $0.append(chunk) } })
                    }
                    continuation.finish()
                }
                return APIResponse(status: .ok, headers: ["Content-Type": "text/event-stream"], stream: ResponseStream(stream))
            }
        }
    }

    @Test("HEAD is answered like GET, without the body but with its Content-Length (issue 15 #7)")
    func headRequest() async throws {
        struct BodyResponder: HTTPResponder {
            func match(method: HTTPMethod, path: String) -> MatchedRoute {
                MatchedRoute(bodyLimit: 0, label: "\(method.rawValue)") { request in
                    request.method == .GET ? APIResponse(status: .ok, body: ByteBuffer(string: "twelve bytes")) : APIResponse(status: .methodNotAllowed)
                }
            }
        }
        let channel = try await channel(responder: BodyResponder())
        try await channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/healthz")))
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        let head = try await responseHead(channel)
        #expect(head.status == .ok && head.headers["Content-Length"] == ["12"])
        guard case .end = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) else {
            Issue.record("a body was written for HEAD")
            return
        }
    }

    @Test("a request in flight keeps its connection from counting as idle, until its answer is written")
    func activity() async throws {
        let activity = ConnectionActivity()
        let channel = try await channel(activity: activity)
        try await channel.writeInbound(head())
        #expect(try await channel.testingEventLoop.submit { activity.requestsInFlight }.get() == 1)
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        _ = try await responseHead(channel)
        _ = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self)
        #expect(try await channel.testingEventLoop.submit { activity.requestsInFlight }.get() == 0)
    }

    @Test("a streamed body: the head without Content-Length, every chunk in order, each noted once written, then the end")
    func streaming() async throws {
        let written = NIOLockedValueBox<[String]>([])
        let channel = try await channel(responder: StreamingResponder(chunks: ["a", "b", "c"], written: written))
        try await channel.writeInbound(head())
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        let head = try await responseHead(channel)
        #expect(head.status == .ok && head.headers["Content-Length"].isEmpty)
        var bodies: [String] = []
        while true {
            switch try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) {
            case .body(.byteBuffer(let buffer)): bodies.append(String(buffer: buffer))
            case .end: #expect(bodies == ["a", "b", "c"])
                try await Task.sleep(for: .milliseconds(50))
                #expect(written.withLockedValue { $0 } == ["a", "b", "c"])
                return
            default: Issue.record("unexpected part")
                return
            }
        }
    }

    func head(_ uri: String = "/x?q=1", _ headers: HTTPHeaders = [:]) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers))
    }

    func responseHead(_ channel: NIOAsyncTestingChannel) async throws -> HTTPResponseHead {
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) else {
            Issue.record("the first write was not a response head")
            throw CancellationError()
        }
        return head
    }

    @Test("a request within the limits reaches its route with its body and path (query dropped)")
    func passes() async throws {
        let channel = try await channel()
        try await channel.writeInbound(head())
        try await channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "0123456789")))
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        let head = try await responseHead(channel)
        #expect(head.status == .created && head.headers["X-Length"] == ["10"] && head.headers["X-Path"] == ["/x"])
        #expect(head.headers["Content-Length"] == ["0"])
    }

    @Test("413 at once from Content-Length, without reading the body; the HTTP/1.1 connection then closes")
    func declaredTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(head("/x", ["Content-Length": "17"]))
        let head = try await responseHead(channel)
        #expect(head.status == .payloadTooLarge && head.headers["Connection"] == ["close"])
    }

    @Test("413 while streaming, as soon as the body passes the limit")
    func streamedTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(head())
        try await channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "0123456789")))
        try await channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "0123456789")))
        #expect(try await responseHead(channel).status == .payloadTooLarge)
    }

    @Test("431 for a header block over the limit")
    func headersTooLarge() async throws {
        let channel = try await channel()
        try await channel.writeInbound(head("/x", ["X-Big": String(repeating: "a", count: 300)]))
        #expect(try await responseHead(channel).status == .requestHeaderFieldsTooLarge)
    }

    @Test("408 when the body does not complete within the request timeout")
    func timeout() async throws {
        let channel = try await channel(timeout: .seconds(2))
        try await channel.writeInbound(head())
        await channel.testingEventLoop.advanceTime(by: .seconds(3))
        #expect(try await responseHead(channel).status == .requestTimeout)
    }

    @Test("sniffer: the HTTP/2 preface (even split across reads) selects HTTP/2, anything else HTTP/1.1; bytes pass on")
    func sniffer() throws {
        for (chunks, expected) in [([Array(ProtocolSniffer.preface.prefix(5)), Array(ProtocolSniffer.preface.dropFirst(5))], ProtocolSniffer.Kind.http2),
                                   ([Array("GET / HTTP/1.1\r\n".utf8)], .http1), ([Array("PRI * HTTP/1.1".utf8)], .http1)] {
            let chosen = NIOLockedBox<ProtocolSniffer.Kind?>(nil)
            let channel = EmbeddedChannel(handler: ProtocolSniffer { kind, _ in chosen.value = kind })
            for chunk in chunks { try channel.writeInbound(ByteBuffer(bytes: chunk)) }
            #expect(chosen.value == expected)
            var passed = try #require(try channel.readInbound(as: ByteBuffer.self))
            #expect(passed.readBytes(length: passed.readableBytes) == chunks.flatMap { $0 })
            #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: ProtocolSniffer.self) }
        }
    }

    @Test("flush coalescer: the flushes of one event-loop tick become one")
    func coalescer() throws {
        let counter = FlushCounter()
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescer()])
        for _ in 0..<5 {
            channel.write(ByteBuffer(string: "x"), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0, "deferred to the end of the tick")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
    }

    /// Counts the flushes that reach the head of the pipeline.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }
}

/// A box for a value set from a sniffer callback in a test.
final class NIOLockedBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}
