import NIOConcurrencyHelpers

/// The message resources of recent pushes (`/m/<id>`, RFC 8030 §5, §6.2): whether each is still
/// outstanding, acknowledged, or expired, so `DELETE /m/<id>` can answer 204, 410 or 404.
///
/// In memory and bounded: the newest ``capacity`` messages are remembered; older ones, and those
/// from before a restart, are unknown (404) unless they are held (Topic messages are durable).
final class MessageLedger: Sendable {
    private struct Entry {
        var expiresAt: Int64
        var acknowledged: Bool
    }

    private struct State {
        var entries: [MessageID: Entry]
        /// The remembered ids in arrival order, as a ring: the slot at `next` holds the oldest
        /// once the ring is full, and is evicted as it is overwritten.
        var ring: [MessageID?]
        var next = 0

        init(capacity: Int) {
            // Both sized once: growing a dictionary of this size on the push path meant rehashing
            // and large allocations (malloc_consolidate showed in the profile).
            entries = Dictionary(minimumCapacity: capacity)
            ring = Array(repeating: nil, count: capacity)
        }
    }

    /// The most messages remembered.
    let capacity: Int
    private let state: NIOLockedValueBox<State>

    init(capacity: Int = 200_000) {
        self.capacity = max(1, capacity)
        state = NIOLockedValueBox(State(capacity: self.capacity))
    }

    /// Remembers an accepted message.
    func record(_ id: MessageID, expiresAt: Int64) {
        state.withLockedValue { state in
            if let evicted = state.ring[state.next] { state.entries[evicted] = nil }
            state.ring[state.next] = id
            state.next = (state.next + 1) % capacity
            state.entries[id] = Entry(expiresAt: expiresAt, acknowledged: false)
        }
    }

    /// Acknowledges `id` at `now`.
    func acknowledge(_ id: MessageID, now: Int64) -> Acknowledgement {
        state.withLockedValue { state in
            guard let entry = state.entries[id] else { return .unknown }
            if entry.acknowledged || entry.expiresAt < now { return .gone }
            state.entries[id]?.acknowledged = true
            return .acknowledged
        }
    }

    /// Marks `id` acknowledged if it is known (a held message acknowledged through another path).
    func markAcknowledged(_ id: MessageID) {
        state.withLockedValue { state in
            if state.entries[id] != nil { state.entries[id]?.acknowledged = true }
        }
    }
}
