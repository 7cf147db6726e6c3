import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1

/// Limits the front end enforces before a request reaches the service.
struct RequestLimits: Sendable {
    /// Bodies above this are refused with 413 as soon as that is known (from Content-Length or
    /// while streaming), without buffering the rest.
    var maxBodyBytes: Int
    /// The most header bytes (names and values) a request may carry; 431 above.
    var maxHeaderBytes: Int
    /// A request must arrive completely within this time; 408 otherwise.
    var requestTimeout: TimeAmount
    /// List documents (`/lists`, `/l/…`) may be larger than a push.
    var maxListDocumentBytes: Int

    /// The body limit of a request path.
    func maxBody(forPath uri: String) -> Int {
        uri.hasPrefix("/lists") || uri.hasPrefix("/l/") ? max(maxListDocumentBytes, maxBodyBytes) : maxBodyBytes
    }
}

/// Turns one HTTP request (HTTP/1.1, or one HTTP/2 stream through
/// `HTTP2FramePayloadToHTTP1ServerCodec`) into a ``ServiceRequest``, runs the service, and writes
/// the ``ServiceResponse`` back.
///
/// The body is collected into one bounded buffer; a body over the limit is answered with 413 at
/// once and the rest is discarded (HTTP/1.1 connections are then closed, since the unread body
/// would desynchronize them).
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// Answered early (413, 431, 408); the rest of the request is dropped.
        case discarding
        /// Waiting for the service.
        case responding
    }

    private let service: PushService
    private let limits: RequestLimits
    private let isHTTP2: Bool
    private let tracker: RequestTracker
    private let logger: Logger
    private var state = State.idle
    private var timeout: Scheduled<Void>?

    init(service: PushService, limits: RequestLimits, isHTTP2: Bool, tracker: RequestTracker, logger: Logger) {
        self.service = service
        self.limits = limits
        self.isHTTP2 = isHTTP2
        self.tracker = tracker
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            received(head: head, context: context)
        case (.body(var chunk), .receiving(let head, var body)):
            let limit = limits.maxBody(forPath: head.uri)
            guard body.readableBytes + chunk.readableBytes <= limit else {
                refuse(.payloadTooLarge(limit), context: context, version: head.version)
                return
            }
            state = .idle  // release the buffer's reference so the write below does not copy
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            dispatch(head: head, body: body, context: context)
        case (.end, .discarding):
            state = .idle
        case (.body, .discarding), (.body, .responding), (.end, .responding):
            break
        case (.head, _), (.body, .idle), (.end, .idle):
            // Pipelined requests are serialized by HTTPServerPipelineHandler; anything else is a bug in the peer.
            context.close(promise: nil)
        }
    }

    private func received(head: HTTPRequestHead, context: ChannelHandlerContext) {
        tracker.begin()
        let headerBytes = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        if headerBytes > limits.maxHeaderBytes {
            refuse(.headersTooLarge, context: context, version: head.version)
            return
        }
        let limit = limits.maxBody(forPath: head.uri)
        let declared = head.headers["Content-Length"].first.flatMap { Int($0) }
        if let declared, declared > limit {
            refuse(.payloadTooLarge(limit), context: context, version: head.version)
            return
        }
        state = .receiving(head, context.channel.allocator.buffer(capacity: min(declared ?? 0, limit)))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: limits.requestTimeout) {
            let (handler, context) = loopBound.value
            if case .receiving(let head, _) = handler.state {
                handler.refuse(.requestTimeout, context: context, version: head.version)
            }
        }
    }

    private func dispatch(head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        timeout?.cancel()
        state = .responding
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        let request = ServiceRequest(method: head.method, path: path, headers: head.headers, body: body)
        let service = self.service
        let started = NIODeadline.now()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.makeFutureWithTask {
            await service.handle(request)
        }.whenSuccess { response in
            let (handler, context) = loopBound.value
            handler.logger.debug("request", metadata: [
                "method": "\(head.method.rawValue)", "route": "\(Self.routeLabel(path))",
                "status": "\(response.status.code)", "ms": "\((NIODeadline.now() - started).nanoseconds / 1_000_000)",
            ])
            handler.write(response, version: head.version, keepAlive: head.isKeepAlive, context: context)
        }
    }

    /// Answers early with an error and drops the rest of the request.
    private func refuse(_ error: PushError, context: ChannelHandlerContext, version: HTTPVersion) {
        timeout?.cancel()
        state = .discarding
        write(error.response, version: version, keepAlive: false, context: context)
    }

    private func write(_ response: ServiceResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        let close = !isHTTP2 && !keepAlive
        if close { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let tracker = self.tracker
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            tracker.end()
            if close { channel.close(promise: nil) }
        }
        if case .responding = state { state = .idle }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        if case .receiving = state { tracker.end() }
        state = .idle
        context.fireChannelInactive()
    }

    /// The path with capability tokens elided, for logs (never log full capability URLs).
    static func routeLabel(_ path: String) -> String {
        let parts = path.split(separator: "/")
        if parts.count == 2, parts[0].count == 1 { return "/\(parts[0])/…" }
        return parts.count <= 1 ? path : "/\(parts[0])/…"
    }
}

/// Counts requests in progress, so shutdown can wait for them.
final class RequestTracker: Sendable {
    private let count = NIOLockedValueBox(0)

    func begin() { count.withLockedValue { $0 += 1 } }
    func end() { count.withLockedValue { $0 = max(0, $0 - 1) } }
    var inFlight: Int { count.withLockedValue { $0 } }
}
