import NIOConcurrencyHelpers

/// The held messages in memory, with when each is next sent again.
///
/// Resends back off: 10 s after the first send, then doubling up to 10 minutes, until the device
/// acknowledges, a newer message with the same Topic replaces it, or it expires.
final class HeldMessages: Sendable {
    private struct Entry {
        var message: HeldMessage
        var nextAttempt: Int64
        var attempt: Int
    }

    private struct SlotKey: Hashable {
        var topicID: TopicID
        var slot: String
    }

    private struct State {
        var byID: [MessageID: Entry] = [:]
        var bySlot: [SlotKey: MessageID] = [:]
        /// Subscription topic id and set topic id → held ids ("ready" on either).
        var byTopic: [TopicID: Set<MessageID>] = [:]

        mutating func remove(_ id: MessageID) -> HeldMessage? {
            guard let entry = byID.removeValue(forKey: id) else { return nil }
            let message = entry.message
            bySlot[SlotKey(topicID: message.topicID, slot: message.slot)] = nil
            for topic in [message.topicID, message.setTopicID].compactMap({ $0 }) {
                byTopic[topic]?.remove(id)
                if byTopic[topic]?.isEmpty == true { byTopic[topic] = nil }
            }
            return message
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Holds `message`; returns the message it replaces (same subscription and Topic), if any.
    @discardableResult
    func insert(_ message: HeldMessage, now: Int64) -> HeldMessage? {
        state.withLockedValue { state in
            let key = SlotKey(topicID: message.topicID, slot: message.slot)
            let replaced = state.bySlot[key].flatMap { state.remove($0) }
            state.byID[message.id] = Entry(message: message, nextAttempt: now + ResendSchedule.firstRetry, attempt: 0)
            state.bySlot[key] = message.id
            for topic in [message.topicID, message.setTopicID].compactMap({ $0 }) { state.byTopic[topic, default: []].insert(message.id) }
            return replaced
        }
    }

    /// Forgets a message; returns it if it was held.
    func remove(_ id: MessageID) -> HeldMessage? {
        state.withLockedValue { $0.remove(id) }
    }

    /// Forgets the message held for a subscription's Topic slot.
    func remove(topicID: TopicID, slot: String) -> HeldMessage? {
        state.withLockedValue { state in
            state.bySlot[SlotKey(topicID: topicID, slot: slot)].flatMap { state.remove($0) }
        }
    }

    /// Forgets every message of a subscription (deleted).
    func removeAll(topicID: TopicID) -> [HeldMessage] {
        state.withLockedValue { state in
            (state.byTopic[topicID] ?? []).compactMap { state.remove($0) }
        }
    }

    /// How many messages a subscription has held.
    func count(topicID: TopicID) -> Int {
        state.withLockedValue { state in
            state.byTopic[topicID]?.count { state.byID[$0]?.message.topicID == topicID } ?? 0
        }
    }

    /// Whether a message is held for a subscription's Topic slot.
    func holds(topicID: TopicID, slot: String) -> Bool {
        state.withLockedValue { $0.bySlot[SlotKey(topicID: topicID, slot: slot)] != nil }
    }

    /// Whether `id` is held.
    func contains(_ id: MessageID) -> Bool {
        state.withLockedValue { $0.byID[id] != nil }
    }

    /// Every unexpired message held for a subscription or set topic id ("ready").
    func messages(for topicID: TopicID, now: Int64) -> [HeldMessage] {
        state.withLockedValue { state in
            (state.byTopic[topicID] ?? []).compactMap { state.byID[$0]?.message }.filter { $0.expiresAt > now }
        }
    }

    /// The messages due for a resend (each rescheduled with the next delay), and the expired ones
    /// (removed).
    func takeDue(now: Int64) -> (due: [HeldMessage], expired: [HeldMessage]) {
        state.withLockedValue { state in
            var due: [HeldMessage] = [], expired: [MessageID] = []
            for (id, entry) in state.byID {
                if entry.message.expiresAt <= now {
                    expired.append(id)
                } else if entry.nextAttempt <= now {
                    due.append(entry.message)
                    let attempt = entry.attempt + 1
                    state.byID[id]?.attempt = attempt
                    state.byID[id]?.nextAttempt = now + ResendSchedule.delay(afterAttempt: attempt)
                }
            }
            return (due, expired.compactMap { state.remove($0) })
        }
    }

    /// How many messages are held.
    var count: Int { state.withLockedValue { $0.byID.count } }
}
