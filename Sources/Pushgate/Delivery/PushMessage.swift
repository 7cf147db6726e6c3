public import NIOCore

/// RFC 8030 §5.3 urgency, lowest to highest.
public enum Urgency: String, CaseIterable, Sendable, Comparable {
    case veryLow = "very-low"
    case low
    case normal
    case high

    public static func < (lhs: Urgency, rhs: Urgency) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A push as delivery sees it: what to send and under which rules, with nothing of HTTP or MQTT
/// in it. The feature handlers build it from a validated request; ``PushDelivery`` maps it.
public struct PushMessage: Sendable {
    /// The message resource id (`/m/<id>`); every copy of a fan-out has its own.
    public var id: MessageID
    /// The body, byte for byte (aes128gcm ciphertext, or empty).
    public var body: ByteBuffer
    /// Seconds the message may wait for the device, after capping (0: now or never).
    public var ttl: Int
    /// How urgent it is.
    public var urgency: Urgency
    /// The replacement Topic (RFC 8030 §5.4), if any.
    public var topic: String?
    /// The body's content coding (`aes128gcm`), if it has a body.
    public var contentEncoding: String?
    /// When the push service accepted it, seconds since 1970 (P-56).
    public var acceptedAt: Int64

    /// Creates a message.
    public init(id: MessageID, body: ByteBuffer, ttl: Int, urgency: Urgency = .normal, topic: String? = nil,
                contentEncoding: String? = nil, acceptedAt: Int64) {
        self.id = id
        self.body = body
        self.ttl = ttl
        self.urgency = urgency
        self.topic = topic
        self.contentEncoding = contentEncoding
        self.acceptedAt = acceptedAt
    }

    /// When it expires, seconds since 1970.
    public var expiresAt: Int64 { acceptedAt + Int64(ttl) }
}

/// Who receives a push.
public enum Recipient: Sendable {
    /// One subscription; `encryptedKey` is a list member's wrapped group key.
    case subscription(Subscription, encryptedKey: String? = nil)
    /// An admin broadcast route: one publish to a fixed topic, the broker fans it out.
    case broadcast(topic: String)
}

/// Where a device listens and acknowledges (the subscribe response shows them).
public struct DeviceEndpoints: Sendable, Hashable {
    /// The filter a device subscribes to for every message of the subscription.
    public var messageFilter: String
    /// Where the device acknowledges a message, and says "ready" for this subscription.
    public var acknowledgementTopic: String
    /// The filter for every subscription of the set, if it is in one.
    public var setFilter: String?
    /// Where the device says "ready" for every subscription of the set.
    public var setAcknowledgementTopic: String?
}
