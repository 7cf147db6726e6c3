import Logging
import NIOCore

/// The end of an HTTP/2 connection's pipeline: logs (at debug) the errors the HTTP/2 handler
/// reports — the reason behind a GOAWAY or a RST_STREAM — which would otherwise reach the
/// pipeline's tail unseen. The connection itself is closed by ``HTTP2ConnectionWatch``.
final class ConnectionErrorLogger: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("http2: protocol error", metadata: ["error": "\(error)"])
    }
}
