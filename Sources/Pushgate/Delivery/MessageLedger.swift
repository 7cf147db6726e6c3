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
        var entries: [MessageID: Entry] = [:]
        /// Insertion order, for evicting the oldest.
        var order: [MessageID] = []
        var head = 0
    }

    /// The most messages remembered.
    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int = 200_000) { self.capacity = max(1, capacity) }

    /// Remembers an accepted message.
    func record(_ id: MessageID, expiresAt: Int64) {
        state.withLockedValue { state in
            if state.entries.count >= capacity, state.head < state.order.count {
                state.entries[state.order[state.head]] = nil
                state.head += 1
            }
            state.entries[id] = Entry(expiresAt: expiresAt, acknowledged: false)
            state.order.append(id)
            // Drop the evicted prefix now and then, so the order array does not grow forever.
            if state.head > capacity {
                state.order.removeFirst(state.head)
                state.head = 0
            }
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
