import NIOCore
import PostgresNIO

/// Several instances hold Topic messages in PostgreSQL, and the table is the queue: no instance
/// keeps a copy, so a release, a replacement or a resend through any instance is seen by all.
/// Resends are claimed with `FOR UPDATE SKIP LOCKED`, so each due message is sent once per round
/// by one instance, and an instance that dies leaves nothing behind that the others do not send.
extension PostgresRegistryStore: HeldMessageQueue {
    public func hasRoom(topicID: TopicID, slot: String, limit: Int) async throws -> Bool {
        try await inTransaction(registry: false) { connection in
            for try await (count, taken) in try await connection.query("""
                SELECT count(*), coalesce(bool_or(slot = \(slot)), false) FROM held_messages WHERE topic_id = \(topicID.rawValue)
                """, logger: logger).decode((Int64, Bool).self) {
                return taken || count < limit
            }
            return true
        }
    }

    public func hold(_ message: HeldMessage, now: Int64) async throws {
        try await hold(message)
    }

    public func dropSlot(topicID: TopicID, slot: String) async throws {
        _ = try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM held_messages WHERE topic_id = \(topicID.rawValue) AND slot = \(slot)", logger: logger)
        }
    }

    public func acknowledge(_ id: MessageID) async throws -> Bool {
        try await inTransaction(registry: false) { connection in
            var released = false
            for try await _ in try await connection.query("DELETE FROM held_messages WHERE id = \(id.rawValue) RETURNING id", logger: logger)
                .decode(String.self) {
                released = true
            }
            return released
        }
    }

    public func ready(_ topicID: TopicID, now: Int64) async throws -> [HeldMessage] {
        try await inTransaction(registry: false) { connection in
            var query = PostgresQuery(unsafeSQL: "SELECT \(Self.heldColumns) FROM held_messages WHERE (topic_id = $1 OR set_topic_id = $1) AND expires_at > $2")
            query.binds.append(topicID.rawValue)
            query.binds.append(now)
            return try await heldMessages(connection, query)
        }
    }

    public func forget(topicID: TopicID) async {}

    /// Resends claimed per round at most (the rest come in the next second).
    static let resendsPerRound = 1_000

    public func takeDue(now: Int64) async throws -> [HeldMessage] {
        try await inTransaction(registry: false) { connection in
            try await connection.query("DELETE FROM held_messages WHERE expires_at <= \(now)", logger: logger)
            var query = PostgresQuery(unsafeSQL: """
                UPDATE held_messages SET attempt = attempt + 1,
                    next_attempt = $1 + least(\(ResendSchedule.maxRetry), \(ResendSchedule.firstRetry) * (1::bigint << least(attempt + 1, 16)))
                WHERE id IN (SELECT id FROM held_messages WHERE next_attempt <= $1 ORDER BY next_attempt
                             LIMIT \(Self.resendsPerRound) FOR UPDATE SKIP LOCKED)
                RETURNING \(Self.heldColumns)
                """)
            query.binds.append(now)
            return try await heldMessages(connection, query)
        }
    }

    public func resume(now: Int64) async throws -> Int {
        try await inTransaction(registry: false) { connection in
            for try await count in try await connection.query("SELECT count(*) FROM held_messages WHERE expires_at > \(now)", logger: logger)
                .decode(Int64.self) {
                return Int(count)
            }
            return 0
        }
    }
}
