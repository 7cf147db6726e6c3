#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JWT claims RFC 8292 §2 gives meaning to. Other claims are ignored (V-13).
public struct VAPIDClaims: Hashable, Sendable, Codable {
    /// `aud`: the origin(s) of the push resource(s). A JWT may carry one string or an array.
    public var audiences: [String]
    /// `exp`: seconds since 1970; at most 24 h after the request.
    public var expiration: Int64
    /// `sub`: a `mailto:` or `https:` contact, unverified (V-12).
    public var subject: String?

    /// Claims for one push service origin.
    public init(audience: String, expiration: Int64, subject: String? = nil) {
        self.audiences = [audience]
        self.expiration = expiration
        self.subject = subject
    }

    enum CodingKeys: String, CodingKey {
        case aud, exp, sub
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let single = try? container.decode(String.self, forKey: .aud) {
            audiences = [single]
        } else {
            audiences = try container.decodeIfPresent([String].self, forKey: .aud) ?? []
        }
        // Some signers write exp as a JSON float; accept integral floats.
        if let integer = try? container.decode(Int64.self, forKey: .exp) {
            expiration = integer
        } else if let double = try? container.decode(Double.self, forKey: .exp), double.isFinite,
                  double.rounded(.down) == double, abs(double) < 1e15 {
            expiration = Int64(double)
        } else {
            throw VAPIDError.missingExpiry
        }
        subject = try? container.decodeIfPresent(String.self, forKey: .sub)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if audiences.count == 1 {
            try container.encode(audiences[0], forKey: .aud)
        } else {
            try container.encode(audiences, forKey: .aud)
        }
        try container.encode(expiration, forKey: .exp)
        try container.encodeIfPresent(subject, forKey: .sub)
    }
}
