import Foundation
public import NIOCore
public import NIOHTTP1

/// An HTTP request as the transport-free ``PushService`` sees it: the same for HTTP/1.1 and
/// HTTP/2, with the body already collected (and bounded) by the transport.
public struct ServiceRequest: Sendable {
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

/// The service's answer.
public struct ServiceResponse: Sendable {
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

    /// A JSON response.
    static func json(_ status: HTTPResponseStatus, _ json: String, headers: HTTPHeaders = HTTPHeaders()) -> ServiceResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return ServiceResponse(status: status, headers: headers, body: ByteBuffer(string: json))
    }
}

/// Minimal JSON string escaping for the few bodies the service writes by hand.
func jsonString(_ text: String) -> String {
    var escaped = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        case _ where scalar.value < 0x20: escaped += String(format: "\\u%04x", scalar.value)
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped + "\""
}
