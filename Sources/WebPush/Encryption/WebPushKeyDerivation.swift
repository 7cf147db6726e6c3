public import Crypto

/// The RFC 8291 §3.3–3.4 key combination: from an ECDH secret and the auth secret to the input
/// keying material that RFC 8188 then uses with the message's salt.
///
/// ```
/// PRK_key  = HMAC-SHA-256(auth_secret, ecdh_secret)
/// key_info = "WebPush: info" ‖ 0x00 ‖ ua_public ‖ as_public
/// IKM      = HMAC-SHA-256(PRK_key, key_info ‖ 0x01)
/// ```
/// Every intermediate is kept so that RFC 8291 Appendix A can be checked value by value.
public struct WebPushKeyDerivation: Sendable {
    /// The raw ECDH shared secret (the x coordinate).
    public let ecdhSecret: [UInt8]
    /// `PRK_key`.
    public let authPseudorandomKey: [UInt8]
    /// `key_info`.
    public let keyInfo: [UInt8]
    /// `IKM`, the input keying material for RFC 8188.
    public let inputKeyingMaterial: [UInt8]

    /// Combines the keys; `userAgentPublicKey` and `applicationServerPublicKey` are the
    /// 65-octet uncompressed points.
    public init(ecdhSecret: [UInt8], authSecret: [UInt8], userAgentPublicKey: [UInt8], applicationServerPublicKey: [UInt8]) {
        self.ecdhSecret = ecdhSecret
        self.authPseudorandomKey = HKDFSHA256.extract(salt: authSecret, inputKeyingMaterial: ecdhSecret)
        self.keyInfo = Array("WebPush: info".utf8) + [0] + userAgentPublicKey + applicationServerPublicKey
        self.inputKeyingMaterial = HKDFSHA256.expand(pseudorandomKey: authPseudorandomKey, info: keyInfo, length: 32)
    }

    /// The sender's side: its (ephemeral) private key and the subscriber's public keys.
    public init(sender: P256.KeyAgreement.PrivateKey, subscriber: WebPushSubscriberKeys) throws(WebPushCryptoError) {
        let secret = try Self.agree(sender, subscriber.publicKey)
        self.init(
            ecdhSecret: secret,
            authSecret: subscriber.authSecret,
            userAgentPublicKey: Array(subscriber.publicKey.x963Representation),
            applicationServerPublicKey: Array(sender.publicKey.x963Representation)
        )
    }

    /// The receiver's side: its private key and the sender's public key from the key id.
    public init(receiver: WebPushReceiverKeys, senderPublicKey: P256.KeyAgreement.PublicKey) throws(WebPushCryptoError) {
        let secret = try Self.agree(receiver.privateKey, senderPublicKey)
        self.init(
            ecdhSecret: secret,
            authSecret: receiver.authSecret,
            userAgentPublicKey: Array(receiver.privateKey.publicKey.x963Representation),
            applicationServerPublicKey: Array(senderPublicKey.x963Representation)
        )
    }

    private static func agree(_ privateKey: P256.KeyAgreement.PrivateKey, _ publicKey: P256.KeyAgreement.PublicKey) throws(WebPushCryptoError) -> [UInt8] {
        do {
            return try privateKey.sharedSecretFromKeyAgreement(with: publicKey).withUnsafeBytes { Array($0) }
        } catch {
            throw .keyAgreementFailed
        }
    }
}
