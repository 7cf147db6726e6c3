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
    /// The subscription set it belongs to (RFC 8030 §4.1); `nil` for subscriptions made before
    /// sets existed, which keep their topics.
    public let set: SubscriptionSet?

    /// Creates a subscription record.
    public init(id: SubscriptionID, pushToken: PushToken, topicID: TopicID, restrictionKey: VAPIDPublicKey?, createdAt: Int64,
                set: SubscriptionSet? = nil) {
        self.id = id
        self.pushToken = pushToken
        self.topicID = topicID
        self.restrictionKey = restrictionKey
        self.createdAt = createdAt
        self.set = set
    }

    /// A new subscription with fresh random identifiers, in `set`.
    public static func make(restrictionKey: VAPIDPublicKey?, now: Int64, set: SubscriptionSet? = nil) -> Subscription {
        Subscription(id: .random(), pushToken: .random(), topicID: .random(), restrictionKey: restrictionKey, createdAt: now, set: set)
    }
}

/// A subscription set (RFC 8030 §4.1): the subscriptions of one device, under one MQTT topic
/// prefix, so one filter receives the pushes of every application the device subscribes for.
public struct SubscriptionSet: Hashable, Sendable {
    /// The set resource (`/set/<id>`): what a subscribe request presents to join it.
    public let id: SetID
    /// The MQTT topic level every member's topics sit under (random, like a subscription's).
    public let topicID: TopicID
    /// When it was created, in seconds since 1970.
    public let createdAt: Int64

    /// Creates a set record.
    public init(id: SetID, topicID: TopicID, createdAt: Int64) {
        self.id = id
        self.topicID = topicID
        self.createdAt = createdAt
    }

    /// A new set with fresh random identifiers.
    public static func make(now: Int64) -> SubscriptionSet {
        SubscriptionSet(id: .random(), topicID: .random(), createdAt: now)
    }
}
