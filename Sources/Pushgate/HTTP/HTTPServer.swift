public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
public import ServiceLifecycle

/// The HTTP front end: HTTP/2 and HTTP/1.1 over TLS (chosen by ALPN) when `server.tls` is set;
/// otherwise cleartext HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same port.
///
/// ``start()`` binds (so a busy port fails before anything else starts); as a `Service`,
/// ``run()`` serves until graceful shutdown, then stops accepting and drains.
public final class HTTPServer: Service, Sendable {
    private let config: ServerConfig
    private let limits: RequestLimits
    private let responder: any HTTPResponder
    private let logger: Logger
    private let group: any EventLoopGroup
    private let tracker = RequestTracker()
    private let state = NIOLockedValueBox<(server: (any Channel)?, connections: [ObjectIdentifier: any Channel])>((nil, [:]))

    /// Whether every request gets an access-log line (at info).
    private let accessLog: Bool

    /// Creates a server answering through `responder` with the `server` settings; `accessLog`:
    /// one line per request at info (`logging.access_log`).
    public init(config: ServerConfig, responder: any HTTPResponder, logger: Logger = Logger(label: "pushgate.http"),
                accessLog: Bool = true, group: (any EventLoopGroup)? = nil) {
        self.config = config
        self.accessLog = accessLog
        self.limits = RequestLimits(maxHeaderBytes: config.maxHeaderBytes, requestTimeout: .seconds(Int64(config.requestTimeoutSeconds)))
        self.responder = responder
        self.logger = logger
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    /// The TLS context new connections get; replaced by ``reloadTLS()`` (connections already
    /// open keep the one they started with).
    private let tlsContext = NIOLockedValueBox<NIOSSLContext?>(nil)

    /// The server's TLS context from its PEM files: TLS 1.2 at least (1.0 and 1.1 are refused),
    /// ALPN `h2` then `http/1.1`.
    static func makeTLSContext(_ tls: ServerConfig.TLSFiles) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.privateKey, format: .pem))
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2", "http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }

    /// Loads the certificate and key as ``start()`` would (BoringSSL refuses a key that does not
    /// belong to the certificate), for `check-config`.
    public static func checkTLS(_ tls: ServerConfig.TLSFiles) throws {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tls.certificate)
        } catch {
            throw TLSFilesProblem("the certificate \(tls.certificate) does not load as PEM (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFilesProblem("\(tls.certificate) holds no certificate") }
        do {
            _ = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        } catch {
            throw TLSFilesProblem("the private key \(tls.privateKey) does not load as PEM (\(error))")
        }
        do {
            _ = try makeTLSContext(tls)
        } catch {
            throw TLSFilesProblem("the private key \(tls.privateKey) does not belong to the certificate \(tls.certificate) (\(error))")
        }
    }

    /// The TLS files do not make a usable pair.
    struct TLSFilesProblem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Re-reads the certificate and key (SIGHUP): new connections are served with them, open
    /// ones keep theirs. Throws, changing nothing, when the files do not load.
    public func reloadTLS(_ tls: ServerConfig.TLSFiles) throws {
        guard tlsContext.withLockedValue({ $0 }) != nil else { return }
        let context = try Self.makeTLSContext(tls)
        tlsContext.withLockedValue { $0 = context }
    }

    /// Binds and starts accepting; returns the bound address (useful with port 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let context = try config.tls.map(Self.makeTLSContext)
        tlsContext.withLockedValue { $0 = context }
        let tlsContext = self.tlsContext
        let logger = self.logger
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            // Out of file descriptors (EMFILE), accept fails at once and the loop would spin at
            // 100 % CPU: stop accepting for 100 ms at a time, and say so (at most every 10 s).
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler(logger: logger))
                }
            }
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try initialize(channel, sslContext: tlsContext.withLockedValue { $0 })
                }
            }
            .bind(host: config.listen.host, port: config.listen.port)
            .get()
        state.withLockedValue { $0.server = server }
        return server.localAddress!
    }

    /// Serves until graceful shutdown (or cancellation), then ``shutdown(deadline:)``.
    public func run() async throws {
        let (stop, continuation) = AsyncStream.makeStream(of: Void.self)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await _ in stop {}
            } onGracefulShutdown: {
                continuation.finish()
            }
        } onCancel: {
            continuation.finish()
        }
        await shutdown()
    }

    /// Stops accepting, then drains: every connection is asked to quiesce — HTTP/2 ones get
    /// GOAWAY (the two-step graceful form: new streams are refused, open ones finish), HTTP/1.1
    /// ones close after the response in progress (idle ones at once) — and each closes when its
    /// last request is answered. Whatever is still open at `deadline` is closed.
    public func shutdown(deadline: Duration = .seconds(10)) async {
        let server = state.withLockedValue { $0.server }
        try? await server?.close()
        let end = ContinuousClock.now + deadline
        for connection in state.withLockedValue({ Array($0.connections.values) }) {
            connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        while openConnections > 0 || tracker.inFlight > 0, ContinuousClock.now < end {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let connections = state.withLockedValue { Array($0.connections.values) }
        if !connections.isEmpty {
            logger.warning("http: closing connections still open at the shutdown deadline", metadata: ["connections": "\(connections.count)"])
        }
        for connection in connections { try? await connection.close() }
    }

    // MARK: Pipelines

    private func initialize(_ channel: any Channel, sslContext: NIOSSLContext?) throws {
        guard track(channel) else {
            // Over server.max_connections: closed at once, before it costs more than its descriptor.
            channel.close(promise: nil)
            return
        }
        let sync = channel.pipeline.syncOperations
        let activity = ConnectionActivity(workLimit: Int(config.maxConcurrentStreams))
        try sync.addHandler(ReadGate(activity: activity))
        try sync.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(config.idleTimeoutSeconds))))
        try sync.addHandler(IdleCloser(activity: activity))
        if let sslContext {
            try sync.addHandler(NIOSSLServerHandler(context: sslContext))
            try sync.addHandler(ApplicationProtocolNegotiationHandler { [self] result in
                channel.eventLoop.makeCompletedFuture {
                    switch result {
                    case .negotiated("h2"): try configureHTTP2(channel, activity: activity)
                    default: try configureHTTP1(channel, activity: activity)
                    }
                }
            })
        } else {
            try sync.addHandler(ProtocolSniffer { [self] kind, channel in
                switch kind {
                case .http2: try configureHTTP2(channel, activity: activity)
                case .http1: try configureHTTP1(channel, activity: activity)
                }
            })
        }
    }

    private func configureHTTP1(_ channel: any Channel, activity: ConnectionActivity) throws {
        activity.protocolChosen = true
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HeaderDeadline(activity: activity, timeout: limits.requestTimeout))
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try sync.addHandler(RequestHandler(responder: responder, limits: limits, isHTTP2: false, tracker: tracker, activity: activity, logger: logger,
                                           accessLog: accessLog))
    }

    private func configureHTTP2(_ channel: any Channel, activity: ConnectionActivity) throws {
        activity.protocolChosen = true
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: config.maxConcurrentStreams),
            // The HPACK decoder treats a header block over this as a connection error, which
            // would end every stream on the connection. Advertise (and decode up to) 4× the
            // per-request limit, at least 64 KiB, so one oversized request gets its own 431
            // (RFC 9113 §10.5.1) and only a block past this ceiling ends the connection (the
            // bound against header bombs).
            HTTP2Setting(parameter: .maxHeaderListSize, value: max(4 * config.maxHeaderBytes, 65_536)),
            HTTP2Setting(parameter: .initialWindowSize, value: 65_535),
        ]
        // The connection window bounds the bodies of all streams together. At the default 64 KiB a
        // sender with 64 concurrent 4 KiB pushes stalls on WINDOW_UPDATE round trips (and each
        // update is another frame); 1 MiB lets the advertised streams all send at once, and a
        // request body is still bounded per stream by the payload limit.
        connection.targetWindowSize = 1 << 20
        // A push client has no reason to reset streams in bulk; each reset stream's request may
        // already be running (CVE-2023-44487), so a connection gets GOAWAY (and is closed) after
        // 50 resets in 30 s instead of NIO's 200.
        var streams = NIOHTTP2Handler.StreamConfiguration()
        streams.streamResetFrameRateLimit.maximumCount = 50
        let responder = self.responder, limits = self.limits, tracker = self.tracker, logger = self.logger, accessLog = self.accessLog
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(FlushCoalescer())
        try sync.addHandler(HTTP2ConnectionWatch(headerTimeout: limits.requestTimeout))
        // Graceful shutdown (ChannelShouldQuiesceEvent): GOAWAY, PING, GOAWAY with the last
        // stream, close when the streams are done. The grace deadline is HTTPServer.shutdown's.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: nil, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        try sync.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: connection, streamConfiguration: streams))
        // Every request but GET and HEAD is served from the frames (HTTP2RequestStreams); the
        // rest — the receipt stream among them — each get a stream channel from the multiplexer.
        try sync.addHandler(HTTP2RequestStreams(responder: responder, limits: limits, tracker: tracker, activity: activity, logger: logger,
                                                accessLog: accessLog))
        try sync.addHandler(HTTP2StreamMultiplexer(mode: .server, channel: channel, targetWindowSize: connection.targetWindowSize) { stream in
            PushgateMetrics.http2Streams.increment()
            return stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(
                    RequestHandler(responder: responder, limits: limits, isHTTP2: true, tracker: tracker, activity: activity, logger: logger,
                                   accessLog: accessLog))
            }
        })
        try sync.addHandler(manager)
        try sync.addHandler(DispatchAfterRead(activity: activity))
        try sync.addHandler(ConnectionErrorLogger(logger: logger))
    }

    /// Connections open now.
    public var openConnections: Int { state.withLockedValue { $0.connections.count } }

    /// Registers a new connection; `false` when `server.max_connections` are open already.
    private func track(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLockedValue { state in
            guard state.connections.count < config.maxConnections else { return false }
            state.connections[id] = channel
            return true
        }
        guard admitted else {
            PushgateMetrics.connectionsRefused.increment()
            return false
        }
        PushgateMetrics.connectionsAccepted.increment()
        channel.closeFuture.whenComplete { [state] _ in
            state.withLockedValue { _ = $0.connections.removeValue(forKey: id) }
        }
        return true
    }
}

/// Closes a connection that has been idle past the read timeout: nothing read, and no request in
/// flight (one waiting for the broker, or a long-lived stream, is not idleness).
private final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let activity: ConnectionActivity

    init(activity: ConnectionActivity) { self.activity = activity }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if activity.requestsInFlight == 0 { context.close(promise: nil) }
        } else if event is ChannelShouldQuiesceEvent, !activity.protocolChosen {
            // Shutting down, and no request could have started here yet (no protocol chosen:
            // TLS handshake or first bytes pending): nothing to drain, nobody to tell.
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
