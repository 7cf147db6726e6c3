/// Why VAPID credentials (RFC 8292) were refused.
///
/// ``httpStatus`` maps each case onto the status RFC 8292 §4.2 suggests: 401 when credentials
/// are absent (with the challenge `WWW-Authenticate: vapid`), 403 when they are invalid.
public enum VAPIDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No `Authorization: vapid …` header (another scheme counts as none).
    case missingCredentials
    /// The `vapid` header lacks `t` (V-17 a).
    case missingToken
    /// The `vapid` header lacks `k` (V-17 a).
    case missingKey
    /// A parameter appears twice, or the header is not `name=value` pairs.
    case malformedAuthorization
    /// `k` (or a restriction key) is not base64url of a 65-octet uncompressed P-256 point.
    case invalidKey
    /// A private key that could not be parsed.
    case invalidPrivateKey
    /// `t` is not a three-part JWS of base64url JSON.
    case malformedToken(String)
    /// The JWS `alg` is not `ES256` (V-09).
    case unsupportedAlgorithm(String)
    /// The signature does not verify under `k` (V-17 b).
    case invalidSignature
    /// The token has no numeric `exp` claim (V-11).
    case missingExpiry
    /// `now > exp` (V-17 c).
    case expired
    /// `exp` is more than 24 hours ahead (V-17 c).
    case expiryTooFar
    /// `aud` does not include the push resource's origin (V-17 d).
    case audienceMismatch
    /// `k` differs from the key the subscription was restricted to (V-17 e).
    case keyMismatch

    /// 401 for ``missingCredentials``, 403 for everything else.
    public var httpStatus: Int { self == .missingCredentials ? 401 : 403 }

    public var description: String {
        switch self {
        case .missingCredentials: "missing VAPID credentials (Authorization: vapid t=…, k=…)"
        case .missingToken: "VAPID Authorization has no t= parameter"
        case .missingKey: "VAPID Authorization has no k= parameter"
        case .malformedAuthorization: "VAPID Authorization parameters are malformed or repeated"
        case .invalidKey: "VAPID key is not base64url of a 65-octet uncompressed P-256 point"
        case .invalidPrivateKey: "VAPID private key is not a P-256 key (raw base64url, DER or PEM)"
        case .malformedToken(let why): "VAPID token is malformed: \(why)"
        case .unsupportedAlgorithm(let alg): "VAPID token alg \(alg) is not ES256"
        case .invalidSignature: "VAPID token signature does not verify under k"
        case .missingExpiry: "VAPID token has no numeric exp claim"
        case .expired: "VAPID token has expired"
        case .expiryTooFar: "VAPID token exp is more than 24 hours ahead"
        case .audienceMismatch: "VAPID token aud does not match this push service's origin"
        case .keyMismatch: "VAPID key differs from the key this subscription is restricted to"
        }
    }
}
