/// The `access` section: who may subscribe and push.
public struct AccessConfig: Sendable, Decodable, Equatable {
    /// `require_vapid`: refuse pushes without valid VAPID credentials even on unrestricted
    /// subscriptions (RFC 8292 §2 allows it).
    public var requireVAPID = false
    /// `subscribe_tokens`: when non-empty, `POST /subscribe` needs `Authorization: Bearer <token>`
    /// with one of these.
    public var subscribeTokens: [String] = []

    /// The defaults: open subscribe, VAPID only where a subscription is restricted.
    public init() {}

    /// Access rules given in code.
    public init(requireVAPID: Bool, subscribeTokens: [String]) {
        self.requireVAPID = requireVAPID
        self.subscribeTokens = subscribeTokens
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requireVAPID = "require_vapid"
        case subscribeTokens = "subscribe_tokens"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "access")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requireVAPID = try container.decodeIfPresent(Bool.self, forKey: .requireVAPID) ?? false
        subscribeTokens = try container.decodeIfPresent([String].self, forKey: .subscribeTokens) ?? []
        if subscribeTokens.contains(where: { $0.count < 16 }) {
            throw decoder.invalid(CodingKeys.subscribeTokens, "subscribe tokens must be at least 16 characters",
                                  hint: "generate one with: openssl rand -base64 24")
        }
    }
}
