import Foundation

/// The `mqtt` section: the one shared connection to the broker.
public struct MQTTConfig: Sendable, Decodable, Equatable {
    /// The MQTT protocol version spoken to the broker.
    public enum ProtocolVersion: String, Sendable {
        /// MQTT 5: message expiry, user properties, correlation data (the full mapping).
        case v5 = "5"
        /// MQTT 3.1.1: payload only; see docs/mqtt.md for what degrades.
        case v311 = "3.1.1"
    }

    /// TLS material for `mqtts://`.
    public struct TLSFiles: Sendable, Decodable, Equatable {
        /// `ca_file`: PEM CA certificates to verify the broker with (system CAs when absent).
        public var caFile: String?
        /// `certificate_file`: PEM client certificate, for brokers that require one.
        public var certificateFile: String?
        /// `private_key_file`: the client certificate's PEM key.
        public var privateKeyFile: String?

        /// No files: verify with the system's CAs.
        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable {
            case caFile = "ca_file"
            case certificateFile = "certificate_file"
            case privateKeyFile = "private_key_file"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self, section: "mqtt.tls")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            caFile = try decoder.existingFile(container, .caFile, what: "CA file")
            certificateFile = try decoder.existingFile(container, .certificateFile, what: "client certificate")
            privateKeyFile = try decoder.existingFile(container, .privateKeyFile, what: "client key")
            if (certificateFile == nil) != (privateKeyFile == nil) {
                throw decoder.invalid(certificateFile == nil ? CodingKeys.certificateFile : CodingKeys.privateKeyFile,
                                      "a client certificate needs both 'certificate_file' and 'private_key_file'")
            }
        }
    }

    /// `url`: `mqtt://host[:1883]` or `mqtts://host[:8883]` — or a list of such URLs, the nodes
    /// of a clustered broker, tried in turn (this is the first).
    public var url: String
    /// The broker's host, from ``url``.
    public var host: String
    /// The broker's port, from ``url`` (1883 / 8883 by default).
    public var port: Int
    /// The other nodes when `url` is a list, in order.
    public var failover: [HostAndPort] = []
    /// Whether ``url`` is `mqtts://`.
    public var usesTLS: Bool
    /// `protocol_version`: `5` (default) or `3.1.1`.
    public var protocolVersion: ProtocolVersion = .v5
    /// `client_id`: the client identifier; must be unique on the broker. Unset (the default),
    /// each instance derives its own (``PushgateConfig/mqttClientID``), so several instances on
    /// one broker never take each other's session over.
    public var clientID: String?
    /// `keepalive_seconds`: MQTT keepalive.
    public var keepAliveSeconds: Int = 30
    /// `clean_start`: start with a fresh session on every connect (default true).
    public var cleanStart: Bool = true
    /// `username`.
    public var username: String?
    /// `password_file`: a file whose first line is the password.
    public var passwordFile: String?
    /// `password_env`: an environment variable holding the password.
    public var passwordEnvironmentVariable: String?
    /// `tls`: CA and client certificate files for `mqtts://`.
    public var tls: TLSFiles?
    /// `ack_share_group`: the MQTT shared-subscription group every instance reads device
    /// acknowledgements through (`$share/<group>/<prefix>/ack/#`), so each is handled once across
    /// the cluster; empty: a plain subscription (for a broker without shared subscriptions).
    public var ackShareGroup: String = "pushgate"
    /// `topic_prefix`: the first topic level of everything Pushgate publishes.
    public var topicPrefix: String = "webpush"
    /// `max_inflight`: QoS 1 publishes awaiting PUBACK at once; more wait in Pushgate.
    public var maxInflight: Int = 4096
    /// `reconnect_initial_delay_ms`: the first reconnect delay; doubles up to the maximum.
    public var reconnectInitialDelayMilliseconds: Int = 100
    /// `reconnect_max_delay_ms`: the cap on the reconnect delay.
    public var reconnectMaxDelayMilliseconds: Int = 10_000
    /// `publish_timeout_ms`: the longest a push waits for the broker (a window slot, then the
    /// PUBACK) before it is answered 503.
    public var publishTimeoutMilliseconds: Int = 5_000
    /// `max_waiting_publishes`: publishes that may queue for the window; more get 503 at once.
    public var maxWaitingPublishes: Int = 10_000

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url
        case protocolVersion = "protocol_version"
        case clientID = "client_id"
        case keepAliveSeconds = "keepalive_seconds"
        case cleanStart = "clean_start"
        case username
        case passwordFile = "password_file"
        case passwordEnvironmentVariable = "password_env"
        case tls
        case topicPrefix = "topic_prefix"
        case ackShareGroup = "ack_share_group"
        case maxInflight = "max_inflight"
        case reconnectInitialDelayMilliseconds = "reconnect_initial_delay_ms"
        case reconnectMaxDelayMilliseconds = "reconnect_max_delay_ms"
        case publishTimeoutMilliseconds = "publish_timeout_ms"
        case maxWaitingPublishes = "max_waiting_publishes"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "mqtt")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let urls: [String]
        if let list = try? container.decode([String].self, forKey: .url) {
            guard !list.isEmpty else {
                throw decoder.invalid(CodingKeys.url, "'url' is an empty list", hint: "give one broker URL, or the nodes of a cluster as a list")
            }
            urls = list
        } else {
            urls = [try container.decode(String.self, forKey: .url)]
        }
        var addresses: [(tls: Bool, address: HostAndPort)] = []
        for url in urls {
            guard let parts = URLParts(url), parts.scheme == "mqtt" || parts.scheme == "mqtts" else {
                throw decoder.invalid(CodingKeys.url, "'url' is '\(url)', not an mqtt:// or mqtts:// URL",
                                      hint: "for example mqtt://127.0.0.1:1883 or mqtts://broker.example.net:8883")
            }
            guard parts.userInfo == nil else {
                throw decoder.invalid(CodingKeys.url, "'url' must not carry credentials",
                                      hint: "use 'username' and 'password_file' or 'password_env' instead")
            }
            guard parts.path.isEmpty || parts.path == "/" else {
                throw decoder.invalid(CodingKeys.url, "'url' must not have a path", hint: "MQTT URLs are mqtt://host:port")
            }
            let tls = parts.scheme == "mqtts"
            let port = parts.port ?? (tls ? 8883 : 1883)
            guard (1...65535).contains(port) else {
                throw decoder.invalid(CodingKeys.url, "port \(port) is outside 1...65535")
            }
            addresses.append((tls, HostAndPort(host: parts.host, port: port)))
        }
        guard Set(addresses.map(\.tls)).count == 1 else {
            throw decoder.invalid(CodingKeys.url, "the broker URLs mix mqtt:// and mqtts://", hint: "the nodes of one cluster are reached the same way")
        }
        url = urls[0]
        usesTLS = addresses[0].tls
        host = addresses[0].address.host
        port = addresses[0].address.port
        failover = addresses.dropFirst().map(\.address)

        if let version = try container.decodeIfPresent(String.self, forKey: .protocolVersion) {
            guard let parsed = ProtocolVersion(rawValue: version) else {
                throw decoder.invalid(CodingKeys.protocolVersion, "unknown MQTT protocol version '\(version)'", hint: "use 5 or \"3.1.1\"")
            }
            protocolVersion = parsed
        }
        clientID = try container.decodeIfPresent(String.self, forKey: .clientID)
        if let clientID, clientID.isEmpty || clientID.utf8.count > 65535 {
            throw decoder.invalid(CodingKeys.clientID, "'client_id' must be a non-empty string",
                                  hint: "or leave it out: each instance then derives a unique one")
        }
        keepAliveSeconds = try container.integer(.keepAliveSeconds, default: keepAliveSeconds, in: 5...65535, unit: " s")
        cleanStart = try container.decodeIfPresent(Bool.self, forKey: .cleanStart) ?? cleanStart
        username = try container.decodeIfPresent(String.self, forKey: .username)
        passwordFile = try decoder.existingFile(container, .passwordFile, what: "password file")
        passwordEnvironmentVariable = try container.decodeIfPresent(String.self, forKey: .passwordEnvironmentVariable)
        if passwordFile != nil, passwordEnvironmentVariable != nil {
            throw decoder.invalid(CodingKeys.passwordEnvironmentVariable, "give either 'password_file' or 'password_env', not both")
        }
        if (passwordFile != nil || passwordEnvironmentVariable != nil), username == nil {
            throw decoder.invalid(CodingKeys.username, "a password needs a 'username'")
        }
        tls = try container.decodeIfPresent(TLSFiles.self, forKey: .tls)
        if tls != nil, !usesTLS {
            throw decoder.invalid(CodingKeys.tls, "'tls' is set but 'url' is mqtt://", hint: "use an mqtts:// URL to connect with TLS")
        }
        topicPrefix = try container.decodeIfPresent(String.self, forKey: .topicPrefix) ?? topicPrefix
        let levels = topicPrefix.split(separator: "/", omittingEmptySubsequences: false)
        guard !topicPrefix.isEmpty, !levels.contains(where: \.isEmpty),
              !topicPrefix.contains(where: { $0 == "#" || $0 == "+" || $0 == "\0" }), !topicPrefix.hasPrefix("$")
        else {
            throw decoder.invalid(CodingKeys.topicPrefix, "'topic_prefix' '\(topicPrefix)' is not a valid topic prefix",
                                  hint: "use topic levels without wildcards (+ #), empty levels or a leading $, e.g. webpush or acme/push")
        }
        ackShareGroup = try container.decodeIfPresent(String.self, forKey: .ackShareGroup) ?? ackShareGroup
        guard !ackShareGroup.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" || $0 == "\0" }) else {
            throw decoder.invalid(CodingKeys.ackShareGroup, "'ack_share_group' must be one topic level without wildcards",
                                  hint: "for example pushgate; or \"\" for a plain subscription")
        }
        maxInflight = try container.integer(.maxInflight, default: maxInflight, in: 1...65535)
        reconnectInitialDelayMilliseconds = try container.integer(.reconnectInitialDelayMilliseconds, default: reconnectInitialDelayMilliseconds, in: 10...60_000, unit: " ms")
        reconnectMaxDelayMilliseconds = try container.integer(.reconnectMaxDelayMilliseconds, default: reconnectMaxDelayMilliseconds, in: reconnectInitialDelayMilliseconds...600_000, unit: " ms")
        publishTimeoutMilliseconds = try container.integer(.publishTimeoutMilliseconds, default: publishTimeoutMilliseconds, in: 100...600_000, unit: " ms")
        maxWaitingPublishes = try container.integer(.maxWaitingPublishes, default: maxWaitingPublishes, in: 0...10_000_000)
    }

    /// The password from ``passwordFile`` or ``passwordEnvironmentVariable``.
    ///
    /// - Throws: when the file cannot be read or the variable is unset, so a broker that needs a
    ///   password never silently gets none.
    public func password(environment: [String: String]? = nil) throws -> String? {
        if let passwordFile {
            let contents = try String(contentsOfFile: passwordFile, encoding: .utf8)
            return String(contents.split(whereSeparator: \.isNewline).first ?? "")
        }
        if let name = passwordEnvironmentVariable {
            guard let value = (environment ?? ProcessInfo.processInfo.environment)[name] else {
                throw ConfigError(file: "environment", line: nil, column: nil,
                                  message: "mqtt.password_env names \(name), which is not set",
                                  hint: "export \(name) before starting pushgate")
            }
            return value
        }
        return nil
    }
}
