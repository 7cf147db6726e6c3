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

        /// Creates the keys member.
        public init(p256dh: String, auth: String) {
            self.p256dh = p256dh
            self.auth = auth
        }
    }

    /// Creates subscription info.
    public init(endpoint: String, p256dh: String, auth: String) {
        self.endpoint = endpoint
        self.keys = Keys(p256dh: p256dh, auth: auth)
    }
}

