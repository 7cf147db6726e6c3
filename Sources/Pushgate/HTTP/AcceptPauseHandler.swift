import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pauses accepting for a while when `accept(2)` fails for lack of resources (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM), instead of spinning.
///
/// Why not NIO's `AcceptBackoffHandler`: on a failed accept the server channel keeps its read
/// pending and stays registered for readability, so no new `read()` ever passes through the
/// pipeline for that handler to delay, and the event loop spins at 100 % CPU retrying the
/// accept (seen with strace on swift-nio 2.101). Turning `autoRead` off unregisters the
/// listening socket from epoll for real; turning it back on re-arms it.
final class AcceptPauseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let pause: TimeAmount
    private let logger: Logger
    private var paused = false
    /// The error line at most every 10 s.
    private let reports = LogThrottle()

    /// - Parameters:
    ///   - pause: how long to stop accepting after a failure.
    ///   - logger: where the (rate-limited, once per 10 s) error goes.
    init(pause: TimeAmount = .milliseconds(100), logger: Logger) {
        self.pause = pause
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let ioError = error as? IOError, Self.isResourceShortage(ioError) else {
            context.fireErrorCaught(error)
            return
        }
        report(ioError)
        guard !paused, let options = context.channel.syncOptions else { return }
        paused = true
        try? options.setOption(.autoRead, value: false)
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: pause) { [self] in
            paused = false
            guard channel.isActive else { return }
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    static func isResourceShortage(_ error: IOError) -> Bool {
        switch error.errnoCode {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: return true
        default: return false
        }
    }

    private func report(_ error: IOError) {
        guard reports.admit() != nil else { return }
        logger.error("http: cannot accept connections; pausing accepts for \(pause.nanoseconds / 1_000_000) ms at a time",
                     metadata: ["error": "\(error)",
                                "hint": "raise the file descriptor limit (ulimit -n, LimitNOFILE) or lower server.max_connections"])
    }
}
