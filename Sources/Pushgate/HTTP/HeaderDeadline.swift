import NIOCore

/// Closes an HTTP/1.1 connection whose request head does not arrive in time: from the first
/// byte of a request (while none is in progress) the head must be complete within
/// `server.request_timeout_seconds`. Against slowloris — a client sending one header byte every
/// few seconds resets the idle timeout forever, and the body deadline only starts once the head
/// is in. It sits in front of the HTTP decoder and sees raw bytes.
final class HeaderDeadline: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let activity: ConnectionActivity
    private let timeout: TimeAmount
    private var armed: Scheduled<Void>?

    init(activity: ConnectionActivity, timeout: TimeAmount) {
        self.activity = activity
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if armed == nil, activity.requestsInFlight == 0 {
            let startedBefore = activity.requestsStarted
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            armed = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.armed = nil
                // No head completed since the bytes began: the request is being trickled in.
                if handler.activity.requestsStarted == startedBefore { context.close(promise: nil) }
            }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A head that arrived during this read settles the deadline.
        if let armed, activity.requestsInFlight > 0 {
            armed.cancel()
            self.armed = nil
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        armed?.cancel()
        armed = nil
        context.fireChannelInactive()
    }
}
