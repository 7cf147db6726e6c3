/// The `t` and `k` parameters of an `Authorization: vapid t=…, k=…` header (RFC 8292 §3),
/// parsed but not yet verified.
public struct VAPIDCredentials: Hashable, Sendable {
    /// The JWT (JWS compact serialization).
    public let token: String
    /// The base64url public key, as sent.
    public let key: String

    /// Wraps a token and key.
    public init(token: String, key: String) {
        self.token = token
        self.key = key
    }

    /// Parses an `Authorization` header value.
    ///
    /// The scheme is case-insensitive; parameters follow RFC 7235 (`name=token` or
    /// `name="quoted"`, comma-separated); unknown ones such as `realm` are ignored (V-07).
    ///
    /// - Throws: ``VAPIDError/missingCredentials`` when the value is absent or uses another
    ///   scheme; ``VAPIDError/missingToken``, ``VAPIDError/missingKey`` or
    ///   ``VAPIDError/malformedAuthorization`` when the `vapid` parameters are unusable.
    public init(authorization: String?) throws(VAPIDError) {
        guard let authorization else { throw .missingCredentials }
        let value = authorization.trimmingWhitespace()
        guard let space = value.firstIndex(where: { $0 == " " || $0 == "\t" }),
              value[..<space].lowercased() == "vapid"
        else {
            if value.lowercased() == "vapid" { throw .missingToken }
            throw .missingCredentials
        }
        var token: Substring?
        var key: Substring?
        for parameter in value[space...].split(separator: ",", omittingEmptySubsequences: false) {
            let parameter = parameter.trimmingWhitespace()
            if parameter.isEmpty { continue }
            guard let equals = parameter.firstIndex(of: "=") else { throw .malformedAuthorization }
            let name = parameter[..<equals].trimmingWhitespace().lowercased()
            var rawValue = parameter[parameter.index(after: equals)...].trimmingWhitespace()
            if rawValue.count >= 2, rawValue.first == "\"", rawValue.last == "\"" {
                rawValue = rawValue.dropFirst().dropLast()
            }
            switch name {
            case "t":
                guard token == nil else { throw .malformedAuthorization }
                token = rawValue
            case "k":
                guard key == nil else { throw .malformedAuthorization }
                key = rawValue
            default:
                continue
            }
        }
        guard let token, !token.isEmpty else { throw .missingToken }
        guard let key, !key.isEmpty else { throw .missingKey }
        self.token = String(token)
        self.key = String(key)
    }

    /// The header value, `vapid t=<token>, k=<key>`.
    public var authorizationHeader: String { "vapid t=\(token), k=\(key)" }
}
