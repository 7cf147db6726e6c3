import Foundation
import NIOConcurrencyHelpers
import WebPush

/// Fan-out deliveries per second per VAPID key: a token bucket per key that refills at the
/// configured rate and holds one second's worth. A list push costs one token per member; a push
/// to a list larger than the rate is allowed when the bucket is full, and the debt delays the
/// next one.
final class FanOutLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let rate: Double
    private let buckets = NIOLockedValueBox([VAPIDPublicKey: Bucket]())

    init(perSecond rate: Int) { self.rate = Double(rate) }

    /// Takes `cost` tokens for `key`; returns `nil` when allowed, else the seconds to wait.
    func take(_ cost: Int, for key: VAPIDPublicKey, now: Date) -> Int? {
        buckets.withLockedValue { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: rate, updated: now)
            bucket.tokens = min(rate, bucket.tokens + now.timeIntervalSince(bucket.updated) * rate)
            bucket.updated = now
            let needed = min(Double(cost), rate)
            guard bucket.tokens >= needed else {
                buckets[key] = bucket
                return max(1, Int(((needed - bucket.tokens) / rate).rounded(.up)))
            }
            bucket.tokens -= Double(cost)
            buckets[key] = bucket
            return nil
        }
    }
}
