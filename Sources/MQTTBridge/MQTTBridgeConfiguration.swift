/// How ``MQTTBridge`` connects to the broker.
public struct MQTTBridgeConfiguration: Sendable {
    /// The protocol version.
    public enum ProtocolVersion: Sendable {
        /// MQTT 5: properties, reason codes, receive maximum.
        case v5
        /// MQTT 3.1.1: no properties; publishes carry the payload only.
        case v311
    }

    /// TLS settings for an encrypted connection.
    public struct TLS: Sendable {
        /// PEM file of CA certificates; `nil` uses the operating system's CAs.
        public var caFile: String?
        /// PEM client certificate, for brokers that require one.
        public var certificateFile: String?
        /// The client certificate's PEM key.
        public var privateKeyFile: String?

        /// Creates TLS settings.
        public init(caFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }
    }

    /// Broker host.
    public var host: String
    /// Broker port.
    public var port: Int
    /// Further nodes of a clustered broker, tried in turn after ``host``:``port`` when a connect
    /// fails or a connection is lost.
    public var failover: [MQTTBrokerAddress] = []
    /// How long to wait before reconnecting after the broker closed the connection because
    /// another client connected with the same client identifier (MQTT 5 reason 0x8E): retrying
    /// at once would take the session back and start a takeover loop between the two.
    public var takeoverBackoffMilliseconds: Int = 30_000
    /// Protocol version (MQTT 5 by default).
    public var protocolVersion: ProtocolVersion = .v5
    /// Client identifier.
    public var clientID: String
    /// Keepalive in seconds.
    public var keepAliveSeconds: Int = 30
    /// Start every connection with a clean session.
    public var cleanStart: Bool = true
    /// User name, if the broker requires one.
    public var username: String?
    /// Password, if the broker requires one.
    public var password: String?
    /// TLS, or `nil` for plain TCP.
    public var tls: TLS?
    /// The most QoS 1 publishes awaiting PUBACK at once; the broker's receive maximum lowers it.
    public var maxInflight: Int = 4096
    /// First reconnect delay, in milliseconds.
    public var reconnectInitialDelayMilliseconds: Int = 100
    /// Reconnect delay cap, in milliseconds.
    public var reconnectMaxDelayMilliseconds: Int = 10_000
    /// On shutdown, how long publishes in flight may take to be acknowledged before the
    /// connection is closed.
    public var shutdownDrainSeconds: Int64 = 5
    /// The longest a publish may wait — for a slot in the window, then for its PUBACK — before it
    /// fails (a broker that stopped answering must not hold every caller).
    public var publishTimeoutMilliseconds: Int = 5_000
    /// Publishes that may wait for a slot in the window; more are refused at once.
    public var maxWaitingPublishes: Int = 10_000

    /// Every broker address, in the order they are tried.
    public var brokers: [MQTTBrokerAddress] { [MQTTBrokerAddress(host: host, port: port)] + failover }

    /// Creates a configuration for a broker.
    public init(host: String, port: Int, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}

/// A broker node's host and port.
public struct MQTTBrokerAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
