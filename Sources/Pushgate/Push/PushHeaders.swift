import NIOHTTP1

/// Parsing of the push request headers (RFC 8030 §5.2–5.4), each with the requirement it
/// enforces. Pure functions, unit-tested on their own.
enum PushHeaders {
    /// P-23: values too large to represent are treated as 2^31.
    static let ttlOverflow = 2_147_483_648

    /// `TTL = 1*DIGIT` (P-21..P-23): required, one value, digits only.
    static func ttl(_ headers: HTTPHeaders) throws(APIError) -> Int {
        let values = headers["TTL"]
        guard !values.isEmpty else { throw .missingTTL }
        guard values.count == 1 else { throw .invalidTTL(values.joined(separator: ", ")) }
        let text = values[0].trimmingOWS()
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .invalidTTL(values[0])
        }
        var value = 0
        for digit in text.utf8 {
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
            if value >= ttlOverflow { return ttlOverflow }
        }
        return value
    }

    /// P-28, P-29: absent means normal; more than one value is an error.
    static func urgency(_ headers: HTTPHeaders) throws(APIError) -> Urgency {
        let values = headers["Urgency"].flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard !values.isEmpty else { return .normal }
        guard values.count == 1 else { throw .invalidUrgency("has more than one value") }
        let token = values[0].trimmingOWS().lowercased()
        guard let urgency = Urgency(rawValue: token) else { throw .invalidUrgency("'\(token.prefix(20))' is not a known value") }
        return urgency
    }

    /// P-31: at most 32 base64url characters.
    static func topic(_ headers: HTTPHeaders) throws(APIError) -> String? {
        let values = headers["Topic"]
        guard !values.isEmpty else { return nil }
        guard values.count == 1 else { throw .invalidTopic("appears more than once") }
        let topic = values[0].trimmingOWS()
        guard !topic.isEmpty else { throw .invalidTopic("is empty") }
        guard topic.utf8.count <= 32 else { throw .invalidTopic("is longer than 32 characters") }
        guard Base64URLAlphabet.contains(topic) else { throw .invalidTopic("has characters outside the base64url alphabet") }
        return String(topic)
    }

    /// E-01: a body is `aes128gcm`, and nothing else; a body-less push needs no coding.
    static func contentEncoding(_ headers: HTTPHeaders, bodyLength: Int) throws(APIError) -> String? {
        let codings = headers.lowercasedTokens("Content-Encoding")
        if bodyLength == 0 { return codings.isEmpty ? nil : codings.joined(separator: ", ") }
        guard !codings.isEmpty else {
            throw .invalidEncoding("a push with a body needs Content-Encoding: aes128gcm (RFC 8291 §4)")
        }
        guard codings == ["aes128gcm"] else {
            throw .invalidEncoding("Content-Encoding must be exactly aes128gcm (RFC 8291 §4); '\(codings.joined(separator: ", ").prefix(40))' is not supported")
        }
        return "aes128gcm"
    }
}
