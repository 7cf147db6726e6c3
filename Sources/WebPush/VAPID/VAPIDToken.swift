import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A VAPID JWT (RFC 8292 §2): a JWS compact serialization signed with ES256.
public struct VAPIDToken: Sendable {
    /// The claims the token carries.
    public let claims: VAPIDClaims
    /// `header.payload`, the octets the signature covers.
    public let signingInput: [UInt8]
    /// The 64-octet raw `r ‖ s` signature.
    public let signature: [UInt8]

    /// Signs `claims` with `key`.
    public static func sign(_ claims: VAPIDClaims, with key: VAPIDSigningKey) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = Base64URL.encode(Array(#"{"typ":"JWT","alg":"ES256"}"#.utf8))
        // Encoding these three plain fields cannot fail.
        let payload = Base64URL.encode(try! encoder.encode(claims))
        let signingInput = "\(header).\(payload)"
        let signature = try! key.privateKey.signature(for: Array(signingInput.utf8))
        return "\(signingInput).\(Base64URL.encode(signature.rawRepresentation))"
    }

    /// A ready `Authorization` header value for a push to `audience`, valid for `lifetime`
    /// seconds (at most 24 h; web-push libraries use 12 h).
    public static func authorization(
        audience: String,
        subject: String?,
        key: VAPIDSigningKey,
        lifetime: Int64 = 12 * 3600,
        now: Date = Date()
    ) -> String {
        let claims = VAPIDClaims(audience: audience, expiration: Int64(now.timeIntervalSince1970) + lifetime, subject: subject)
        return VAPIDCredentials(token: sign(claims, with: key), key: key.publicKey.base64URL).authorizationHeader
    }

    /// Parses a compact JWS without checking its signature or claims' times.
    ///
    /// - Throws: ``VAPIDError/malformedToken(_:)``, ``VAPIDError/unsupportedAlgorithm(_:)`` or
    ///   ``VAPIDError/missingExpiry``.
    public init(parsing token: String) throws(VAPIDError) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedToken("expected 3 dot-separated parts, got \(parts.count)") }
        let headerBytes: [UInt8], payloadBytes: [UInt8], signature: [UInt8]
        do {
            headerBytes = try Base64URL.decode(parts[0])
            payloadBytes = try Base64URL.decode(parts[1])
            signature = try Base64URL.decode(parts[2])
        } catch {
            throw .malformedToken("a part is not base64url")
        }
        struct Header: Decodable { var alg: String }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(headerBytes)) } catch {
            throw .malformedToken("header is not a JSON object with alg")
        }
        guard header.alg == "ES256" else { throw .unsupportedAlgorithm(header.alg) }
        guard signature.count == 64 else { throw .malformedToken("ES256 signature must be 64 octets, got \(signature.count)") }
        do {
            claims = try JSONDecoder().decode(VAPIDClaims.self, from: Data(payloadBytes))
        } catch VAPIDError.missingExpiry {
            throw .missingExpiry
        } catch {
            throw .malformedToken("payload is not a JSON object of claims")
        }
        self.signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        self.signature = signature
    }

    /// Whether the signature verifies under `key`.
    public func isSignatureValid(for key: VAPIDPublicKey) -> Bool {
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
        return key.signingKey.isValidSignature(signature, for: signingInput)
    }
}
