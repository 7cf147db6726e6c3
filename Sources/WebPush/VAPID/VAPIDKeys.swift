public import Crypto

/// An application server's VAPID public key: an ECDSA P-256 key, exchanged as base64url of its
/// 65-octet uncompressed form (RFC 8292 §3.2). Two keys are equal when their octets are equal.
public struct VAPIDPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The 65-octet uncompressed point `0x04 ‖ X ‖ Y`.
    public let rawBytes: [UInt8]
    /// The key, ready for signature checks.
    public let signingKey: P256.Signing.PublicKey

    /// Wraps a CryptoKit public key.
    public init(_ key: P256.Signing.PublicKey) {
        self.signingKey = key
        self.rawBytes = Array(key.x963Representation)
    }

    /// Parses base64url of a 65-octet uncompressed P-256 point, as in `k=` and in the
    /// `"vapid"` member of a restricted subscribe request.
    ///
    /// - Throws: ``VAPIDError/invalidKey`` for anything else (compressed points, points not on
    ///   the curve, wrong length, not base64url).
    public init(base64URL: some StringProtocol) throws(VAPIDError) {
        let bytes: [UInt8]
        do { bytes = try Base64URL.decode(base64URL) } catch { throw .invalidKey }
        try self.init(rawBytes: bytes)
    }

    /// Parses a 65-octet uncompressed P-256 point (as a registry stores it).
    ///
    /// - Throws: ``VAPIDError/invalidKey`` for anything else (compressed points, points not on
    ///   the curve, wrong length).
    public init(rawBytes: some Collection<UInt8>) throws(VAPIDError) {
        let bytes = Array(rawBytes)
        guard bytes.count == 65, bytes[0] == 0x04 else { throw .invalidKey }
        do { signingKey = try P256.Signing.PublicKey(x963Representation: bytes) } catch { throw .invalidKey }
        self.rawBytes = bytes
    }

    /// Base64url of the uncompressed point: the `applicationServerKey` of the Push API.
    public var base64URL: String { Base64URL.encode(rawBytes) }

    public var description: String { base64URL }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.rawBytes == rhs.rawBytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawBytes) }
}

/// An application server's VAPID signing key.
public struct VAPIDSigningKey: Sendable {
    /// The private key.
    public let privateKey: P256.Signing.PrivateKey

    /// Wraps a CryptoKit private key.
    public init(_ privateKey: P256.Signing.PrivateKey) { self.privateKey = privateKey }

    /// A new random key.
    public static func generate() -> VAPIDSigningKey { VAPIDSigningKey(P256.Signing.PrivateKey()) }

    /// Parses a private key in any form web-push tooling writes: base64url of the raw 32-octet
    /// scalar (web-push for Node, webpush-go), base64url of DER (py-vapid), or PEM
    /// (`openssl ecparam`, py-vapid's `private_key.pem`).
    public init(string: String) throws(VAPIDError) {
        let trimmed = string.trimmingWhitespace()
        if trimmed.hasPrefix("-----BEGIN") {
            do { privateKey = try P256.Signing.PrivateKey(pemRepresentation: String(trimmed)) } catch { throw .invalidPrivateKey }
            return
        }
        let bytes: [UInt8]
        do { bytes = try Base64URL.decode(trimmed) } catch { throw .invalidPrivateKey }
        if bytes.count == 32, let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) {
            privateKey = key
        } else if let key = try? P256.Signing.PrivateKey(derRepresentation: bytes) {
            privateKey = key
        } else {
            throw .invalidPrivateKey
        }
    }

    /// The public half, which subscriptions are restricted to.
    public var publicKey: VAPIDPublicKey { VAPIDPublicKey(privateKey.publicKey) }
    /// Base64url of the raw 32-octet scalar (the form web-push for Node prints).
    public var base64URLRawPrivateKey: String { Base64URL.encode(privateKey.rawRepresentation) }
    /// PKCS#8 PEM (the form py-vapid and OpenSSL read).
    public var pemPrivateKey: String { privateKey.pemRepresentation }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        let view = Substring(self)
        guard let first = view.firstIndex(where: { !$0.isWhitespace }),
              let last = view.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return view[first...last]
    }
}
