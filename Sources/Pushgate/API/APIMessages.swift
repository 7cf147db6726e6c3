import Foundation
public import NIOCore
public import NIOHTTP1

/// An HTTP request as the API sees it: the same for HTTP/1.1 and HTTP/2, with the body already
/// collected (and bounded) by the transport.
public struct APIRequest: Sendable {
    /// The method.
    public var method: HTTPMethod
    /// The path, without query.
    public var path: String
    /// The header fields.
    public var headers: HTTPHeaders
    /// The body.
    public var body: ByteBuffer
    /// Whether the transport can answer with HTTP/2 server push (``APIResponse/serverPush``).
    public var canServerPush: Bool
    /// The client's IP address (the peer of the TCP connection; behind a load balancer, the
    /// balancer's), for the per-address rate limits; `nil` when unknown.
    public var remoteAddress: String?

    /// Creates a request.
    public init(method: HTTPMethod, path: String, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer = ByteBuffer(),
                canServerPush: Bool = false, remoteAddress: String? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.canServerPush = canServerPush
        self.remoteAddress = remoteAddress
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    var mediaType: String? {
        headers["Content-Type"].first?.split(separator: ";").first?.trimmingOWS().lowercased()
    }
}

/// The API's answer.
public struct APIResponse: Sendable {
    /// The status.
    public var status: HTTPResponseStatus
    /// The header fields (the transport adds Content-Length).
    public var headers: HTTPHeaders
    /// The body.
    public var body: ByteBuffer
    /// A body that goes on after the head, chunk by chunk, until the stream ends or the client
    /// goes (server-sent events); `nil` for a complete `body`.
    public var stream: ResponseStream?
    /// HTTP/2 server pushes on this request's stream (RFC 8030 §6.3), before the response: the
    /// response (status, headers, body) is written only once the pushes end.
    public var serverPush: ServerPushStream?
    /// The errno of an error response (for metrics and the access log; the body carries it too).
    public var errno: Int?

    /// Creates a response.
    public init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer = ByteBuffer(), stream: ResponseStream? = nil,
                serverPush: ServerPushStream? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
        self.serverPush = serverPush
    }

    /// A response whose body is `value` encoded as JSON (`contentType` defaults to application/json).
    static func json(_ status: HTTPResponseStatus, _ value: some Encodable, headers: HTTPHeaders = HTTPHeaders(),
                     contentType: String = "application/json") -> APIResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: contentType)
        // Encoding our own response types cannot fail; an empty object is the safe fallback.
        let data = (try? JSONCoding.encoder.encode(value)) ?? Data("{}".utf8)
        return APIResponse(status: status, headers: headers, body: ByteBuffer(bytes: data))
    }
}

/// A streamed response body: chunks written as they come, each followed by its `written` step
/// once the transport has written it (a receipt is forgotten only then).
public struct ResponseStream: Sendable {
    /// One piece of the body.
    public struct Chunk: Sendable {
        /// The bytes.
        public var bytes: ByteBuffer
        /// Runs once the bytes are written to the connection.
        public var written: @Sendable () async -> Void

        /// Creates a chunk.
        public init(_ bytes: ByteBuffer, written: @escaping @Sendable () async -> Void = {}) {
            self.bytes = bytes
            self.written = written
        }
    }

    /// The chunks; the body ends when it ends. The transport stops iterating when the client goes.
    public var chunks: AsyncStream<Chunk>

    /// Creates a stream.
    public init(_ chunks: AsyncStream<Chunk>) { self.chunks = chunks }
}

/// HTTP/2 server pushes (PUSH_PROMISE for a synthesized `GET`, then its response) to send on a
/// request's stream as they come.
public struct ServerPushStream: Sendable {
    /// One pushed response.
    public struct Push: Sendable {
        /// The promised request: `:scheme`, `:authority`, `:path` (the method is `GET`).
        public var scheme: String
        /// `:authority`.
        public var authority: String
        /// `:path`.
        public var path: String
        /// The pushed response's status; it has no body.
        public var status: HTTPResponseStatus
        /// Runs once the promise and the response are written.
        public var written: @Sendable () async -> Void

        /// Creates a push.
        public init(scheme: String, authority: String, path: String, status: HTTPResponseStatus, written: @escaping @Sendable () async -> Void = {}) {
            self.scheme = scheme
            self.authority = authority
            self.path = path
            self.status = status
            self.written = written
        }
    }

    /// The pushes; when they end, the response itself is written.
    public var pushes: AsyncStream<Push>

    /// Creates a stream.
    public init(_ pushes: AsyncStream<Push>) { self.pushes = pushes }
}

/// The JSON encoder and decoder every API body goes through.
enum JSONCoding {
    /// Sorted keys (stable output), URLs without escaped slashes.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static var decoder: JSONDecoder { JSONDecoder() }
}
