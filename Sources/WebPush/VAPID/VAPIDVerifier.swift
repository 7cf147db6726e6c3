#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Verifies `Authorization: vapid t=…, k=…` for a push service (RFC 8292 §2–4, V-05..V-20).
///
/// A token is valid when it is an ES256 JWS whose signature verifies under `k`, whose `exp` is
/// present, not passed and at most 24 hours ahead, whose `aud` includes this service's origin,
/// and (for a restricted subscription) whose `k` equals the subscription's key.
public struct VAPIDVerifier: Sendable {
    /// The longest a token may be valid ahead of now (RFC 8292 §2).
    public static let maximumLifetime: Int64 = 24 * 3600

    /// The push service's origin, normalized.
    public let origin: String
    /// The cache of verified signatures; `nil` verifies every time.
    public let cache: VAPIDVerificationCache?

    /// - Parameters:
    ///   - origin: the push resources' origin, for example `https://push.example.net`
    ///     (a path or a default port is ignored).
    ///   - cache: where verified tokens are remembered.
    public init(origin: String, cache: VAPIDVerificationCache? = VAPIDVerificationCache()) {
        self.origin = Self.normalizedOrigin(origin)
        self.cache = cache
    }

    /// A token that passed verification.
    public struct Verified: Sendable {
        /// The token's claims.
        public let claims: VAPIDClaims
        /// The application server's key.
        public let key: VAPIDPublicKey
        /// Whether the signature check was answered from the cache.
        public let fromCache: Bool
    }

    /// Verifies an `Authorization` header value.
    ///
    /// A value seen before (the cache) costs one dictionary lookup and the per-request checks:
    /// no parsing, no base64, no JSON, no ECDSA.
    ///
    /// - Parameters:
    ///   - authorization: the header value, or `nil` when absent.
    ///   - expectedKey: the restriction key of the subscription, if any.
    ///   - now: the current time.
    /// - Throws: ``VAPIDError``; its ``VAPIDError/httpStatus`` is the status to answer.
    public func verify(authorization: String?, expectedKey: VAPIDPublicKey? = nil, now: Date = Date()) throws(VAPIDError) -> Verified {
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        if let authorization, let cached = cache?.lookup(authorization, now: seconds) {
            return try check(cached, fromCache: true, expectedKey: expectedKey, now: seconds)
        }
        let credentials = try VAPIDCredentials(authorization: authorization)
        let entry = try verifySignature(credentials)
        let verified = try check(entry, fromCache: false, expectedKey: expectedKey, now: seconds)
        if let authorization { cache?.insert(authorization, entry) }
        return verified
    }

    /// Verifies parsed credentials.
    public func verify(_ credentials: VAPIDCredentials, expectedKey: VAPIDPublicKey? = nil, now: Date = Date()) throws(VAPIDError) -> Verified {
        try verify(authorization: credentials.authorizationHeader, expectedKey: expectedKey, now: now)
    }

    /// The time-independent part: the key parses, the token parses, the signature verifies.
    private func verifySignature(_ credentials: VAPIDCredentials) throws(VAPIDError) -> VAPIDVerificationCache.Entry {
        let key = try VAPIDPublicKey(base64URL: credentials.key)
        let token = try VAPIDToken(parsing: credentials.token)
        guard token.isSignatureValid(for: key) else { throw .invalidSignature }
        return .init(claims: token.claims, key: key)
    }

    /// The per-request part: expiry window, audience, key restriction.
    private func check(_ entry: VAPIDVerificationCache.Entry, fromCache: Bool, expectedKey: VAPIDPublicKey?, now seconds: Int64) throws(VAPIDError) -> Verified {
        let claims = entry.claims
        guard seconds <= claims.expiration else { throw .expired }
        guard claims.expiration - seconds <= Self.maximumLifetime else { throw .expiryTooFar }
        guard entry.origins.contains(origin) else { throw .audienceMismatch }
        if let expectedKey, expectedKey != entry.key { throw .keyMismatch }
        return Verified(claims: claims, key: entry.key, fromCache: fromCache)
    }

    /// An `aud` value as a normalized origin, or `nil` when it is not an origin. Case and a
    /// default port are forgiven, as is one trailing slash; a path is not (V-10: the origin, not
    /// a URL under it).
    static func originOnly(_ audience: String) -> String? {
        var audience = Substring(audience)
        if audience.hasSuffix("/") { audience = audience.dropLast() }
        guard let schemeEnd = audience.firstIndex(of: ":"), audience[schemeEnd...].hasPrefix("://") else { return nil }
        let authority = audience[audience.index(schemeEnd, offsetBy: 3)...]
        guard !authority.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) else { return nil }
        return normalizedOrigin(String(audience))
    }

    /// The ASCII serialization of an origin: lowercased scheme and host, the port only when it is
    /// not the scheme's default, no path and no trailing slash.
    public static func normalizedOrigin(_ url: String) -> String {
        var rest = Substring(url)
        var scheme = ""
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            scheme = rest[..<colon].lowercased()
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<slash] }
        var authority = rest.lowercased()
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        let defaultPort = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nil
        if let defaultPort, authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        return scheme.isEmpty ? authority : "\(scheme)://\(authority)"
    }
}
