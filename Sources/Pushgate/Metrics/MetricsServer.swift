public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
import NIOPosix
public import Prometheus
public import ServiceLifecycle

/// `GET /metrics` on `metrics.listen`: the Prometheus text exposition of everything swift-metrics
/// collected. A listener of its own, so the public port never exposes it. A Service: bound by
/// ``start()`` before anything touches the broker, closed at graceful shutdown.
public final class MetricsServer: Service, Sendable {
    private let address: HostAndPort
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    /// A server for `registry` on `address`.
    public init(address: HostAndPort, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.address = address
        self.registry = registry
        self.logger = logger
    }

    /// Binds; returns the bound address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let registry = self.registry
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsRequestHandler(registry: registry))
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        channel.withLockedValue { $0 = server }
        return server.localAddress!
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await channel.withLockedValue { $0 }?.close()
    }
}

/// Answers `GET /metrics` (and `HEAD`) with the exposition; anything else 404.
private final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var body = context.channel.allocator.buffer(capacity: 0)
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        if path == "/metrics", head.method == .GET || head.method == .HEAD {
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            body.writeBytes(bytes)
            status = .ok
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        } else {
            body.writeString("not found: metrics are at GET /metrics\n")
            status = .notFound
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
