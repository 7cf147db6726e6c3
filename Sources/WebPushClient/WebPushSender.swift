public import WebPush

/// An application server's view of sending one Web Push message: encrypt for the subscription
/// (RFC 8291), sign VAPID (RFC 8292), POST to the endpoint (RFC 8030).
public struct WebPushSender: Sendable {
    /// The VAPID signing key.
    public var vapidKey: VAPIDSigningKey
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact.
    public var subject: String?

    /// Creates a sender.
    public init(vapidKey: VAPIDSigningKey, subject: String?) {
        self.vapidKey = vapidKey
        self.subject = subject
    }

    /// The request headers and encrypted body for a message, without sending it.
    public func request(
        _ plaintext: [UInt8],
        to subscription: PushSubscriptionInfo,
        ttl: Int,
        urgency: String? = nil,
        topic: String? = nil
    ) throws -> (headers: [(String, String)], body: [UInt8]) {
        let keys = try WebPushSubscriberKeys(p256dh: subscription.keys.p256dh, auth: subscription.keys.auth)
        let body = try WebPushCrypto.encrypt(plaintext, for: keys)
        let audience = VAPIDVerifier.normalizedOrigin(subscription.endpoint)
        var headers: [(String, String)] = [
            ("TTL", String(ttl)),
            ("Content-Encoding", "aes128gcm"),
            ("Content-Type", "application/octet-stream"),
            ("Authorization", VAPIDToken.authorization(audience: audience, subject: subject, key: vapidKey)),
        ]
        if let urgency { headers.append(("Urgency", urgency)) }
        if let topic { headers.append(("Topic", topic)) }
        return (headers, body)
    }

    /// Encrypts, signs and POSTs one message; returns the push service's response.
    public func send(
        _ plaintext: [UInt8],
        to subscription: PushSubscriptionInfo,
        ttl: Int,
        urgency: String? = nil,
        topic: String? = nil,
        trustRoots: String? = nil
    ) async throws -> HTTPClientResponse {
        let (headers, body) = try request(plaintext, to: subscription, ttl: ttl, urgency: urgency, topic: topic)
        return try await HTTPClient.send(method: "POST", url: subscription.endpoint, headers: headers, body: body, trustRoots: trustRoots)
    }
}
