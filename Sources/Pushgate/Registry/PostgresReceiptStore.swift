import NIOCore
import PostgresNIO
import WebPush

/// Receipts shared by several instances (``SharedReceiptStore``). Each outcome is claimed with a
/// `DELETE … RETURNING` on the request, so exactly one instance turns it into a receipt, and the
/// same transaction sends `NOTIFY pushgate_receipts '<receipt subscription id>'`.
extension PostgresRegistryStore: SharedReceiptStore {
    /// The channel of receipt notifications.
    static let receiptChannel = "pushgate_receipts"

    public func receiptSubscription(id: ReceiptSubscriptionID) async throws -> ReceiptSubscription? {
        try await inTransaction(registry: false) { connection in
            for try await (key, createdAt) in try await connection.query(
                "SELECT creator_key, created_at FROM receipt_subscriptions WHERE id = \(id.rawValue)", logger: logger).decode((ByteBuffer, Int64).self) {
                guard let creator = try? VAPIDPublicKey(rawBytes: key.readableBytesView) else { return nil }
                return ReceiptSubscription(id: id, creatorKey: creator, createdAt: createdAt)
            }
            return nil
        }
    }

    public func insert(_ subscription: ReceiptSubscription, limit: Int) async throws -> Bool {
        try await inTransaction(registry: false) { connection in
            let key = ByteBuffer(bytes: subscription.creatorKey.rawBytes)
            // One creator's inserts one at a time, cluster-wide, so the count stays a bound.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(encode(\(key), 'hex'), 1))", logger: logger)
            for try await count in try await connection.query(
                "SELECT count(*) FROM receipt_subscriptions WHERE creator_key = \(key)", logger: logger).decode(Int64.self) where count >= limit {
                return false
            }
            try await connection.query("""
                INSERT INTO receipt_subscriptions (id, creator_key, created_at) VALUES (\(subscription.id.rawValue), \(key), \(subscription.createdAt))
                """, logger: logger)
            return true
        }
    }

    public func track(_ requests: [ReceiptRequest], limit: Int) async throws -> ReceiptTracking {
        guard let subscription = requests.first?.subscription else { return .tracked }
        return try await inTransaction(registry: false) { connection in
            // The subscription's row lock orders its trackers and keeps a delete from slipping between.
            var exists = false
            for try await _ in try await connection.query(
                "SELECT id FROM receipt_subscriptions WHERE id = \(subscription.rawValue) FOR UPDATE", logger: logger).decode(String.self) {
                exists = true
            }
            guard exists else { return .unknownSubscription }
            for try await pending in try await connection.query("""
                SELECT (SELECT count(*) FROM receipt_requests WHERE subscription_id = \(subscription.rawValue))
                     + (SELECT count(*) FROM receipts WHERE subscription_id = \(subscription.rawValue))
                """, logger: logger).decode(Int64.self) where pending + Int64(requests.count) > limit {
                return .full
            }
            try await connection.query("""
                INSERT INTO receipt_requests (message_id, subscription_id, expires_at)
                SELECT * FROM unnest(\(requests.map(\.message.rawValue))::text[], \(requests.map(\.subscription.rawValue))::text[],
                                     \(requests.map(\.expiresAt))::bigint[])
                """, logger: logger)
            return .tracked
        }
    }

    public func resolveAcknowledged(_ message: MessageID, at time: Int64) async throws -> Receipt? {
        try await resolve("DELETE FROM receipt_requests WHERE message_id = \(message.rawValue) RETURNING subscription_id, message_id",
                          status: .acknowledged, at: time).first
    }

    public func resolveExpired(now: Int64) async throws -> [Receipt] {
        try await resolve("DELETE FROM receipt_requests WHERE expires_at <= \(now) RETURNING subscription_id, message_id", status: .expired, at: now)
    }

    /// Claims requests (the query deletes and returns them) and records their receipts, in one
    /// transaction that notifies their subscriptions.
    private func resolve(_ claim: PostgresQuery, status: Receipt.Status, at time: Int64) async throws -> [Receipt] {
        try await inTransaction(registry: false) { connection in
            var receipts: [Receipt] = []
            for try await (subscription, message) in try await connection.query(claim, logger: logger).decode((String, String).self) {
                receipts.append(Receipt(subscription: ReceiptSubscriptionID(trusted: subscription), message: MessageID(trusted: message), status: status, at: time))
            }
            guard !receipts.isEmpty else { return [] }
            try await connection.query("""
                INSERT INTO receipts (subscription_id, message_id, status, at)
                SELECT * FROM unnest(\(receipts.map(\.subscription.rawValue))::text[], \(receipts.map(\.message.rawValue))::text[],
                                     \(receipts.map(\.status.rawValue))::integer[], \(receipts.map(\.at))::bigint[])
                ON CONFLICT (subscription_id, message_id) DO NOTHING
                """, logger: logger)
            for subscription in Set(receipts.map(\.subscription.rawValue)) {
                try await connection.query("SELECT pg_notify(\(Self.receiptChannel), \(subscription))", logger: logger)
            }
            return receipts
        }
    }

    public func undeliveredReceipts(of subscription: ReceiptSubscriptionID) async throws -> [Receipt] {
        try await inTransaction(registry: false) { connection in
            var receipts: [Receipt] = []
            for try await (message, status, at) in try await connection.query(
                "SELECT message_id, status, at FROM receipts WHERE subscription_id = \(subscription.rawValue) ORDER BY at, message_id",
                logger: logger).decode((String, Int, Int64).self) {
                guard let status = Receipt.Status(rawValue: status) else { continue }
                receipts.append(Receipt(subscription: subscription, message: MessageID(trusted: message), status: status, at: at))
            }
            return receipts
        }
    }

    /// Deletes a receipt subscription and tells every instance (their streams on it end).
    func notifyReceiptSubscriptionDeleted(_ connection: PostgresConnection, _ id: ReceiptSubscriptionID) async throws {
        try await connection.query("SELECT pg_notify(\(Self.receiptChannel), \(id.rawValue))", logger: logger)
    }
}
