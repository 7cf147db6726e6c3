public import Crypto

/// What an application server holds for one subscription: the user agent's ECDH public key
/// (`p256dh`) and its 16-octet authentication secret (`auth`), RFC 8291 §2.
public struct WebPushSubscriberKeys: Sendable {
    /// The user agent's P-256 public key.
    public let publicKey: P256.KeyAgreement.PublicKey
    /// The 16-octet authentication secret.
    public let authSecret: [UInt8]

    /// Validates and wraps a public key and auth secret.
    public init(publicKey: P256.KeyAgreement.PublicKey, authSecret: [UInt8]) throws(WebPushCryptoError) {
        guard authSecret.count == WebPushCrypto.authSecretLength else { throw .invalidAuthSecret(length: authSecret.count) }
        self.publicKey = publicKey
        self.authSecret = authSecret
    }

    /// Parses the base64url `p256dh` (65-octet uncompressed point) and `auth` values of a
    /// `PushSubscription`'s `keys`, as browsers and web-push libraries exchange them.
    public init(p256dh: String, auth: String) throws(WebPushCryptoError) {
        let publicKey = try WebPushCrypto.publicKey(fromBase64URL: p256dh)
        let authSecret: [UInt8]
        do { authSecret = try Base64URL.decode(auth) } catch { throw .invalidAuthSecret(length: -1) }
        try self.init(publicKey: publicKey, authSecret: authSecret)
    }

    /// The public key as base64url of its 65-octet uncompressed form.
    public var p256dh: String { Base64URL.encode(publicKey.x963Representation) }
    /// The auth secret as base64url.
    public var auth: String { Base64URL.encode(authSecret) }
}

/// What a user agent (a device) keeps secret for one subscription: its ECDH private key and the
/// auth secret. It hands ``subscriberKeys`` to the application server.
public struct WebPushReceiverKeys: Sendable {
    /// The device's P-256 private key.
    public let privateKey: P256.KeyAgreement.PrivateKey
    /// The 16-octet authentication secret.
    public let authSecret: [UInt8]

    /// Wraps an existing key pair and auth secret.
    public init(privateKey: P256.KeyAgreement.PrivateKey, authSecret: [UInt8]) throws(WebPushCryptoError) {
        guard authSecret.count == WebPushCrypto.authSecretLength else { throw .invalidAuthSecret(length: authSecret.count) }
        self.privateKey = privateKey
        self.authSecret = authSecret
    }

    /// Parses a base64url raw 32-octet private key and auth secret.
    public init(privateKey: String, authSecret: String) throws(WebPushCryptoError) {
        let key: P256.KeyAgreement.PrivateKey
        do { key = try P256.KeyAgreement.PrivateKey(rawRepresentation: Base64URL.decode(privateKey)) } catch {
            throw .invalidPrivateKey
        }
        let auth: [UInt8]
        do { auth = try Base64URL.decode(authSecret) } catch { throw .invalidAuthSecret(length: -1) }
        try self.init(privateKey: key, authSecret: auth)
    }

    /// A fresh key pair and random auth secret, as a browser creates for a new subscription.
    public static func generate() -> WebPushReceiverKeys {
        var generator = SystemRandomNumberGenerator()
        let auth = (0..<WebPushCrypto.authSecretLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // Both values are valid by construction.
        return try! WebPushReceiverKeys(privateKey: P256.KeyAgreement.PrivateKey(), authSecret: auth)
    }

    /// The public half, for the application server.
    public var subscriberKeys: WebPushSubscriberKeys {
        try! WebPushSubscriberKeys(publicKey: privateKey.publicKey, authSecret: authSecret)
    }
}
