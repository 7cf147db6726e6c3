package import Logging
package import NIOCore
import NIOConcurrencyHelpers
import NIOHPACK
package import NIOHTTP1
import NIOHTTP2

/// Limits the front end enforces before a request reaches its route. (Body limits come from
/// the route: ``MatchedRoute/bodyLimit``.)
package struct RequestLimits: Sendable {
    /// The most header bytes (names and values) a request may carry; 431 above.
    package var maxHeaderBytes: Int
    /// A request must arrive completely within this time; 408 otherwise.
    package var requestTimeout: TimeAmount

    /// Limits for one server.
    package init(maxHeaderBytes: Int, requestTimeout: TimeAmount) {
        self.maxHeaderBytes = maxHeaderBytes
        self.requestTimeout = requestTimeout
    }
}

/// Turns one HTTP request (HTTP/1.1, or one HTTP/2 stream through
/// `HTTP2FramePayloadToHTTP1ServerCodec`) into an ``APIRequest``, runs its route, and writes
/// the ``APIResponse`` back.
///
/// The body is collected into one bounded buffer; a body over the route's limit is answered with
/// 413 at once, as soon as that is known (from Content-Length or while streaming), and the rest
/// is discarded (HTTP/1.1 connections are then closed, since the unread body would
/// desynchronize them).
package final class RequestHandler: ChannelInboundHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, MatchedRoute, ByteBuffer)
        /// Complete, and run once the connection's read that completed it has been processed
        /// (HTTP/2 only, ``ConnectionActivity/dispatchAfterRead(_:)``): a RST_STREAM in the same
        /// read cancels it before it costs anything.
        case complete(HTTPRequestHead, MatchedRoute, ByteBuffer)
        /// Answered early (413, 431, 408); the rest of the request is dropped.
        case discarding
        /// Waiting for the service.
        case responding
    }

    private let responder: any HTTPResponder
    private let limits: RequestLimits
    private let isHTTP2: Bool
    private let tracker: RequestTracker
    private let activity: ConnectionActivity
    private let logger: Logger
    private var state = State.idle
    private var timeout: Scheduled<Void>?
    /// A request began in the current read; its timeout starts when the read ends (if still needed).
    private var timeoutDue = false
    /// Writes a streamed body; cancelled when the connection goes.
    private var streaming: Task<Void, Never>?
    /// Whether this handler counts a request as in flight on its connection.
    private var active = false
    /// Computes the current request's response; cancelled if the client goes first.
    private var responseTask: Task<Void, Never>?
    /// Requests dispatched on this handler so far (tells a request answered at once from the next).
    private var dispatched = 0
    /// The client reset the stream (or closed the connection) before its answer.
    private var abandoned = false

    /// Whether each request gets an access-log line at info (otherwise at debug).
    private let accessLog: Bool
    /// The current request's route label, method and start, for its log line and metrics.
    private var current = RequestRecord(method: .GET)

    /// A handler for one HTTP/1.1 connection (`isHTTP2` false) or one HTTP/2 stream channel,
    /// answered by `responder`'s routes; `activity` is the connection's.
    package init(responder: any HTTPResponder, limits: RequestLimits, isHTTP2: Bool, tracker: RequestTracker,
         activity: ConnectionActivity, logger: Logger, accessLog: Bool = true) {
        self.accessLog = accessLog
        self.responder = responder
        self.activity = activity
        self.limits = limits
        self.isHTTP2 = isHTTP2
        self.tracker = tracker
        self.logger = logger
    }

    /// A request part: the head is checked and routed, the body collected within the route's limit.
    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            received(head: head, context: context)
        case (.body(var chunk), .receiving(let head, let route, var body)):
            guard body.readableBytes + chunk.readableBytes <= route.bodyLimit else {
                refuse(.payloadTooLarge(route.bodyLimit), context: context, version: head.version)
                return
            }
            state = .idle  // release the buffer's reference so the write below does not copy
            body.writeBuffer(&chunk)
            state = .receiving(head, route, body)
        case (.end, .receiving(let head, let route, let body)):
            if isHTTP2 {
                timeout?.cancel()
                state = .complete(head, route, body)
                activity.dispatchAfterRead(self, context: context)
            } else {
                dispatch(head: head, route: route, body: body, context: context)
            }
        case (.end, .discarding):
            state = .idle
        case (.body, .discarding), (.body, .responding), (.end, .responding):
            break
        case (.head, _), (.body, .idle), (.end, .idle), (.body, .complete), (.end, .complete):
            // Pipelined requests are serialized by HTTPServerPipelineHandler; anything else is a bug in the peer.
            context.close(promise: nil)
        }
    }

    /// Starts the request completed during the connection's last read, unless its stream was
    /// reset meanwhile (``DispatchAfterRead``).
    func dispatchCompleted(context: ChannelHandlerContext) {
        guard case .complete(let head, let route, let body) = state else { return }
        dispatch(head: head, route: route, body: body, context: context)
    }

    private func received(head: HTTPRequestHead, context: ChannelHandlerContext) {
        tracker.begin()
        setActive(true)
        current = RequestRecord(method: head.method)
        let headerBytes = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        if headerBytes > limits.maxHeaderBytes {
            refuse(.headersTooLarge, context: context, version: head.version)
            return
        }
        // HEAD is GET without the body (RFC 9110 §9.3.2): routed as GET, the body left out below.
        let route = responder.match(method: head.method == .HEAD ? .GET : head.method, path: Self.path(of: head.uri))
        current.route = route.label
        let declared = head.headers.first(name: "Content-Length").flatMap { Int($0) }  // no array, unlike the subscript
        if let declared, declared > route.bodyLimit {
            refuse(.payloadTooLarge(route.bodyLimit), context: context, version: head.version)
            return
        }
        state = .receiving(head, route, context.channel.allocator.buffer(capacity: min(declared ?? 0, route.bodyLimit)))
        timeoutDue = true
    }

    /// A request still incomplete when the read that began it ends gets its timeout now. (A push
    /// nearly always arrives whole in one read: then no timer is made and cancelled for it.)
    package func channelReadComplete(context: ChannelHandlerContext) {
        if timeoutDue {
            timeoutDue = false
            if case .receiving = state {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                timeout = context.eventLoop.scheduleTask(in: limits.requestTimeout) {
                    let (handler, context) = loopBound.value
                    if case .receiving(let head, _, _) = handler.state {
                        handler.refuse(.requestTimeout, context: context, version: head.version)
                    }
                }
            }
        }
        context.fireChannelReadComplete()
    }

    /// The path of a request target, without its query.
    static func path(of uri: String) -> String {
        guard let query = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return uri }  // no copy
        return String(uri[..<query])
    }

    private func dispatch(head: HTTPRequestHead, route: MatchedRoute, body: ByteBuffer, context: ChannelHandlerContext) {
        timeout?.cancel()
        state = .responding
        // An HTTP/2 stream's channel has no address of its own: the connection's is the client's.
        let peer = context.channel.parent?.remoteAddress ?? context.channel.remoteAddress
        let request = APIRequest(method: head.method == .HEAD ? .GET : head.method, path: Self.path(of: head.uri), headers: head.headers,
                                 body: body, canServerPush: isHTTP2 && head.method != .HEAD, remoteAddress: peer?.ipAddress)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        activity.workStarted()
        // The task is cancelled when the request's stream (or connection) goes first: a request
        // the client reset is not worth running (RST_STREAM floods, CVE-2023-44487), and a
        // publish not yet handed to the broker is dropped (the client got no answer: not sent).
        //
        // Started immediately: the route runs here, in this turn of the event loop, up to its first
        // wait (the broker's acknowledgement).
        dispatched += 1
        let generation = dispatched
        let task = Task.immediate(executorPreference: activity.taskExecutor(on: eventLoop)) {
            let response: APIResponse? = Task.isCancelled ? nil : await route.respond(request)
            let answer: @Sendable () -> Void = {
                let (handler, context) = loopBound.value
                handler.responseTask = nil
                handler.activity.workFinished()
                guard let response, !handler.abandoned else {
                    PushgateMetrics.requestsAbandoned.increment()
                    return
                }
                handler.finished(response)
                handler.write(response, version: head.version, keepAlive: head.isKeepAlive, context: context, bodiless: head.method == .HEAD)
            }
            // Usually already on the loop (the task prefers it); after an actor it may not be.
            if eventLoop.inEventLoop { answer() } else { eventLoop.execute(answer) }
        }
        // Unless it was answered without waiting (and the next pipelined request may have been
        // dispatched meanwhile): then there is nothing left to cancel.
        if dispatched == generation, case .responding = state { responseTask = task }
    }

    /// Answers early with an error and drops the rest of the request.
    private func refuse(_ error: APIError, context: ChannelHandlerContext, version: HTTPVersion) {
        timeout?.cancel()
        state = .discarding
        let response = error.response
        finished(response)
        write(response, version: version, keepAlive: false, context: context)
    }

    /// A request was answered: its metrics and access-log line.
    private func finished(_ response: APIResponse) {
        current.finished(response, logger: logger, accessLog: accessLog)
    }

    /// `counted`: whether this response ends a request the shutdown tracker counts (a stream's
    /// final response does not: its request stopped counting when the stream began).
    /// `bodiless`: a HEAD request's answer — the headers of the GET, Content-Length included, no body.
    private func write(_ response: APIResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext, counted: Bool = true,
                       bodiless: Bool = false) {
        if bodiless, response.stream != nil || response.serverPush != nil {
            write(APIResponse(status: response.status, headers: response.headers), version: version, keepAlive: keepAlive, context: context,
                  counted: counted, bodiless: true)
            return
        }
        if let stream = response.stream {
            writeStreaming(response, stream, version: version, context: context)
            return
        }
        if let pushes = response.serverPush, isHTTP2 {
            writeServerPushes(response, pushes, version: version, context: context)
            return
        }
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        let close = !isHTTP2 && !keepAlive
        if close { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        if response.body.readableBytes > 0, !bodiless {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        // Idle before the end goes out: writing it lets HTTPServerPipelineHandler hand over the
        // next pipelined request at once, re-entering channelRead (RFC 9112 §9.3.2: answer in order).
        if case .responding = state { state = .idle }
        setActive(false)
        let tracker = self.tracker
        let channel = context.channel
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        written.whenComplete { _ in
            if counted { tracker.end() }
            if close { channel.close(promise: nil) }
        }
        if isHTTP2, response.body.readableBytes > 0, !bodiless { resetIfNotTaken(written, channel: channel) }
    }

    /// A body the client does not take — its stream's flow-control window kept at zero — would
    /// hold the stream and its buffered bytes forever: reset the stream when the write has not
    /// completed within `server.request_timeout_seconds`. (On HTTP/1.1 the unread connection goes
    /// idle and is closed.)
    private func resetIfNotTaken(_ written: EventLoopFuture<Void>, channel: any Channel) {
        let deadline = channel.eventLoop.scheduleTask(in: limits.requestTimeout) {
            PushgateMetrics.responsesNotTaken.increment()
            channel.close(promise: nil)
        }
        written.whenComplete { _ in deadline.cancel() }
    }

    /// The head now (no Content-Length: chunked on HTTP/1.1, DATA frames on HTTP/2), then each
    /// chunk as it comes, until the stream ends or the connection goes. A stream does not hold
    /// up graceful shutdown (it is no longer counted by the tracker once its head is out), but it
    /// keeps its connection from being closed as idle.
    private func writeStreaming(_ response: APIResponse, _ stream: ResponseStream, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = response.headers
        headers.remove(name: "Content-Length")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        tracker.end()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        streaming = Task {
            for await chunk in stream.chunks {
                let written = eventLoop.flatSubmit {
                    let (handler, context) = loopBound.value
                    let written = context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(chunk.bytes))))
                    if handler.isHTTP2 { handler.resetIfNotTaken(written, channel: context.channel) }
                    return written
                }
                guard (try? await written.get()) != nil else { return }
                let recorded = chunk.written
                await Task { await recorded() }.value  // recorded even if the client just went
            }
            eventLoop.execute {
                let (handler, context) = loopBound.value
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                handler.setActive(false)
                handler.state = .idle
            }
        }
    }

    /// Each push as it comes: a PUSH_PROMISE on this stream for a `GET` of its path, then the
    /// promised stream's response, both written straight to the connection below the stream
    /// multiplexer, which cannot name a promised stream before it is written (stream ids of
    /// pushes come from this connection's ``ConnectionActivity``). When the pushes end, the
    /// response itself. Like a streamed body, it keeps the connection from being idle and does
    /// not hold up shutdown.
    private func writeServerPushes(_ response: APIResponse, _ pushes: ServerPushStream, version: HTTPVersion, context: ChannelHandlerContext) {
        tracker.end()
        guard let parent = context.channel.parent,
              let streamID = try? context.channel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)
        else {
            write(APIResponse(status: response.status, headers: response.headers, body: response.body), version: version, keepAlive: true,
                  context: context, counted: false)
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let activity = self.activity
        streaming = Task {
            for await push in pushes.pushes {
                let written = eventLoop.flatSubmit {
                    let promised = activity.nextPushStreamID()
                    let request: HPACKHeaders = [":method": "GET", ":scheme": push.scheme, ":authority": push.authority, ":path": push.path]
                    parent.write(HTTP2Frame(streamID: streamID, payload: .pushPromise(.init(pushedStreamID: promised, headers: request))), promise: nil)
                    let headers: HPACKHeaders = [":status": String(push.status.code)]
                    return parent.writeAndFlush(HTTP2Frame(streamID: promised, payload: .headers(.init(headers: headers, endStream: true))))
                }
                guard (try? await written.get()) != nil else { break }
                let recorded = push.written
                await Task { await recorded() }.value  // recorded even if the client just went
            }
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.write(APIResponse(status: response.status, headers: response.headers, body: response.body),
                              version: version, keepAlive: true, context: context, counted: false)
            }
        }
    }

    private func setActive(_ now: Bool) {
        guard now != active else { return }
        active = now
        activity.requestsInFlight += now ? 1 : -1
        if now { activity.requestsStarted += 1 }
    }

    /// A request that cannot be parsed ends the connection: NIO's protocol error handler has
    /// already answered 400 with `Connection: close`, and nothing closes the connection after it
    /// (it used to stay open until the idle timeout).
    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            context.close(promise: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    /// The connection (or stream) went: a request in progress is settled by its state.
    package func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        streaming?.cancel()
        switch state {
        case .receiving:
            tracker.end()
        case .complete:
            PushgateMetrics.requestsAbandoned.increment()  // reset before it ran
            tracker.end()
        case .responding where responseTask != nil:
            abandoned = true
            responseTask?.cancel()  // counted as abandoned when it finishes
            tracker.end()
        case .idle, .discarding, .responding:
            break
        }
        setActive(false)
        state = .idle
        context.fireChannelInactive()
    }
}

/// What is going on on one connection, shared by the handlers of its streams (all on its event
/// loop): a connection with a request in flight — waiting for the broker, or a long-lived stream —
/// is not idle.
package final class ConnectionActivity: @unchecked Sendable {
    /// Requests received and not yet fully answered. Only touched on the connection's event loop.
    var requestsInFlight = 0
    /// Responses being computed for this connection, including those of requests the client
    /// has since reset (until their cancellation lands): the work it has caused. ``ReadGate``
    /// stops reading while it is at ``workLimit``.
    private(set) var work = 0
    /// The most work one connection may cause before its reads pause.
    let workLimit: Int
    /// Called (on the event loop) when work drops below the limit again.
    var onWorkBelowLimit: (() -> Void)?

    /// A connection that may cause at most `workLimit` requests of work at once.
    package init(workLimit: Int = ServerConfig.Defaults.maxConcurrentStreams) { self.workLimit = max(1, workLimit) }

    func workStarted() { work += 1 }

    func workFinished() {
        work -= 1
        if work == workLimit - 1 { onWorkBelowLimit?() }
    }

    /// Requests completed during the connection's current read, started after it (HTTP/2).
    private var completedInRead: [(handler: RequestHandler, context: ChannelHandlerContext)] = []

    /// Starts `handler`'s completed request once the connection's current read has been fully
    /// processed — after the stream closures its frames caused — so that a request reset in the
    /// same read (the rapid reset pattern: HEADERS, DATA, RST_STREAM back to back) never starts.
    func dispatchAfterRead(_ handler: RequestHandler, context: ChannelHandlerContext) {
        completedInRead.append((handler, context))
    }

    /// Called by ``DispatchAfterRead`` at the end of a read: the requests it completed, to start
    /// on the next event-loop turn.
    func takeCompletedInRead() -> [(handler: RequestHandler, context: ChannelHandlerContext)] {
        defer { completedInRead = [] }
        return completedInRead
    }

    /// Runs this connection's request tasks on its event loop (made at the first request).
    private var executor: EventLoopTaskExecutor?

    /// The task executor of requests on this connection, whose event loop is `eventLoop`.
    func taskExecutor(on eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        if let executor { return executor }
        let made = EventLoopTaskExecutor(eventLoop)
        executor = made
        return made
    }

    /// Whether the connection's protocol (HTTP/1.1 or HTTP/2) has been chosen and configured.
    var protocolChosen = false
    /// Request heads received so far (``HeaderDeadline`` watches it move).
    var requestsStarted = 0
    /// The stream id the next server push is promised on (even, increasing: RFC 9113 §5.1.1).
    private var nextPushStream: Int32 = 2

    /// A new promised stream id. Only called on the connection's event loop.
    func nextPushStreamID() -> HTTP2StreamID {
        defer { nextPushStream += 2 }
        return HTTP2StreamID(nextPushStream)
    }
}

/// Counts requests in progress, so shutdown can wait for them.
package final class RequestTracker: Sendable {
    private let count = NIOLockedValueBox(0)

    /// A tracker with nothing in progress.
    package init() {}

    func begin() { count.withLockedValue { $0 += 1 } }
    func end() { count.withLockedValue { $0 = max(0, $0 - 1) } }
    var inFlight: Int { count.withLockedValue { $0 } }
}
