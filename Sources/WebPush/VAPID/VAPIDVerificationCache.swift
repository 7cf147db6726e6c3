import Synchronization

/// Remembers tokens whose signature already verified, so that a sender reusing its token (as
/// web-push libraries do for hours) costs a dictionary lookup instead of header parsing, base64
/// and JSON decoding and an ECDSA verify (RFC 8292 §5, requirement V-20).
///
/// Keyed by the `Authorization` header value exactly as received: a hit needs no parsing at all.
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
        /// The claims' `aud` values that are origins, normalized (``VAPIDVerifier/normalizedOrigin(_:)``),
        /// so a hit compares strings instead of parsing URLs.
        public let origins: [String]

        /// An entry for verified `claims` under `key`.
        public init(claims: VAPIDClaims, key: VAPIDPublicKey) {
            self.claims = claims
            self.key = key
            self.origins = claims.audiences.compactMap(VAPIDVerifier.originOnly)
        }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        // Insertion order as a ring: the slot at `next` holds the oldest key once the ring is full.
        var ring: [String?]
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

    /// The cached entry for an `Authorization` header value, unless absent or expired at `now`
    /// (seconds since 1970).
    public func lookup(_ authorization: String, now: Int64) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[authorization] else {
                state.misses += 1
                return nil
            }
            if entry.claims.expiration < now {
                state.entries[authorization] = nil
                state.misses += 1
                return nil
            }
            state.hits += 1
            return entry
        }
    }

    /// Remembers the verified token of an `Authorization` header value.
    public func insert(_ authorization: String, _ entry: Entry) {
        state.withLock { state in
            if state.entries[authorization] != nil { return }
            if let evicted = state.ring[state.next] { state.entries[evicted] = nil }
            state.ring[state.next] = authorization
            state.next = (state.next + 1) % capacity
            state.entries[authorization] = entry
        }
    }

    /// Entries currently held, and the hit and miss counts so far (for metrics and tests).
    public var statistics: (count: Int, hits: Int, misses: Int) {
        state.withLock { ($0.entries.count, $0.hits, $0.misses) }
    }
}
