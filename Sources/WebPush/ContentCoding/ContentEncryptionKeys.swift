import Crypto

/// The content-encryption key and base nonce of RFC 8188 §2.2–2.3, derived from input keying
/// material and a salt.
///
/// ```
/// PRK   = HMAC-SHA-256(salt, IKM)
/// CEK   = HMAC-SHA-256(PRK, "Content-Encoding: aes128gcm" ‖ 0x00 ‖ 0x01)[0..<16]
/// NONCE = HMAC-SHA-256(PRK, "Content-Encoding: nonce" ‖ 0x00 ‖ 0x01)[0..<12]
/// ```
public struct ContentEncryptionKeys: Sendable {
    /// `"Content-Encoding: aes128gcm" ‖ 0x00`.
    public static let cekInfo: [UInt8] = Array("Content-Encoding: aes128gcm".utf8) + [0]
    /// `"Content-Encoding: nonce" ‖ 0x00`.
    public static let nonceInfo: [UInt8] = Array("Content-Encoding: nonce".utf8) + [0]

    /// The pseudorandom key extracted from the salt and the input keying material.
    public let pseudorandomKey: [UInt8]
    /// The 16-octet AES-128-GCM key.
    public let contentEncryptionKey: [UInt8]
    /// The 12-octet nonce of record 0; record `i` uses it XOR `i`.
    public let baseNonce: [UInt8]

    /// Derives the keys for `inputKeyingMaterial` and a 16-octet `salt`.
    public init(inputKeyingMaterial: [UInt8], salt: [UInt8]) {
        let prk = HKDFSHA256.extract(salt: salt, inputKeyingMaterial: inputKeyingMaterial)
        self.pseudorandomKey = prk
        self.contentEncryptionKey = HKDFSHA256.expand(pseudorandomKey: prk, info: Self.cekInfo, length: 16)
        self.baseNonce = HKDFSHA256.expand(pseudorandomKey: prk, info: Self.nonceInfo, length: 12)
    }

    /// The nonce of record `sequenceNumber`: the base nonce XOR the sequence number as a
    /// 96-bit big-endian integer.
    public func nonce(forRecord sequenceNumber: Int) -> [UInt8] {
        var nonce = baseNonce
        var remaining = UInt64(sequenceNumber)
        var index = nonce.count - 1
        while remaining > 0 && index >= 0 {
            nonce[index] ^= UInt8(truncatingIfNeeded: remaining)
            remaining >>= 8
            index -= 1
        }
        return nonce
    }
}

/// HKDF with SHA-256 in the single-block form RFC 8188 and RFC 8291 use (at most 32 octets out).
///
/// Written out with HMAC rather than `Crypto.HKDF` so that each intermediate value of the RFC
/// test vectors (PRK, IKM, CEK, nonce) can be checked on its own.
enum HKDFSHA256 {
    static func extract(salt: [UInt8], inputKeyingMaterial: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: inputKeyingMaterial, using: SymmetricKey(data: salt)))
    }

    static func expand(pseudorandomKey: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length <= 32, "single-block HKDF-Expand yields at most 32 octets")
        let block = HMAC<SHA256>.authenticationCode(for: info + [1], using: SymmetricKey(data: pseudorandomKey))
        return Array(Array(block).prefix(length))
    }
}
