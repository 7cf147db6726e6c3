/// The whole configuration file.
///
/// Four keys are fixed by the architecture and required: `server.listen`, `server.public_url`,
/// `mqtt.url` and `storage.path`; everything else has a default. Unknown keys are errors.
public struct PushgateConfig: Sendable, Decodable {
    /// `server`: the HTTP front end.
    public var server: ServerConfig
    /// `mqtt`: the broker connection.
    public var mqtt: MQTTConfig
    /// `storage`: the registry's database.
    public var storage: StorageConfig
    /// `limits`: payload size and TTL.
    public var limits: LimitsConfig
    /// `logging`: level, format, access log.
    public var logging: LoggingConfig
    /// `metrics`: the Prometheus listener.
    public var metrics: MetricsConfig
    /// `rate_limits`: token buckets per subscription, client address, bearer token.
    public var rateLimits: RateLimitsConfig
    /// `access`: subscribe tokens, VAPID for all.
    public var access: AccessConfig
    /// `lists`: multi-device list limits.
    public var lists: ListsConfig
    /// `receipts`: delivery receipt limits.
    public var receipts: ReceiptsConfig
    /// `routes`: admin-defined broadcast routes, push resources on fixed MQTT topics; reloaded
    /// on SIGHUP. (The YAML key keeps its name; in code they are broadcasts, so "route" only
    /// ever means URL routing.)
    public var broadcasts: [BroadcastConfig]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case server, mqtt, storage, limits, logging, metrics, access, lists, receipts, routes
        case rateLimits = "rate_limits"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "top level")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        server = try container.decode(ServerConfig.self, forKey: .server)
        mqtt = try container.decode(MQTTConfig.self, forKey: .mqtt)
        storage = try container.decode(StorageConfig.self, forKey: .storage)
        limits = try container.decodeIfPresent(LimitsConfig.self, forKey: .limits) ?? LimitsConfig()
        logging = try container.decodeIfPresent(LoggingConfig.self, forKey: .logging) ?? LoggingConfig()
        metrics = try container.decodeIfPresent(MetricsConfig.self, forKey: .metrics) ?? MetricsConfig()
        rateLimits = try container.decodeIfPresent(RateLimitsConfig.self, forKey: .rateLimits) ?? RateLimitsConfig()
        access = try container.decodeIfPresent(AccessConfig.self, forKey: .access) ?? AccessConfig()
        lists = try container.decodeIfPresent(ListsConfig.self, forKey: .lists) ?? ListsConfig()
        receipts = try container.decodeIfPresent(ReceiptsConfig.self, forKey: .receipts) ?? ReceiptsConfig()
        broadcasts = try container.decodeIfPresent([BroadcastConfig].self, forKey: .routes) ?? []
        var seen = Set<String>()
        for (index, route) in broadcasts.enumerated() {
            let path = [CodingKeys.routes.stringValue, String(index)]
            guard seen.insert(route.name).inserted else {
                throw ConfigIssue(codingPath: path + ["name"], subject: .value, message: "route name '\(route.name)' is used twice",
                                  hint: "every route needs its own name: the name identifies its push URL")
            }
            // Subscriptions own everything below the prefix; a route there could reach a device
            // it was never meant for.
            if route.topic == mqtt.topicPrefix || route.topic.hasPrefix(mqtt.topicPrefix + "/") {
                throw ConfigIssue(codingPath: path + ["topic"], subject: .value,
                                  message: "route topic '\(route.topic)' is below mqtt.topic_prefix '\(mqtt.topicPrefix)', where subscriptions live",
                                  hint: "use a topic outside '\(mqtt.topicPrefix)/', e.g. fleet/\(route.name)")
            }
        }
    }
}
