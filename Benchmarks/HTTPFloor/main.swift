import Glibc
import Logging
import NIOCore
import NIOHTTP1
import Pushgate

/// The HTTP layer alone, as `make bench` measures it beside the push runs: Pushgate's own
/// `HTTPServer` (HTTP/2 requests served from their frames, HTTP/1.1 through NIO's codec, a
/// request task per request on its connection's event loop) with a responder that answers every
/// request `201` with a push's response headers — without validating it, looking anything up or
/// publishing it. Its CPU per request under the bench's load is what every push pays before
/// Pushgate does any work of its own: the floor of the push path on swift-nio and
/// swift-nio-http2.
///
///     pushgate-http-floor PORT     (serves on 127.0.0.1:PORT until killed)
struct FloorResponder: HTTPResponder {
    /// A push's answer: 201, Location of the message resource, TTL.
    static let headers = HTTPHeaders([("Location", "http://127.0.0.1/m/AAAAAAAAAAAAAAAAAAAAAA"), ("TTL", "60")])

    func match(method: HTTPMethod, path: String) -> MatchedRoute {
        MatchedRoute(bodyLimit: 4096, label: "POST /p/{push}") { _ in APIResponse(status: .created, headers: Self.headers) }
    }
}

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]) else {
    print("usage: pushgate-http-floor PORT")
    exit(2)
}
var config = ServerConfig(listen: HostAndPort(host: "127.0.0.1", port: port), publicURL: "http://127.0.0.1:\(port)")
config.maxConcurrentStreams = 1000
var logger = Logger(label: "pushgate.http-floor")
logger.logLevel = .warning
let server = HTTPServer(config: config, responder: FloorResponder(), logger: logger, accessLog: false)
let address = try await server.start()
print("listening on \(address)")
fflush(nil)  // every stream: the bench reads this line through a pipe
try await server.run()
