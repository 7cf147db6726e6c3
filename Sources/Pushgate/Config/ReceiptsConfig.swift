/// The `receipts` section: bounds on delivery receipts (RFC 8030 §5.1).
public struct ReceiptsConfig: Sendable, Decodable, Equatable {
    /// `max_subscriptions_per_key`: receipt subscriptions one VAPID key may create (403 above).
    public var maxSubscriptionsPerKey = 100
    /// `max_pending_per_subscription`: receipts one receipt subscription may have outstanding —
    /// requested and not yet resolved, or resolved and not yet collected (429 above).
    public var maxPendingPerSubscription = 10_000

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxSubscriptionsPerKey = "max_subscriptions_per_key"
        case maxPendingPerSubscription = "max_pending_per_subscription"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "receipts")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ReceiptsConfig()
        maxSubscriptionsPerKey = try container.integer(.maxSubscriptionsPerKey, default: defaults.maxSubscriptionsPerKey, in: 1...1_000_000)
        maxPendingPerSubscription = try container.integer(.maxPendingPerSubscription, default: defaults.maxPendingPerSubscription, in: 1...10_000_000)
    }
}
