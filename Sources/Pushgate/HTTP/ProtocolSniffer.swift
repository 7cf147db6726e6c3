import NIOCore

/// Serves cleartext HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: compares the
/// first bytes of a connection with the HTTP/2 connection preface, then configures the matching
/// pipeline and steps aside. (swift-nio-http2 has no such sniffer and no h2c upgrade.)
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4).
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Kind { case http1, http2 }

    private var buffered: ByteBuffer?
    private let configure: (Kind, any Channel) throws -> Void

    /// `configure` adds the pipeline for the detected protocol (after this handler).
    init(configure: @escaping (Kind, any Channel) throws -> Void) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        let bytes = buffered!.readableBytesView
        let compared = min(bytes.count, Self.preface.count)
        let kind: Kind
        if !bytes.prefix(compared).elementsEqual(Self.preface.prefix(compared)) {
            kind = .http1
        } else if compared == Self.preface.count {
            kind = .http2
        } else {
            return  // a prefix of the preface so far: wait for more bytes
        }
        do {
            try configure(kind, context.channel)
        } catch {
            context.close(promise: nil)
            return
        }
        let data = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(data))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
