import NIOCore

/// At the end of each read of an HTTP/2 connection, starts the requests the read completed — on
/// the next event-loop turn, so that everything the read caused (streams reset and closed by
/// the frames that followed) has happened first. See ``ConnectionActivity/dispatchAfterRead(_:)``.
/// Sits after the HTTP/2 handler, which has processed every frame of the read by then.
final class DispatchAfterRead: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let activity: ConnectionActivity

    init(activity: ConnectionActivity) { self.activity = activity }

    func channelReadComplete(context: ChannelHandlerContext) {
        let completed = activity.takeCompletedInRead()
        if !completed.isEmpty {
            let batch = NIOLoopBound(completed, eventLoop: context.eventLoop)
            context.eventLoop.execute {
                for (handler, context) in batch.value { handler.dispatchCompleted(context: context) }
            }
        }
        context.fireChannelReadComplete()
    }
}
