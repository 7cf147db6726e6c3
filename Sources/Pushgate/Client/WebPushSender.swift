public import WebPush

/// A push subscription as browsers and Pushgate hand it to application servers:
/// `{"endpoint": "...", "keys": {"p256dh": "...", "auth": "..."}}`.
public struct PushSubscriptionInfo: Codable, Sendable {
    /// The push resource URL.
    public var endpoint: String
    /// The subscription's keys.
    public var keys: Keys

    /// The `keys` member.
    public struct Keys: Codable, Sendable {
        /// The device's ECDH public key, base64url.
        public var p256dh: String
        /// The device's auth secret, base64url.
        public var auth: String
    }

    /// Creates subscription info.
    public init(endpoint: String, p256dh: String, auth: String) {
        self.endpoint = endpoint
        self.keys = Keys(p256dh: p256dh, auth: auth)
    }
}

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
