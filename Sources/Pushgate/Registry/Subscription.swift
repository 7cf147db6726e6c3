public import WebPush

/// A push message subscription (RFC 8030 §4): what the registry keeps per device.
public struct Subscription: Hashable, Sendable {
    /// The subscription resource token (`/s/<id>`): private to the user agent, used to delete.
    public let id: String
    /// The push resource token (`/p/<token>`): what application servers POST to.
    public let pushToken: String
    /// The MQTT topic level of this subscription (`<prefix>/<topicID>/…`). Random too, so the
    /// topic reveals neither the device nor the capability URLs.
    public let topicID: String
    /// The application server key a restricted subscription requires (RFC 8292 §4), or `nil`.
    public let restrictionKey: VAPIDPublicKey?
    /// When it was created, in seconds since 1970.
    public let createdAt: Int64

    /// Creates a subscription record.
    public init(id: String, pushToken: String, topicID: String, restrictionKey: VAPIDPublicKey?, createdAt: Int64) {
        self.id = id
        self.pushToken = pushToken
        self.topicID = topicID
        self.restrictionKey = restrictionKey
        self.createdAt = createdAt
    }

    /// A new subscription with fresh random tokens.
    public static func make(restrictionKey: VAPIDPublicKey?, now: Int64) -> Subscription {
        Subscription(
            id: CapabilityToken.make(), pushToken: CapabilityToken.make(), topicID: CapabilityToken.make(),
            restrictionKey: restrictionKey, createdAt: now
        )
    }
}
