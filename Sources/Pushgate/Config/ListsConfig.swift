/// The `lists` section: multi-device lists and their abuse controls (the aggregation draft's
/// security section: one small request can cause a lot of traffic).
public struct ListsConfig: Sendable, Decodable, Equatable {
    /// `max_members`: members one list may have.
    public var maxMembers = 10_000
    /// `max_lists_per_key`: lists one VAPID key may create.
    public var maxListsPerKey = 100
    /// `max_deliveries_per_second`: fan-out deliveries all keys together may cause per second,
    /// shared equally between the keys pushing to lists: 80 % of what one list push reaches on the
    /// reference host (25,500 deliveries/s on 2 cores, docs/performance.md), so a burst of fan-out
    /// leaves room for single pushes.
    public var maxDeliveriesPerSecond = 20_000
    /// `max_deliveries_per_second_per_key`: fan-out deliveries one VAPID key may cause per second
    /// at most (a push to a list of N members costs N), when it has the host to itself; with
    /// other keys pushing, its share is `max_deliveries_per_second / active keys`. Above its
    /// share, pushes get 429 + Retry-After.
    public var maxDeliveriesPerSecondPerKey = 10_000
    /// `max_document_bytes`: the largest list document (after gzip decoding).
    public var maxDocumentBytes = 4 * 1024 * 1024

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxMembers = "max_members"
        case maxListsPerKey = "max_lists_per_key"
        case maxDeliveriesPerSecondPerKey = "max_deliveries_per_second_per_key"
        case maxDeliveriesPerSecond = "max_deliveries_per_second"
        case maxDocumentBytes = "max_document_bytes"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "lists")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ListsConfig()
        maxMembers = try container.integer(.maxMembers, default: defaults.maxMembers, in: 1...1_000_000)
        maxListsPerKey = try container.integer(.maxListsPerKey, default: defaults.maxListsPerKey, in: 1...1_000_000)
        maxDeliveriesPerSecondPerKey = try container.integer(.maxDeliveriesPerSecondPerKey, default: defaults.maxDeliveriesPerSecondPerKey, in: 1...10_000_000)
        maxDeliveriesPerSecond = try container.integer(.maxDeliveriesPerSecond, default: defaults.maxDeliveriesPerSecond, in: 1...10_000_000)
        maxDocumentBytes = try container.integer(.maxDocumentBytes, default: defaults.maxDocumentBytes, in: 4096...1_073_741_824, unit: " bytes")
    }
}
