import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A response from ``HTTPClient``.
public struct HTTPClientResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The header fields, in order.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// The first value of a header field (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Why an HTTP request failed before a response arrived.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String
}

/// A minimal HTTP/1.1 client over SwiftNIO (with TLS for `https://`): one request per
/// connection. Enough for the `send` command and the Swift examples; not a general client.
public enum HTTPClient {
    /// Sends one request and collects the whole response.
    ///
    /// - Parameters:
    ///   - url: `http://` or `https://` URL.
    ///   - trustRoots: PEM file with CA certificates to trust instead of the system's.
    public static func send(
        method: String,
        url: String,
        headers: [(String, String)],
        body: [UInt8],
        trustRoots: String? = nil,
        timeoutSeconds: Int64 = 30
    ) async throws -> HTTPClientResponse {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = parts.host, !host.isEmpty
        else {
            throw HTTPClientError(description: "not an http(s) URL")
        }
        let tls = scheme == "https"
        let port = parts.port ?? (tls ? 443 : 80)
        let path = parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath + (parts.percentEncodedQuery.map { "?\($0)" } ?? "")
        let timeout = TimeAmount.seconds(timeoutSeconds)
        let sslContext: NIOSSLContext?
        if tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let trustRoots { configuration.trustRoots = .file(trustRoots) }
            sslContext = try NIOSSLContext(configuration: configuration)
        } else {
            sslContext = nil
        }
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: HTTPClientResponse.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: host.first?.isNumber == true || host.contains(":") ? nil : host)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: host, port: port)
            .get()
        } catch {
            // The promise must be completed either way (NIO checks that none is leaked).
            let failure = HTTPClientError(description: "cannot connect to \(host):\(port): \(error)")
            promise.fail(failure)
            throw failure
        }

        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: parts.port.map { "\(host):\($0)" } ?? host)
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeoutTask = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(HTTPClientError(description: "no response within \(timeoutSeconds) s"))
        }
        defer {
            timeoutTask.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// Collects one response into an ``HTTPClientResponse``; fails the promise if the connection
/// closes first.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPClientResponse>
    private var response = HTTPClientResponse(status: 0, headers: [], body: [])

    init(promise: EventLoopPromise<HTTPClientResponse>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response.status = Int(head.status.code)
            response.headers = head.headers.map { ($0.name, $0.value) }
        case .body(let buffer):
            response.body.append(contentsOf: buffer.readableBytesView)
        case .end:
            promise.succeed(response)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPClientError(description: "connection closed before a complete response"))
    }
}
