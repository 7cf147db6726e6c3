import NIOCore

/// Pushes back on a connection that causes more work than it may: while its responses being
/// computed (``ConnectionActivity/work``, reset requests included until their cancellation
/// lands) are at the limit, the connection is not read — the client's bytes wait in its own
/// socket buffer instead of becoming tasks and queued publishes in Pushgate's memory. Reading
/// resumes when the work drops below the limit.
///
/// HTTP/2's `SETTINGS_MAX_CONCURRENT_STREAMS` does not bound this by itself: a stream the client
/// resets stops counting as concurrent at once, while its request is already running.
final class ReadGate: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let activity: ConnectionActivity
    /// A read was asked for while the gate was shut; issued when it opens.
    private var readPending = false

    init(activity: ConnectionActivity) { self.activity = activity }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        activity.onWorkBelowLimit = {
            let (gate, context) = loopBound.value
            guard gate.readPending else { return }
            gate.readPending = false
            context.read()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        activity.onWorkBelowLimit = nil
    }

    func read(context: ChannelHandlerContext) {
        if activity.work >= activity.workLimit {
            if !readPending { PushgateMetrics.readsPaused.increment() }
            readPending = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        activity.onWorkBelowLimit = nil
        context.fireChannelInactive()
    }
}
