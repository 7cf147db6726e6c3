/// Where Topic messages wait (RFC 8030 §5.4): the newest one per subscription and Topic, sent
/// again until the device acknowledges it, a newer one replaces it, or it expires.
///
/// One instance keeps them in memory over a ``HeldMessageStore`` (``LocalHeldMessageQueue``).
/// Several instances share them in PostgreSQL, which is then the queue itself: whichever
/// instance receives the acknowledgement releases the message, a replacement through any
/// instance replaces it, and resends are claimed row by row, so each is sent by one instance and
/// none is lost when an instance dies.
public protocol HeldMessageQueue: Sendable {
    /// Whether one more message may be held in `slot` of the subscription `topicID`: the slot is
    /// already taken (it would be replaced), or fewer than `limit` are held.
    func hasRoom(topicID: TopicID, slot: String, limit: Int) async throws -> Bool
    /// Holds `message` in place of the one in its slot; durable on return.
    func hold(_ message: HeldMessage, now: Int64) async throws
    /// Drops what a slot holds (a TTL-0 message replaced it); durable on return.
    func dropSlot(topicID: TopicID, slot: String) async throws
    /// Releases an acknowledged message; returns whether it was held.
    func acknowledge(_ id: MessageID) async throws -> Bool
    /// The unexpired messages held for a subscription's or a set's topic id.
    func ready(_ topicID: TopicID, now: Int64) async throws -> [HeldMessage]
    /// Stops resending a deleted subscription's messages (the store dropped them with it).
    func forget(topicID: TopicID) async
    /// The messages due for a resend, each rescheduled (10 s after the first send, doubling up
    /// to 10 minutes); expired ones are dropped.
    func takeDue(now: Int64) async throws -> [HeldMessage]
    /// Loads what a previous run held; returns how many are held.
    func resume(now: Int64) async throws -> Int
}

/// The resend schedule: the delay before attempt `attempt + 1`.
enum ResendSchedule {
    /// The first resend delay and the cap, in seconds.
    static let firstRetry: Int64 = 10
    static let maxRetry: Int64 = 600

    static func delay(afterAttempt attempt: Int) -> Int64 {
        min(maxRetry, firstRetry << min(attempt, 16))
    }
}

/// One instance's held messages: in memory, written through to a ``HeldMessageStore``.
final class LocalHeldMessageQueue: HeldMessageQueue {
    private let held = HeldMessages()
    private let store: any HeldMessageStore

    init(store: any HeldMessageStore) {
        self.store = store
    }

    func hasRoom(topicID: TopicID, slot: String, limit: Int) async throws -> Bool {
        held.holds(topicID: topicID, slot: slot) || held.count(topicID: topicID) < limit
    }

    func hold(_ message: HeldMessage, now: Int64) async throws {
        try await store.hold(message)
        held.insert(message, now: now)
    }

    func dropSlot(topicID: TopicID, slot: String) async throws {
        guard let replaced = held.remove(topicID: topicID, slot: slot) else { return }
        try await store.release([replaced.id])
    }

    func acknowledge(_ id: MessageID) async throws -> Bool {
        guard held.contains(id) else { return false }
        try await store.release([id])
        return held.remove(id) != nil
    }

    func ready(_ topicID: TopicID, now: Int64) async throws -> [HeldMessage] {
        held.messages(for: topicID, now: now)
    }

    func forget(topicID: TopicID) async {
        _ = held.removeAll(topicID: topicID)
    }

    func takeDue(now: Int64) async throws -> [HeldMessage] {
        let (due, expired) = held.takeDue(now: now)
        if !expired.isEmpty { try await store.release(expired.map(\.id)) }
        return due
    }

    /// How many are held.
    var count: Int { held.count }

    func resume(now: Int64) async throws -> Int {
        for message in try await store.heldMessages() where message.expiresAt > now {
            held.insert(message, now: now)
        }
        return held.count
    }
}
