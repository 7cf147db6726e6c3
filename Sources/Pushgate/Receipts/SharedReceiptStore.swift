/// Receipts in a store several instances share (PostgreSQL). The store, not any instance's
/// memory, is then the truth: a push through one instance may ask for a receipt, another
/// instance may get the device's acknowledgement (MQTT shared subscription), and a third may hold
/// the application server's receipt stream. Each outcome is claimed by one statement (so a
/// receipt is never produced twice), and its commit notifies every instance, so the one holding
/// the stream writes it.
public protocol SharedReceiptStore: ReceiptStore {
    /// The receipt subscription with this id, if it exists.
    func receiptSubscription(id: ReceiptSubscriptionID) async throws -> ReceiptSubscription?
    /// Persists `subscription` unless its creator already has `limit`; returns whether it did.
    func insert(_ subscription: ReceiptSubscription, limit: Int) async throws -> Bool
    /// Persists requests unless the subscription is gone or would exceed `limit` outstanding
    /// (requests plus undelivered receipts).
    func track(_ requests: [ReceiptRequest], limit: Int) async throws -> ReceiptTracking
    /// Turns the request of an acknowledged message into its receipt, if there is one.
    func resolveAcknowledged(_ message: MessageID, at time: Int64) async throws -> Receipt?
    /// Turns every request that expired by `now` into a 410 receipt.
    func resolveExpired(now: Int64) async throws -> [Receipt]
    /// The receipts of a subscription waiting for its application server.
    func undeliveredReceipts(of subscription: ReceiptSubscriptionID) async throws -> [Receipt]
    /// A receipt subscription changed (a new receipt, or it was deleted), through any instance.
    func receiptSignals() -> AsyncStream<ReceiptSubscriptionID>
}

/// What ``SharedReceiptStore/track(_:limit:)`` did.
public enum ReceiptTracking: Sendable, Equatable {
    /// The requests are stored.
    case tracked
    /// The receipt subscription does not exist.
    case unknownSubscription
    /// It has this many outstanding already.
    case full
}
