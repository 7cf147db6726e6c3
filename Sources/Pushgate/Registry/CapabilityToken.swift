import WebPush

/// Unguessable identifiers for capability URLs and topics (RFC 8030 §8.3, P-04..P-08).
///
/// 16 random octets (128 bits, above the RFC's 120) from the system's secure generator, in
/// base64url: 22 characters that are valid in URL paths and MQTT topic levels alike. Tokens are
/// independent random draws, so two tokens reveal nothing about each other, the device, or the
/// subscription they belong to.
public enum CapabilityToken {
    /// Octets of randomness per token.
    public static let byteCount = 16
    /// Length of a token in characters.
    public static let length = 22

    /// A new random token.
    public static func make() -> String {
        // Two 64-bit draws (each one getrandom call), not sixteen one-byte ones: every push makes
        // a message id, and the syscalls showed in the profile.
        var generator = SystemRandomNumberGenerator()
        let high = generator.next(), low = generator.next()
        return withUnsafeBytes(of: (high, low)) { Base64URL.encode($0) }
    }

    /// Whether `text` has a token's shape (so malformed paths are refused before any lookup).
    public static func isWellFormed(_ text: Substring) -> Bool {
        text.utf8.count == length && CapabilityTokenAlphabet.contains(text)
    }
}
