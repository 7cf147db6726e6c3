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

    /// Creates a request.
    public init(method: HTTPMethod, path: String, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer = ByteBuffer()) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
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

    /// Creates a response.
    public init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
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
