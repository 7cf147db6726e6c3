import Logging
import NIOCore
import NIOHTTP1

/// What is logged and counted of one request: its route label (a row of the route table, never
/// the path: paths hold capability tokens), method and start; ``finished(_:)`` records the
/// answer. Shared by ``RequestHandler`` and ``HTTP2RequestStreams``.
struct RequestRecord {
    /// The route label; `-` until the request is matched.
    var route = "-"
    var method: HTTPMethod
    var started: NIODeadline

    init(method: HTTPMethod, started: NIODeadline = .now()) {
        self.method = method
        self.started = started
    }

    /// The request was answered: its metrics, and its access-log line (at info with
    /// `logging.access_log`, otherwise at debug) — route, status, errno, duration.
    func finished(_ response: APIResponse, logger: Logger, accessLog: Bool) {
        let nanoseconds = (NIODeadline.now() - started).nanoseconds
        PushgateMetrics.requestFinished(route: route, status: response.status.code, errno: response.errno, nanoseconds: nanoseconds)
        logger.log(level: accessLog ? .info : .debug, "request", metadata: [
            "route": "\(route)", "method": "\(method.rawValue)", "status": "\(response.status.code)",
            "errno": "\(response.errno.map(String.init) ?? "-")", "ms": "\(Double(nanoseconds / 10_000) / 100)",
        ])
    }
}
