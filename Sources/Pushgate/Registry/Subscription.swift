public import WebPush

/// A push message subscription (RFC 8030 §4): what the registry keeps per device.
public struct Subscription: Hashable, Sendable {
    /// The subscription resource (`/s/<id>`): private to the user agent, used to delete.
    public let id: SubscriptionID
    /// The push resource (`/p/<token>`): what application servers POST to.
    public let pushToken: PushToken
    /// The MQTT topic level of this subscription. Random too, so the topic reveals neither the
    /// device nor the capability URLs.
    public let topicID: TopicID
    /// The application server key a restricted subscription requires (RFC 8292 §4), or `nil`.
    public let restrictionKey: VAPIDPublicKey?
    /// When it was created, in seconds since 1970.
    public let createdAt: Int64

    /// Creates a subscription record.
    public init(id: SubscriptionID, pushToken: PushToken, topicID: TopicID, restrictionKey: VAPIDPublicKey?, createdAt: Int64) {
        self.id = id
        self.pushToken = pushToken
        self.topicID = topicID
        self.restrictionKey = restrictionKey
        self.createdAt = createdAt
    }

    /// A new subscription with fresh random identifiers.
    public static func make(restrictionKey: VAPIDPublicKey?, now: Int64) -> Subscription {
        Subscription(id: .random(), pushToken: .random(), topicID: .random(), restrictionKey: restrictionKey, createdAt: now)
    }
}
