public import MQTTBridge

extension MQTTBridgeConfiguration {
    /// The bridge settings for the `mqtt` section of the config file; `clientID` is the one to
    /// use when `client_id` is unset (``PushgateConfig/mqttClientID``).
    ///
    /// - Throws: ``ConfigError`` when the password file or environment variable cannot be read.
    public init(_ config: MQTTConfig, clientID: String, environment: [String: String]? = nil) throws {
        self.init(host: config.host, port: config.port, clientID: config.clientID ?? clientID)
        failover = config.failover.map { MQTTBrokerAddress(host: $0.host, port: $0.port) }
        protocolVersion = config.protocolVersion == .v5 ? .v5 : .v311
        keepAliveSeconds = config.keepAliveSeconds
        cleanStart = config.cleanStart
        username = config.username
        password = try config.password(environment: environment)
        if config.usesTLS {
            tls = TLS(
                caFile: config.tls?.caFile,
                certificateFile: config.tls?.certificateFile,
                privateKeyFile: config.tls?.privateKeyFile
            )
        }
        maxInflight = config.maxInflight
        reconnectInitialDelayMilliseconds = config.reconnectInitialDelayMilliseconds
        reconnectMaxDelayMilliseconds = config.reconnectMaxDelayMilliseconds
        publishTimeoutMilliseconds = config.publishTimeoutMilliseconds
        maxWaitingPublishes = config.maxWaitingPublishes
    }
}
