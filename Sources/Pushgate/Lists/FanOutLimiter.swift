import NIOConcurrencyHelpers
import WebPush

/// Fan-out deliveries per second, shared fairly between the VAPID keys pushing to lists.
///
/// The host can deliver only so much (`lists.max_deliveries_per_second`, measured: see
/// docs/performance.md); each key pushing to lists in the last second gets an equal share of it,
/// at most `lists.max_deliveries_per_second_per_key`. Alone, a key may use up to its own limit;
/// once others push too, its share shrinks to `total / active keys`, so one key cannot take all
/// fan-out capacity. A list push costs one token per member; a list larger than the share goes
/// through on a full bucket and the debt delays the next push (the buckets are
/// ``TokenBuckets``, holding one second's worth of the current share).
final class FanOutLimiter: Sendable {
    private let perKey: Double
    private let total: Double
    private let buckets: TokenBuckets<VAPIDPublicKey>
    /// When each key last pushed to a list (the keys of the last second are "active").
    private let lastPush = NIOLockedValueBox([VAPIDPublicKey: ContinuousClock.Instant]())
    private static let activeWindow = Duration.seconds(1)
    private static let maxKeys = 100_000

    /// `perKey`: the most one key may cause per second; `total`: what all keys together may.
    init(perKey: Int, total: Int) {
        self.perKey = Double(max(1, perKey))
        self.total = Double(max(1, total))
        buckets = TokenBuckets(rate: Double(perKey), burst: perKey)
    }

    /// The share of `key` now: the total divided among the keys active in the last second (it
    /// included), capped at the per-key limit.
    func share(for key: VAPIDPublicKey, now: ContinuousClock.Instant) -> Double {
        let active = lastPush.withLockedValue { lastPush in
            lastPush[key] = now
            if lastPush.count > 64 || lastPush.count > Self.maxKeys {
                lastPush = lastPush.filter { now - $0.value < Self.activeWindow }
            }
            return lastPush.values.reduce(0) { $0 + (now - $1 < Self.activeWindow ? 1 : 0) }
        }
        return min(perKey, total / Double(max(1, active)))
    }

    /// Takes `cost` deliveries for `key`; returns `nil` when allowed, else the seconds to wait.
    func take(_ cost: Int, for key: VAPIDPublicKey, now: ContinuousClock.Instant = .now) -> Int? {
        let share = share(for: key, now: now)
        return buckets.take(key, cost: cost, rate: share, burst: share, now: now)
    }
}
