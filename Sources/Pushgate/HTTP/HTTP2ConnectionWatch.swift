import NIOCore

/// Sits under the HTTP/2 handler and enforces two things it leaves to its pipeline:
///
/// - **Close after an error GOAWAY** (RFC 9113 §5.4.1). On a connection error the handler writes
///   GOAWAY and reports the error, but the TCP connection stayed open until the idle timeout —
///   forever if the peer kept sending PINGs. The close waits for the GOAWAY's own write to
///   complete (flushes are coalesced: closing at once would discard it), or at most one second
///   for a peer that does not read.
/// - **A header block must complete in time.** HEADERS without END_HEADERS followed by
///   CONTINUATION frames trickled in keep a connection busy without ever making a request; the
///   block must end within `server.request_timeout_seconds` of its first frame.
final class HTTP2ConnectionWatch: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private static let headersType: UInt8 = 0x1, continuationType: UInt8 = 0x9, endHeaders: UInt8 = 0x4

    private var inbound = HTTP2FrameScanner(skipping: 24)  // the client connection preface
    private var outbound = HTTP2FrameScanner()
    private let headerTimeout: TimeAmount
    private var headerDeadline: Scheduled<Void>?
    private var closing = false

    init(headerTimeout: TimeAmount) { self.headerTimeout = headerTimeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var blockOpened = false, blockEnded = false
        inbound.scan(buffer) { event in
            guard case .frame(let header) = event, header.type == Self.headersType || header.type == Self.continuationType else { return }
            if header.flags & Self.endHeaders != 0 {
                blockEnded = true
                blockOpened = false
            } else {
                blockOpened = true
            }
        }
        if blockEnded, !blockOpened {
            headerDeadline?.cancel()
            headerDeadline = nil
        }
        if blockOpened, headerDeadline == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            headerDeadline = context.eventLoop.scheduleTask(in: headerTimeout) {
                loopBound.value.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var sawErrorGoAway = false
        if case .byteBuffer(let buffer) = unwrapOutboundIn(data) {
            outbound.scan(buffer) { event in
                if case .goAway(let code) = event, code != 0 { sawErrorGoAway = true }
            }
        }
        guard sawErrorGoAway, !closing else {
            context.write(data, promise: promise)
            return
        }
        closing = true
        PushgateMetrics.connectionErrors.increment()
        let written = promise ?? context.eventLoop.makePromise()
        context.write(data, promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        headerDeadline?.cancel()
        headerDeadline = nil
        context.fireChannelInactive()
    }
}
