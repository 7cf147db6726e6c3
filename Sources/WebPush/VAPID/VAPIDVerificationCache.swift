import Synchronization

/// Remembers tokens whose signature already verified, so that a sender reusing its token (as
/// web-push libraries do for hours) costs a dictionary lookup instead of an ECDSA verify
/// (RFC 8292 §5, requirement V-20).
///
/// Bounded: at most `capacity` entries, the oldest evicted first; an entry is dropped once its
/// token's `exp` has passed. Only successes are cached, and only the time-independent part of
/// verification (parsing and signature): expiry, audience and key restriction are checked on
/// every request.
public final class VAPIDVerificationCache: Sendable {
    /// A verified token's claims and key.
    public struct Entry: Sendable {
        /// The verified claims.
        public let claims: VAPIDClaims
        /// The key that verified them.
        public let key: VAPIDPublicKey
    }

    private struct State {
        var entries: [VAPIDCredentials: Entry] = [:]
        // Insertion order as a ring: the slot at `next` holds the oldest key once the ring is full.
        var ring: [VAPIDCredentials?]
        var next = 0
        var hits = 0
        var misses = 0
    }

    private let state: Mutex<State>
    /// The maximum number of cached tokens.
    public let capacity: Int

    /// Creates a cache that holds at most `capacity` tokens.
    public init(capacity: Int = 10_000) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        self.state = Mutex(State(ring: Array(repeating: nil, count: capacity)))
    }

    /// The cached entry for `credentials`, unless absent or expired at `now` (seconds since 1970).
    public func lookup(_ credentials: VAPIDCredentials, now: Int64) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[credentials] else {
                state.misses += 1
                return nil
            }
            if entry.claims.expiration < now {
                state.entries[credentials] = nil
                state.misses += 1
                return nil
            }
            state.hits += 1
            return entry
        }
    }

    /// Remembers a verified token.
    public func insert(_ credentials: VAPIDCredentials, _ entry: Entry) {
        state.withLock { state in
            if state.entries[credentials] != nil { return }
            if let evicted = state.ring[state.next] { state.entries[evicted] = nil }
            state.ring[state.next] = credentials
            state.next = (state.next + 1) % capacity
            state.entries[credentials] = entry
        }
    }

    /// Entries currently held, and the hit and miss counts so far (for metrics and tests).
    public var statistics: (count: Int, hits: Int, misses: Int) {
        state.withLock { ($0.entries.count, $0.hits, $0.misses) }
    }
}
