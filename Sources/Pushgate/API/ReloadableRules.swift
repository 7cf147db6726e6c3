import NIOConcurrencyHelpers

/// The parts of the configuration a SIGHUP may change while requests are served: the payload and
/// TTL limits (`limits.*`), the access rules (`access.*`) and the rate limits (`rate_limits.*`).
/// Read per request under an uncontended lock; replaced by ``reload(limits:access:rateLimits:)``.
final class ReloadableRules: Sendable {
    private struct State {
        var limits: LimitsConfig
        var access: AccessConfig
        var rateLimits: RateLimitsConfig
        var limiters: RateLimiters
    }

    private let state: NIOLockedValueBox<State>

    init(limits: LimitsConfig, access: AccessConfig, rateLimits: RateLimitsConfig) {
        state = NIOLockedValueBox(State(limits: limits, access: access, rateLimits: rateLimits, limiters: RateLimiters(rateLimits)))
    }

    /// `limits.max_payload_bytes`.
    var maxPayloadBytes: Int { state.withLockedValue { $0.limits.maxPayloadBytes } }
    /// `limits.max_ttl_seconds`.
    var maxTTLSeconds: Int { state.withLockedValue { $0.limits.maxTTLSeconds } }

    /// `access.require_vapid`.
    var requireVAPID: Bool { state.withLockedValue { $0.access.requireVAPID } }
    /// `access.subscribe_tokens`.
    var subscribeTokens: [String] { state.withLockedValue { $0.access.subscribeTokens } }
    /// The rate-limit buckets in force.
    var limiters: RateLimiters { state.withLockedValue { $0.limiters } }

    /// Swaps in new rules; returns the sections that changed. Buckets start afresh only when
    /// the limits changed.
    @discardableResult
    func reload(limits: LimitsConfig, access: AccessConfig, rateLimits: RateLimitsConfig) -> [String] {
        state.withLockedValue { state in
            var changed: [String] = []
            if state.limits != limits {
                state.limits = limits
                changed.append("limits")
            }
            if state.access != access {
                state.access = access
                changed.append("access")
            }
            if state.rateLimits != rateLimits {
                state.rateLimits = rateLimits
                state.limiters = RateLimiters(rateLimits)
                changed.append("rate_limits")
            }
            return changed
        }
    }
}
