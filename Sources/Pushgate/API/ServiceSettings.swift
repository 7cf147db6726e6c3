/// What the feature handlers need from the configuration, gathered once.
public struct ServiceSettings: Sendable {
    /// `server.public_url`: base of every URL handed out, and the VAPID audience.
    public var publicURL: String
    /// `limits.max_payload_bytes`.
    public var maxPayloadBytes: Int
    /// `limits.max_ttl_seconds`.
    public var maxTTLSeconds: Int
    /// `access.require_vapid`.
    public var requireVAPID: Bool
    /// `access.subscribe_tokens`.
    public var subscribeTokens: [String]
    /// `lists`: multi-device list limits.
    public var lists: ListsConfig
    /// `rate_limits`.
    public var rateLimits = RateLimitsConfig()

    /// Settings from a loaded config.
    public init(_ config: PushgateConfig) {
        self.init(publicURL: config.server.publicURL, limits: config.limits, access: config.access, lists: config.lists)
        rateLimits = config.rateLimits
    }

    /// Settings section by section; the defaults are the config file's.
    public init(publicURL: String, limits: LimitsConfig = LimitsConfig(), access: AccessConfig = AccessConfig(), lists: ListsConfig = ListsConfig()) {
        self.publicURL = publicURL
        self.maxPayloadBytes = limits.maxPayloadBytes
        self.maxTTLSeconds = limits.maxTTLSeconds
        self.requireVAPID = access.requireVAPID
        self.subscribeTokens = access.subscribeTokens
        self.lists = lists
    }
}
