/// The `server` section: where the HTTP front end listens and the URLs it hands out.
public struct ServerConfig: Sendable, Decodable, Equatable {
    /// `listen`: the address and port to accept HTTP/1.1 and HTTP/2 on.
    public var listen: HostAndPort
    /// `public_url`: the scheme, host and port clients reach this service at; every capability
    /// URL is built on it, and its origin is the VAPID `aud` senders must use.
    public var publicURL: String
    /// `tls`: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of cleartext.
    public var tls: TLSFiles?
    /// `allow_cleartext`: an `http://` public URL without a warning at start (a private network,
    /// development).
    public var allowCleartext = false
    /// `max_concurrent_streams`: HTTP/2 streams one connection may have open.
    public var maxConcurrentStreams = Defaults.maxConcurrentStreams
    /// `max_header_bytes`: the most header bytes a request may carry (431 above).
    public var maxHeaderBytes = Defaults.maxHeaderBytes
    /// `idle_timeout_seconds`: a connection with no traffic for this long is closed.
    public var idleTimeoutSeconds = Defaults.idleTimeoutSeconds
    /// `request_timeout_seconds`: a request whose body has not fully arrived by then gets 408.
    public var requestTimeoutSeconds = Defaults.requestTimeoutSeconds
    /// `max_connections`: connections open at once; more are closed as they arrive. Keep it below
    /// the process's file descriptor limit, with room for the broker and the database.
    public var maxConnections = Defaults.maxConnections

    /// The defaults of the optional keys, written once.
    public enum Defaults {
        /// `max_concurrent_streams`.
        public static let maxConcurrentStreams = 100
        /// `max_header_bytes`.
        public static let maxHeaderBytes = 16_384
        /// `idle_timeout_seconds`.
        public static let idleTimeoutSeconds = 60
        /// `request_timeout_seconds`.
        public static let requestTimeoutSeconds = 10
        /// `max_connections`.
        public static let maxConnections = 10_000
    }

    /// A server section given in code (tests, embedding); the other keys take their defaults.
    public init(listen: HostAndPort, publicURL: String, tls: TLSFiles? = nil) {
        self.listen = listen
        self.publicURL = publicURL
        self.tls = tls
    }

    /// A certificate chain and its private key, both PEM.
    public struct TLSFiles: Sendable, Decodable, Equatable {
        /// `certificate`: the PEM certificate chain, leaf first.
        public var certificate: String
        /// `private_key`: the PEM private key.
        public var privateKey: String

        enum CodingKeys: String, CodingKey, CaseIterable {
            case certificate
            case privateKey = "private_key"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self, section: "server.tls")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let certificate = try decoder.existingFile(container, .certificate, what: "certificate"),
                  let privateKey = try decoder.existingFile(container, .privateKey, what: "private key")
            else {
                throw ConfigIssue(codingPath: decoder.codingPath.map(\.stringValue), subject: .value,
                                  message: "server.tls needs both 'certificate' and 'private_key'",
                                  hint: "give PEM file paths for both, or remove 'tls' to serve cleartext h2c/HTTP/1.1")
            }
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case publicURL = "public_url"
        case tls
        case maxConcurrentStreams = "max_concurrent_streams"
        case maxHeaderBytes = "max_header_bytes"
        case idleTimeoutSeconds = "idle_timeout_seconds"
        case requestTimeoutSeconds = "request_timeout_seconds"
        case maxConnections = "max_connections"
        case allowCleartext = "allow_cleartext"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "server")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let listenText = try container.decode(String.self, forKey: .listen)
        guard let listen = HostAndPort(parsing: listenText) else {
            throw decoder.invalid(CodingKeys.listen, "'listen' is '\(listenText)', not host:port",
                                  hint: "for example 127.0.0.1:8080, 0.0.0.0:443 or [::1]:8080")
        }
        guard (0...65535).contains(listen.port) else {
            throw decoder.invalid(CodingKeys.listen, "port \(listen.port) is outside 0...65535",
                                  hint: "use a port from 1 to 65535 (0 picks a free port)")
        }
        self.listen = listen
        self.tls = try container.decodeIfPresent(TLSFiles.self, forKey: .tls)
        maxConcurrentStreams = try container.integer(.maxConcurrentStreams, default: Defaults.maxConcurrentStreams, in: 1...10_000)
        maxHeaderBytes = try container.integer(.maxHeaderBytes, default: Defaults.maxHeaderBytes, in: 1024...1_048_576, unit: " bytes")
        idleTimeoutSeconds = try container.integer(.idleTimeoutSeconds, default: Defaults.idleTimeoutSeconds, in: 1...86_400, unit: " s")
        requestTimeoutSeconds = try container.integer(.requestTimeoutSeconds, default: Defaults.requestTimeoutSeconds, in: 1...3600, unit: " s")
        maxConnections = try container.integer(.maxConnections, default: Defaults.maxConnections, in: 1...1_000_000)

        let urlText = try container.decode(String.self, forKey: .publicURL)
        guard let url = URLParts(urlText), url.scheme == "http" || url.scheme == "https" else {
            throw decoder.invalid(CodingKeys.publicURL, "'public_url' is '\(urlText)', not an http(s) URL",
                                  hint: "for example https://push.example.net or http://127.0.0.1:8080")
        }
        guard url.userInfo == nil, !url.hasQueryOrFragment, url.path.isEmpty || url.path == "/" else {
            throw decoder.invalid(CodingKeys.publicURL, "'public_url' must be an origin: scheme, host and optional port",
                                  hint: "remove the path, query or user info: Pushgate serves its resources at the root")
        }
        if let port = url.port, !(1...65535).contains(port) {
            throw decoder.invalid(CodingKeys.publicURL, "'public_url' port \(port) is outside 1...65535")
        }
        let host = url.host.contains(":") ? "[\(url.host)]" : url.host
        self.publicURL = "\(url.scheme)://\(host.lowercased())\(url.port.map { ":\($0)" } ?? "")"
        allowCleartext = try container.decodeIfPresent(Bool.self, forKey: .allowCleartext) ?? false
    }
}
