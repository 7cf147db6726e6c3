package import NIOHTTP1

/// Parsing of the push request headers (RFC 8030 §5.2–5.4), each with the requirement it
/// enforces. Pure functions, unit-tested on their own.
package enum PushHeaders {
    /// P-23: values too large to represent are treated as 2^31.
    static let ttlOverflow = 2_147_483_648

    /// `TTL = 1*DIGIT` (P-21..P-23): required, one value, digits only.
    package static func ttl(_ headers: HTTPHeaders) throws(APIError) -> Int {
        let (count, first) = headers.fieldCount("TTL")
        guard let first else { throw .missingTTL }
        guard count == 1 else { throw .invalidTTL(headers["TTL"].joined(separator: ", ")) }
        let text = first.trimmingOWS()
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .invalidTTL(first)
        }
        var value = 0
        for digit in text.utf8 {
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
            if value >= ttlOverflow { return ttlOverflow }
        }
        return value
    }

    /// P-28, P-29: absent means normal; more than one value is an error.
    package static func urgency(_ headers: HTTPHeaders) throws(APIError) -> Urgency {
        let (count, first) = headers.elementCount("Urgency", omittingEmpty: false)
        guard let token = first else { return .normal }
        guard count == 1 else { throw .invalidUrgency("has more than one value") }
        guard let urgency = Urgency.allCases.first(where: { $0.rawValue.utf8.equalsIgnoringASCIICase(token.utf8) }) else {
            throw .invalidUrgency("'\(token.lowercased().prefix(20))' is not a known value")
        }
        return urgency
    }

    /// P-31: at most 32 base64url characters.
    package static func topic(_ headers: HTTPHeaders) throws(APIError) -> String? {
        let (count, first) = headers.fieldCount("Topic")
        guard let first else { return nil }
        guard count == 1 else { throw .invalidTopic("appears more than once") }
        let topic = first.trimmingOWS()
        guard !topic.isEmpty else { throw .invalidTopic("is empty") }
        guard topic.utf8.count <= 32 else { throw .invalidTopic("is longer than 32 characters") }
        guard Base64URLAlphabet.contains(topic) else { throw .invalidTopic("has characters outside the base64url alphabet") }
        return String(topic)
    }

    /// E-01: a body is `aes128gcm`, and nothing else; a body-less push needs no coding.
    package static func contentEncoding(_ headers: HTTPHeaders, bodyLength: Int) throws(APIError) -> String? {
        let (count, first) = headers.elementCount("Content-Encoding", omittingEmpty: true)
        if bodyLength == 0 { return count == 0 ? nil : headers.lowercasedTokens("Content-Encoding").joined(separator: ", ") }
        guard count > 0 else {
            throw .invalidEncoding("a push with a body needs Content-Encoding: aes128gcm (RFC 8291 §4)")
        }
        guard count == 1, let first, first.utf8.equalsIgnoringASCIICase("aes128gcm".utf8) else {
            let codings = headers.lowercasedTokens("Content-Encoding")
            throw .invalidEncoding("Content-Encoding must be exactly aes128gcm (RFC 8291 §4); '\(codings.joined(separator: ", ").prefix(40))' is not supported")
        }
        return "aes128gcm"
    }
}
