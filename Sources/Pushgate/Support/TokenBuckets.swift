import NIOConcurrencyHelpers

/// Token buckets by key (a push token, a client address, a bearer token): each refills at
/// `rate` per second up to `burst`. Memory is bounded: past `maxKeys` the buckets that are full
/// again (their key idle long enough) are dropped, and if none is, the oldest — an attacker
/// rotating keys cannot grow it without bound, and at worst resets someone's budget.
final class TokenBuckets<Key: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let rate: Double
    let burst: Double
    private let maxKeys: Int
    private let buckets = NIOLockedValueBox([Key: Bucket]())

    init(rate: Double, burst: Int, maxKeys: Int = 100_000) {
        self.rate = rate
        self.burst = Double(max(1, burst))
        self.maxKeys = maxKeys
    }

    /// Takes one token for `key`: `nil` when allowed, else the whole seconds until one is there.
    func take(_ key: Key, now: ContinuousClock.Instant = .now) -> Int? {
        take(key, cost: 1, now: now)
    }

    /// Takes `cost` tokens for `key` from its bucket, refilled at `rate` up to `burst` (by
    /// default the buckets' own; a caller may vary them per call, as the fan-out's fair share
    /// does). A cost above the burst is allowed when the bucket is full, and the debt it leaves
    /// delays the next. `nil` when allowed, else the whole seconds until it would be.
    func take(_ key: Key, cost: Int, rate: Double? = nil, burst: Double? = nil, now: ContinuousClock.Instant = .now) -> Int? {
        let rate = rate ?? self.rate, burst = burst ?? self.burst
        return buckets.withLockedValue { buckets in
            var bucket = refilled(buckets[key], rate: rate, burst: burst, now: now)
            let needed = min(Double(cost), burst)
            guard bucket.tokens >= needed else {
                buckets[key] = bucket
                return max(1, Int(((needed - bucket.tokens) / rate).rounded(.up)))
            }
            bucket.tokens -= Double(cost)
            if buckets[key] == nil, buckets.count >= maxKeys { evict(&buckets, now: now) }
            buckets[key] = bucket
            return nil
        }
    }

    /// Whether `key` has no token left (without taking one): the seconds until it has, or `nil`.
    func exhausted(_ key: Key, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLockedValue { buckets in
            let bucket = refilled(buckets[key], rate: rate, burst: burst, now: now)
            return bucket.tokens >= 1 ? nil : max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    private func refilled(_ bucket: Bucket?, rate: Double, burst: Double, now: ContinuousClock.Instant) -> Bucket {
        guard var bucket else { return Bucket(tokens: burst, updated: now) }
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(burst, bucket.tokens + seconds * rate)
        bucket.updated = now
        return bucket
    }

    private func evict(_ buckets: inout [Key: Bucket], now: ContinuousClock.Instant) {
        let full = buckets.filter { refilled($0.value, rate: rate, burst: burst, now: now).tokens >= burst }.map(\.key)
        if !full.isEmpty {
            for key in full { buckets[key] = nil }
        } else if let oldest = buckets.min(by: { $0.value.updated < $1.value.updated })?.key {
            buckets[oldest] = nil
        }
    }

    /// How many keys are tracked (tests).
    var count: Int { buckets.withLockedValue { $0.count } }
}
