public import Crypto

/// RFC 8291 message encryption for Web Push: `aes128gcm` (RFC 8188) keyed by ECDH between an
/// ephemeral sender key and the subscription's `p256dh`, mixed with its `auth` secret.
///
/// A Web Push message is one record (`rs` 4096 by default) whose key id is the sender's
/// 65-octet public key, so the header is 86 octets and 4096 octets of body carry up to 3993
/// octets of plaintext.
public enum WebPushCrypto {
    /// Length of the `auth` secret.
    public static let authSecretLength = 16
    /// Length of an uncompressed P-256 point.
    public static let publicKeyLength = 65
    /// Length of the header of a Web Push message: 21 + 65.
    public static let headerLength = ContentCodingHeader.fixedLength + publicKeyLength
    /// The default and usual record size.
    public static let defaultRecordSize: UInt32 = 4096

    /// Encrypts `plaintext` for a subscription with a fresh ephemeral key and random salt.
    ///
    /// - Parameter paddingLength: zero octets added to hide the plaintext's length.
    /// - Throws: ``WebPushCryptoError/contentCoding(_:)`` if the message does not fit one record.
    public static func encrypt(
        _ plaintext: [UInt8],
        for subscriber: WebPushSubscriberKeys,
        paddingLength: Int = 0,
        recordSize: UInt32 = defaultRecordSize
    ) throws(WebPushCryptoError) -> [UInt8] {
        try encrypt(
            plaintext, for: subscriber, senderPrivateKey: P256.KeyAgreement.PrivateKey(),
            salt: randomSalt(), paddingLength: paddingLength, recordSize: recordSize
        )
    }

    /// Encrypts with a given sender key and salt. Use only for tests and reproducible vectors:
    /// reusing a salt with the same keys breaks the encryption.
    public static func encrypt(
        _ plaintext: [UInt8],
        for subscriber: WebPushSubscriberKeys,
        senderPrivateKey: P256.KeyAgreement.PrivateKey,
        salt: [UInt8],
        paddingLength: Int = 0,
        recordSize: UInt32 = defaultRecordSize
    ) throws(WebPushCryptoError) -> [UInt8] {
        let derivation = try WebPushKeyDerivation(sender: senderPrivateKey, subscriber: subscriber)
        do {
            return try ContentCoding.encrypt(
                plaintext,
                inputKeyingMaterial: derivation.inputKeyingMaterial,
                salt: salt,
                recordSize: recordSize,
                keyID: Array(senderPrivateKey.publicKey.x963Representation),
                paddingLength: paddingLength,
                maximumRecords: 1
            )
        } catch {
            throw .contentCoding(error)
        }
    }

    /// Decrypts a Web Push message on the device.
    ///
    /// - Throws: ``WebPushCryptoError/invalidKeyID`` if the header's key id is not a P-256
    ///   point, or ``WebPushCryptoError/contentCoding(_:)`` for a malformed or forged body.
    public static func decrypt(_ body: [UInt8], with receiver: WebPushReceiverKeys) throws(WebPushCryptoError) -> [UInt8] {
        let header: ContentCodingHeader
        do { header = try ContentCodingHeader(parsing: body) } catch { throw .contentCoding(error) }
        let senderKey: P256.KeyAgreement.PublicKey
        do { senderKey = try P256.KeyAgreement.PublicKey(x963Representation: header.keyID) } catch {
            throw .invalidKeyID
        }
        let derivation = try WebPushKeyDerivation(receiver: receiver, senderPublicKey: senderKey)
        do {
            return try ContentCoding.decrypt(body, inputKeyingMaterial: derivation.inputKeyingMaterial)
        } catch {
            throw .contentCoding(error)
        }
    }

    /// Parses a base64url uncompressed P-256 public key (`p256dh`, or a key id).
    public static func publicKey(fromBase64URL string: String) throws(WebPushCryptoError) -> P256.KeyAgreement.PublicKey {
        let bytes: [UInt8]
        do { bytes = try Base64URL.decode(string) } catch { throw .invalidPublicKey }
        guard bytes.count == publicKeyLength, bytes.first == 0x04 else { throw .invalidPublicKey }
        do { return try P256.KeyAgreement.PublicKey(x963Representation: bytes) } catch { throw .invalidPublicKey }
    }

    /// 16 random octets from the system's secure generator.
    public static func randomSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<ContentCodingHeader.saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// Why an RFC 8291 operation failed.
public enum WebPushCryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `p256dh` is not a base64url 65-octet uncompressed P-256 point.
    case invalidPublicKey
    /// A private key that is not a valid raw 32-octet P-256 scalar.
    case invalidPrivateKey
    /// `auth` is not base64url of 16 octets (-1: not base64url at all).
    case invalidAuthSecret(length: Int)
    /// The message's key id is not the sender's uncompressed P-256 public key.
    case invalidKeyID
    /// ECDH failed.
    case keyAgreementFailed
    /// The RFC 8188 layer failed (malformed, forged, or too large).
    case contentCoding(ContentCodingError)

    public var description: String {
        switch self {
        case .invalidPublicKey: "p256dh must be base64url of a 65-octet uncompressed P-256 point"
        case .invalidPrivateKey: "private key must be base64url of a 32-octet P-256 scalar"
        case .invalidAuthSecret(let length) where length < 0: "auth secret is not base64url"
        case .invalidAuthSecret(let length): "auth secret must be 16 octets, not \(length)"
        case .invalidKeyID: "key id is not a 65-octet uncompressed P-256 point"
        case .keyAgreementFailed: "ECDH key agreement failed"
        case .contentCoding(let error): error.description
        }
    }
}
