import NIOCore

/// Merges the flushes of one event-loop tick into one.
///
/// Responses finish on their own (each when the broker acknowledged its publish), so every
/// HTTP/2 stream flushes separately, and without this each one became its own `write` system
/// call on the connection. Placed under the HTTP/2 handler, a flush is deferred to the end of the
/// current batch of event-loop tasks: the responses completed in that batch leave in one write.
/// The cost is at most one loop iteration of latency.
final class FlushCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var flushPending = false

    func flush(context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushPending = false
            context.flush()
        }
    }
}
