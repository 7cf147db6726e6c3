import NIOConcurrencyHelpers

/// The parts of the configuration a SIGHUP may change while requests are served: the access
/// rules (`access.*`) and the rate limits (`rate_limits.*`). Read once per request under an
/// uncontended lock; replaced whole by ``reload(access:rateLimits:)``.
final class ReloadableRules: Sendable {
    private struct State {
        var access: AccessConfig
        var rateLimits: RateLimitsConfig
        var limiters: RateLimiters
    }

    private let state: NIOLockedValueBox<State>

    init(access: AccessConfig, rateLimits: RateLimitsConfig) {
        state = NIOLockedValueBox(State(access: access, rateLimits: rateLimits, limiters: RateLimiters(rateLimits)))
    }

    /// `access.require_vapid`.
    var requireVAPID: Bool { state.withLockedValue { $0.access.requireVAPID } }
    /// `access.subscribe_tokens`.
    var subscribeTokens: [String] { state.withLockedValue { $0.access.subscribeTokens } }
    /// The rate-limit buckets in force.
    var limiters: RateLimiters { state.withLockedValue { $0.limiters } }

    /// Swaps in new rules; returns the sections that changed. Buckets start afresh only when
    /// the limits changed.
    @discardableResult
    func reload(access: AccessConfig, rateLimits: RateLimitsConfig) -> [String] {
        state.withLockedValue { state in
            var changed: [String] = []
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
