package import Logging
package import NIOCore
import NIOHPACK
import NIOHTTP1
package import NIOHTTP2

/// Serves an HTTP/2 connection's requests straight from its frames — pushes, subscribes,
/// acknowledgements, list changes: every method but `GET` and `HEAD` — without a stream channel
/// and an HTTP/1 codec per request.
///
/// Per stream, NIO's multiplexer builds a child channel with its own pipeline, and the codec turns
/// HPACK headers into HTTP/1 parts and back; in the push profile that machinery cost more than the
/// whole application. Here a stream is an entry in a dictionary: HEADERS start it, DATA fill its
/// bounded body, END_STREAM completes it, and the answer goes out as HEADERS (and DATA for a body).
/// `GET` and `HEAD` streams — among them the long-lived receipt stream, which answers with server
/// pushes or a streamed body — pass on to the stream multiplexer after this handler.
///
/// The rules are ``RequestHandler``'s: the header limit (431), the route's body limit (413, as soon
/// as it is known), the request timeout (408), a request starts only after the read that completed
/// it (a RST_STREAM in the same read cancels it before it costs anything), a reset or a closed
/// connection cancels a running request, and an error body the client does not take resets its
/// stream after the request timeout.
package final class HTTP2RequestStreams: ChannelDuplexHandler {
    package typealias InboundIn = HTTP2Frame
    package typealias InboundOut = HTTP2Frame
    package typealias OutboundIn = HTTP2Frame
    package typealias OutboundOut = HTTP2Frame

    private enum State {
        case receiving
        /// Complete; started once the read that completed it has been processed.
        case complete
        /// Answered early (413, 431, 408); the rest of the request is dropped.
        case discarding
        /// Waiting for the service.
        case responding
        /// Answered.
        case answered
    }

    /// A class, not a struct: every change to a struct held in the dictionary went through its
    /// `modify` accessor, whose coroutine frame (holding a whole `Stream`) was heap-allocated —
    /// a malloc for each of the five or so changes of a request, against one object per stream.
    private final class Stream {
        var state = State.receiving
        let method: HTTPMethod
        let path: String
        let headers: HTTPHeaders
        let route: MatchedRoute
        var body: ByteBuffer
        var record: RequestRecord
        var timeout: Scheduled<Void>?
        var task: Task<Void, Never>?
        /// DATA bytes received and not yet returned to the client's stream window.
        var unannouncedBytes = 0

        init(method: HTTPMethod, path: String, headers: HTTPHeaders, route: MatchedRoute, body: ByteBuffer, record: RequestRecord) {
            self.method = method
            self.path = path
            self.headers = headers
            self.route = route
            self.body = body
            self.record = record
        }
    }

    private let responder: any HTTPResponder
    private let limits: RequestLimits
    private let tracker: RequestTracker
    private let activity: ConnectionActivity
    private let logger: Logger
    private let accessLog: Bool

    private var streams: [HTTP2StreamID: Stream] = [:]
    /// The highest client stream id seen: a HEADERS frame on a stream id at or below it is not a
    /// new request (trailers of a multiplexed stream, or a stream already closed).
    private var highestStreamID = HTTP2StreamID(0)
    /// Streams completed during the current read, started after it.
    private var completedInRead: [HTTP2StreamID] = []
    /// Streams begun during the current read (their timeouts start after it).
    private var startedInRead: [HTTP2StreamID] = []

    /// The request streams of one connection, answered by `responder`'s routes; `activity` is the
    /// connection's (shared with its stream channels), `accessLog` as `logging.access_log`.
    package init(responder: any HTTPResponder, limits: RequestLimits, tracker: RequestTracker, activity: ConnectionActivity, logger: Logger,
                 accessLog: Bool) {
        self.responder = responder
        self.limits = limits
        self.tracker = tracker
        self.activity = activity
        self.logger = logger
        self.accessLog = accessLog
    }

    // MARK: Inbound

    /// A frame: taken if it belongs to a request served here (or begins one), passed on otherwise.
    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        if streams[id] != nil {
            receive(frame.payload, on: id, context: context)
            return
        }
        guard case .headers(let headers) = frame.payload, id > highestStreamID else {
            context.fireChannelRead(data)
            return
        }
        highestStreamID = id
        let method = headers.headers.first(name: ":method").map { HTTPMethod(rawValue: $0) } ?? .GET
        guard method != .GET, method != .HEAD else {
            context.fireChannelRead(data)  // the multiplexer's
            return
        }
        start(id, method: method, headers: headers, context: context)
    }

    /// A new request's HEADERS frame.
    private func start(_ id: HTTP2StreamID, method: HTTPMethod, headers frame: HTTP2Frame.FramePayload.Headers, context: ChannelHandlerContext) {
        PushgateMetrics.http2Streams.increment()
        tracker.begin()
        activity.requestsInFlight += 1
        activity.requestsStarted += 1
        var path = "/"
        var headers = HTTPHeaders()
        headers.reserveCapacity(frame.headers.count)
        var headerBytes = 0
        for (name, value, _) in frame.headers {
            headerBytes += name.utf8.count + value.utf8.count + 4
            switch name {
            case ":path": path = RequestHandler.path(of: value)
            case ":authority": headers.add(name: "host", value: value)
            case ":method", ":scheme": break
            default: headers.add(name: name, value: value)
            }
        }
        let route = responder.match(method: method, path: path)
        var record = RequestRecord(method: method)
        record.route = route.label
        let declared = headers.first(name: "content-length").flatMap { Int($0) }
        streams[id] = Stream(method: method, path: path, headers: headers, route: route,
                             body: context.channel.allocator.buffer(capacity: min(declared ?? 0, route.bodyLimit)), record: record)
        if headerBytes > limits.maxHeaderBytes {
            refuse(id, .headersTooLarge, requestEnded: frame.endStream, context: context)
        } else if let declared, declared > route.bodyLimit {
            refuse(id, .payloadTooLarge(route.bodyLimit), requestEnded: frame.endStream, context: context)
        } else if frame.endStream {
            completed(id)
        } else {
            startedInRead.append(id)
        }
    }

    /// The request timeout of a stream whose body did not complete in the read that started it.
    /// (A push's HEADERS and DATA nearly always come in one read: no timer for those.)
    private func startTimeout(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard case .receiving = streams[id]?.state else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        streams[id]?.timeout = context.eventLoop.scheduleTask(in: limits.requestTimeout) {
            let (handler, context) = loopBound.value
            if case .receiving = handler.streams[id]?.state { handler.refuse(id, .requestTimeout, requestEnded: false, context: context) }
        }
    }

    /// A frame of a stream this handler serves.
    private func receive(_ payload: HTTP2Frame.FramePayload, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        switch payload {
        case .data(let data):
            guard case .byteBuffer(var chunk) = data.data, case .receiving = streams[id]?.state else { return }
            let limit = streams[id]!.route.bodyLimit
            guard streams[id]!.body.readableBytes + chunk.readableBytes <= limit else {
                refuse(id, .payloadTooLarge(limit), requestEnded: data.endStream, context: context)
                return
            }
            streams[id]!.body.writeBuffer(&chunk)
            giveBackWindow(data.data.readableBytes, on: id, context: context)
            if data.endStream { completed(id) }
        case .headers(let trailers):
            if trailers.endStream, case .receiving = streams[id]?.state { completed(id) }
        case .rstStream:
            break  // the StreamClosedEvent that follows ends it
        default:
            break  // WINDOW_UPDATE and PRIORITY are the HTTP/2 handler's business
        }
    }

    /// The client's stream window is the body limit's business, not flow control's: every byte
    /// received is given back once half the initial window has been received.
    private func giveBackWindow(_ bytes: Int, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        streams[id]!.unannouncedBytes += bytes
        let pending = streams[id]!.unannouncedBytes
        guard pending >= 32_768 else { return }
        streams[id]!.unannouncedBytes = 0
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: pending))), promise: nil)
    }

    private func completed(_ id: HTTP2StreamID) {
        streams[id]?.timeout?.cancel()
        streams[id]?.state = .complete
        completedInRead.append(id)
    }

    /// The read is over: timers for requests it left incomplete, and a start for those it completed.
    package func channelReadComplete(context: ChannelHandlerContext) {
        for id in startedInRead { startTimeout(id, context: context) }
        startedInRead.removeAll(keepingCapacity: true)
        if !completedInRead.isEmpty {
            let ids = completedInRead
            completedInRead = []
            // On the next turn: the stream closures this read caused (RST_STREAM right behind the
            // request, the rapid reset pattern) have happened by then, and those never start.
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                for id in ids { handler.dispatch(id, context: context) }
            }
        }
        context.fireChannelReadComplete()
    }

    /// A stream closed (answered, reset, or its connection failed) releases what it held here.
    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // (Passed on: the multiplexer, and the graceful-shutdown handler that counts open
        // streams, see every stream's events.)
        if let closed = event as? StreamClosedEvent { streamClosed(closed.streamID) }
        context.fireUserInboundEventTriggered(event)
    }

    /// A stream ended (answered, reset, or its connection went): what it still held is released.
    private func streamClosed(_ id: HTTP2StreamID) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.timeout?.cancel()
        switch stream.state {
        case .receiving:
            break
        case .complete:
            PushgateMetrics.requestsAbandoned.increment()  // reset before it ran
        case .responding:
            stream.task?.cancel()  // counted as abandoned when it finishes
        case .discarding, .answered:
            return  // counted out when the answer was written
        }
        tracker.end()
        activity.requestsInFlight -= 1
    }

    /// The connection went: every request still here is released (and a running one cancelled).
    package func channelInactive(context: ChannelHandlerContext) {
        for id in Array(streams.keys) { streamClosed(id) }
        context.fireChannelInactive()
    }

    // MARK: Answering

    private func dispatch(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let stream = streams[id], case .complete = stream.state else { return }
        streams[id]!.state = .responding
        let peer = context.channel.remoteAddress
        let request = APIRequest(method: stream.method, path: stream.path, headers: stream.headers, body: stream.body,
                                 canServerPush: false, remoteAddress: peer?.ipAddress)
        let route = stream.route
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        activity.workStarted()
        // Started immediately: the route runs here, in this turn of the event loop, up to its first
        // wait (the broker's acknowledgement), so the turn's publishes leave together.
        let task = Task.immediate(executorPreference: activity.taskExecutor(on: eventLoop)) {
            let response: APIResponse? = Task.isCancelled ? nil : await route.respond(request)
            let answer: @Sendable () -> Void = {
                let (handler, context) = loopBound.value
                handler.activity.workFinished()
                // Gone (reset, or the connection closed) means nobody waits for the answer.
                guard let response, case .responding = handler.streams[id]?.state else {
                    PushgateMetrics.requestsAbandoned.increment()
                    return
                }
                handler.streams[id]!.task = nil
                handler.answer(id, response, context: context)
            }
            if eventLoop.inEventLoop { answer() } else { eventLoop.execute(answer) }
        }
        // A route that answered without waiting is done already (and its stream may be gone).
        if case .responding = streams[id]?.state { streams[id]!.task = task }
    }

    /// Answers early with an error and drops the rest of the request; `requestEnded`: the client
    /// has sent all of it.
    private func refuse(_ id: HTTP2StreamID, _ error: APIError, requestEnded: Bool, context: ChannelHandlerContext) {
        streams[id]?.timeout?.cancel()
        answer(id, error.response, context: context, early: true, stopSending: !requestEnded)
    }

    private func answer(_ id: HTTP2StreamID, _ response: APIResponse, context: ChannelHandlerContext, early: Bool = false,
                        stopSending: Bool = false) {
        guard let stream = streams[id] else { return }
        stream.record.finished(response, logger: logger, accessLog: accessLog)
        streams[id]!.state = early ? .discarding : .answered
        activity.requestsInFlight -= 1
        // HTTP/2 names are lowercase; the API never sets connection-specific fields.
        var headers = HPACKHeaders()
        headers.reserveCapacity(response.headers.count + 2)
        headers.add(name: ":status", value: String(response.status.code))
        for (name, value) in response.headers where !name.utf8.equalsIgnoringASCIICase("content-length".utf8) {
            headers.add(name: name.lowercased(), value: value)
        }
        headers.add(name: "content-length", value: String(response.body.readableBytes))
        let hasBody = response.body.readableBytes > 0
        let tracker = self.tracker
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in tracker.end() }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: !hasBody)))),
                      promise: hasBody ? nil : written)
        if hasBody {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(response.body), endStream: true)))),
                          promise: written)
            resetIfNotTaken(id, written.futureResult, context: context)
        }
        if stopSending {
            // The request is not complete, and its answer does not need the rest: the client is
            // asked to stop sending (RFC 9113 §8.1), which also ends the stream here.
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.noError))), promise: nil)
        }
        context.flush()
    }

    /// A body the client does not take (its stream window kept at zero) would hold the stream and
    /// its bytes forever: reset the stream when the write has not completed in time.
    private func resetIfNotTaken(_ id: HTTP2StreamID, _ written: EventLoopFuture<Void>, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: limits.requestTimeout) {
            let (handler, context) = loopBound.value
            PushgateMetrics.responsesNotTaken.increment()
            context.writeAndFlush(handler.wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
        }
        written.whenComplete { _ in deadline.cancel() }
    }
}
