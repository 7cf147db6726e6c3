import WebPush

/// The `rate_limits` buckets, one set per instance (several instances each allow the limit; see
/// docs/scaling.md). Every refusal is counted in `pushgate_rate_limited_total{limit=…}`.
final class RateLimiters: Sendable {
    private let pushes: TokenBuckets<PushToken>?
    private let subscribesByAddress: TokenBuckets<String>?
    private let subscribesByToken: TokenBuckets<String>?
    private let failedVAPID: TokenBuckets<String>?

    init(_ config: RateLimitsConfig) {
        func buckets<Key>(_ limit: RateLimitsConfig.Limit?) -> TokenBuckets<Key>? {
            limit.map { TokenBuckets(rate: $0.perSecond, burst: $0.burst) }
        }
        pushes = buckets(config.pushesPerSubscription)
        subscribesByAddress = buckets(config.subscribesPerAddress)
        subscribesByToken = buckets(config.subscribesPerToken)
        failedVAPID = buckets(config.failedVAPIDPerAddress)
        for limit in ["pushes_per_subscription", "subscribes_per_address", "subscribes_per_token", "failed_vapid_per_address"] {
            _ = PushgateMetrics.rateLimited(limit)
        }
    }

    /// A push to `token` (P-42).
    func admitPush(to token: PushToken) throws(APIError) {
        if let wait = pushes?.take(token) { throw refused("pushes_per_subscription", .pushRateExceeded(retryAfter: wait)) }
    }

    /// A subscribe from `address`, presenting `token` (a bearer subscribe token) if any.
    func admitSubscribe(from address: String?, token: Substring?) throws(APIError) {
        if let address, let wait = subscribesByAddress?.take(address) {
            throw refused("subscribes_per_address", .subscribeRateExceeded(retryAfter: wait, perToken: false))
        }
        if let token, let wait = subscribesByToken?.take(String(token)) {
            throw refused("subscribes_per_token", .subscribeRateExceeded(retryAfter: wait, perToken: true))
        }
    }

    /// Before verifying a VAPID signature for `address`: refused while its failures are spent.
    func admitVAPID(from address: String?) throws(APIError) {
        if let address, let wait = failedVAPID?.exhausted(address) {
            throw refused("failed_vapid_per_address", .vapidFailuresExceeded(retryAfter: wait))
        }
    }

    /// A VAPID verification from `address` failed.
    func vapidFailed(from address: String?) {
        if let address { _ = failedVAPID?.take(address) }
    }

    private func refused(_ limit: String, _ error: APIError) -> APIError {
        PushgateMetrics.rateLimited(limit).increment()
        return error
    }
}
