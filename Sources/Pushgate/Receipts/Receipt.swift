public import WebPush

/// A receipt subscription (RFC 8030 §5.1): where an application server collects the receipts of
/// the pushes that name it.
public struct ReceiptSubscription: Hashable, Sendable {
    /// The receipt subscription resource (`/rs/<id>`).
    public let id: ReceiptSubscriptionID
    /// The VAPID key that created it (receipt subscriptions per key are bounded).
    public let creatorKey: VAPIDPublicKey
    /// When it was created, seconds since 1970.
    public let createdAt: Int64

    /// Creates a record.
    public init(id: ReceiptSubscriptionID, creatorKey: VAPIDPublicKey, createdAt: Int64) {
        self.id = id
        self.creatorKey = creatorKey
        self.createdAt = createdAt
    }
}

/// One receipt (RFC 8030 §6.3): the message it is about and what became of it.
public struct Receipt: Hashable, Sendable {
    /// What became of the message.
    public enum Status: Int, Sendable {
        /// The device acknowledged it (P-59).
        case acknowledged = 204
        /// It expired unacknowledged (P-60).
        case expired = 410
    }

    /// The receipt subscription it is for.
    public let subscription: ReceiptSubscriptionID
    /// The message.
    public let message: MessageID
    /// Acknowledged or expired.
    public let status: Status
    /// When, seconds since 1970.
    public let at: Int64

    /// Creates a receipt.
    public init(subscription: ReceiptSubscriptionID, message: MessageID, status: Status, at: Int64) {
        self.subscription = subscription
        self.message = message
        self.status = status
        self.at = at
    }
}

/// A push that asked for a receipt and has none yet.
public struct ReceiptRequest: Hashable, Sendable {
    /// The message (for a list push: one member's copy).
    public let message: MessageID
    /// Where its receipt goes.
    public let subscription: ReceiptSubscriptionID
    /// When the message expires: unacknowledged by then, its receipt is 410.
    public let expiresAt: Int64

    /// Creates a request.
    public init(message: MessageID, subscription: ReceiptSubscriptionID, expiresAt: Int64) {
        self.message = message
        self.subscription = subscription
        self.expiresAt = expiresAt
    }
}

/// Durable storage of receipt subscriptions, outstanding requests and undelivered receipts (the
/// registry's store implements it): receipts wait here while the application server is away,
/// and survive a restart.
public protocol ReceiptStore: Sendable {
    /// Persists a new receipt subscription.
    func insert(_ subscription: ReceiptSubscription) async throws
    /// Deletes a receipt subscription with its requests and receipts.
    func deleteReceiptSubscription(id: ReceiptSubscriptionID) async throws
    /// Persists requests (before their messages are sent).
    func insert(_ requests: [ReceiptRequest]) async throws
    /// Forgets requests (their messages were not sent after all).
    func removeRequests(_ messages: [MessageID]) async throws
    /// Turns requests into receipts, atomically.
    func resolve(_ receipts: [Receipt]) async throws
    /// Forgets receipts the application server has been given.
    func removeReceipts(_ receipts: [Receipt]) async throws
    /// Everything: subscriptions, outstanding requests, undelivered receipts.
    func loadReceipts() async throws -> (subscriptions: [ReceiptSubscription], requests: [ReceiptRequest], receipts: [Receipt])
}
