import Crypto

/// A content key shared by the members of a multi-device list.
///
/// The application server encrypts one message for the whole list with RFC 8188 under this key,
/// and gives each member the key wrapped for it with RFC 8291 (the member's `encrypted_key`).
/// The push service forwards the one ciphertext to every member together with that member's
/// `encrypted_key`; each device unwraps the key with its own subscription keys and decrypts.
/// This is the aggregate draft's "one CEK, wrapped per recipient", expressed in RFC 8291 terms
/// instead of JWE.
///
/// The key id written into list messages is ``identifier``, so a device in several lists can tell
/// which key a message needs.
public struct GroupKey: Hashable, Sendable {
    /// Length of a group key, in octets.
    public static let length = 16

    /// The 16 key octets (RFC 8188 input keying material).
    public let bytes: [UInt8]

    /// Wraps existing key octets.
    public init(bytes: [UInt8]) throws(ContentCodingError) {
        guard bytes.count == Self.length else { throw .invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// A new random key.
    public static func generate() -> GroupKey {
        // A fresh salt is 16 random octets, exactly a key's length.
        try! GroupKey(bytes: WebPushCrypto.randomSalt())
    }

    /// The first 8 octets of SHA-256 of the key: names the key without revealing it.
    public var identifier: [UInt8] { Array(SHA256.hash(data: bytes).prefix(8)) }

    /// The key encrypted for one member (RFC 8291), base64url: the member's `encrypted_key`.
    public func wrapped(for member: WebPushSubscriberKeys) throws(WebPushCryptoError) -> String {
        Base64URL.encode(try WebPushCrypto.encrypt(bytes, for: member))
    }

    /// Recovers the key on a member device from its `encrypted_key`.
    public static func unwrap(_ encryptedKey: String, with receiver: WebPushReceiverKeys) throws(WebPushCryptoError) -> GroupKey {
        let body: [UInt8]
        do { body = try Base64URL.decode(encryptedKey) } catch { throw .contentCoding(.truncatedHeader(length: 0)) }
        let key = try WebPushCrypto.decrypt(body, with: receiver)
        do { return try GroupKey(bytes: key) } catch { throw .contentCoding(error) }
    }

    /// Encrypts a list message (RFC 8188, key id = ``identifier``, one record by default).
    public func encrypt(_ plaintext: [UInt8], paddingLength: Int = 0, recordSize: UInt32 = WebPushCrypto.defaultRecordSize) throws(ContentCodingError) -> [UInt8] {
        try ContentCoding.encrypt(
            plaintext, inputKeyingMaterial: bytes, salt: WebPushCrypto.randomSalt(),
            recordSize: recordSize, keyID: identifier, paddingLength: paddingLength, maximumRecords: 1
        )
    }

    /// Decrypts a list message.
    public func decrypt(_ body: [UInt8]) throws(ContentCodingError) -> [UInt8] {
        try ContentCoding.decrypt(body, inputKeyingMaterial: bytes)
    }
}
