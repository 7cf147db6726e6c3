/// The `rate_limits` section: token buckets against floods (ntfy's visitor limits are the model).
/// Each limit is `{per_second: R, burst: B}`: B at once, then R per second; `off` disables it.
public struct RateLimitsConfig: Sendable, Decodable, Equatable {
    /// One limit.
    public struct Limit: Sendable, Equatable {
        /// Tokens added per second.
        public var perSecond: Double
        /// The bucket's size: how many at once.
        public var burst: Int

        /// Creates a limit.
        public init(perSecond: Double, burst: Int) {
            self.perSecond = perSecond
            self.burst = burst
        }
    }

    /// `pushes_per_subscription`: pushes accepted per push token (RFC 8030 §8.4, P-42); 429 errno 128.
    public var pushesPerSubscription: Limit? = Limit(perSecond: 50, burst: 500)
    /// `subscribes_per_address`: POST /subscribe per client address; 429 errno 114.
    public var subscribesPerAddress: Limit? = Limit(perSecond: 10, burst: 100)
    /// `subscribes_per_token`: POST /subscribe per bearer token (`access.subscribe_tokens`); 429 errno 115.
    public var subscribesPerToken: Limit? = Limit(perSecond: 100, burst: 1_000)
    /// `failed_vapid_per_address`: VAPID verifications that failed, per client address (each costs
    /// an ECDSA verify); once spent, that address's VAPID-signed requests get 429 errno 116.
    public var failedVAPIDPerAddress: Limit? = Limit(perSecond: 5, burst: 50)

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pushesPerSubscription = "pushes_per_subscription"
        case subscribesPerAddress = "subscribes_per_address"
        case subscribesPerToken = "subscribes_per_token"
        case failedVAPIDPerAddress = "failed_vapid_per_address"
    }

    private struct LimitFields: Decodable {
        var perSecond: Double
        var burst: Int

        enum CodingKeys: String, CodingKey, CaseIterable {
            case perSecond = "per_second"
            case burst
        }

        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self, section: "rate_limits")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            perSecond = try container.decode(Double.self, forKey: .perSecond)
            burst = try container.decode(Int.self, forKey: .burst)
            guard perSecond > 0, perSecond <= 1e9 else {
                throw decoder.invalid(CodingKeys.perSecond, "'per_second' must be above 0", hint: "use `off` to disable a limit")
            }
            guard (1...1_000_000_000).contains(burst) else {
                throw decoder.invalid(CodingKeys.burst, "'burst' must be 1 or more")
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "rate_limits")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func limit(_ key: CodingKeys, _ fallback: Limit?) throws -> Limit? {
            guard container.contains(key) else { return fallback }
            // YAML 1.1 reads a bare `off` as false.
            if let enabled = try? container.decode(Bool.self, forKey: key) {
                guard !enabled else { throw decoder.invalid(key, "'\(key.stringValue)' is true", hint: "{per_second: 10, burst: 100} or off") }
                return nil
            }
            if let text = try? container.decode(String.self, forKey: key) {
                guard text == "off" else {
                    throw decoder.invalid(key, "'\(key.stringValue)' is '\(text)'", hint: "{per_second: 10, burst: 100} or off")
                }
                return nil
            }
            let fields = try container.decode(LimitFields.self, forKey: key)
            return Limit(perSecond: fields.perSecond, burst: fields.burst)
        }
        let defaults = RateLimitsConfig()
        pushesPerSubscription = try limit(.pushesPerSubscription, defaults.pushesPerSubscription)
        subscribesPerAddress = try limit(.subscribesPerAddress, defaults.subscribesPerAddress)
        subscribesPerToken = try limit(.subscribesPerToken, defaults.subscribesPerToken)
        failedVAPIDPerAddress = try limit(.failedVAPIDPerAddress, defaults.failedVAPIDPerAddress)
    }
}
