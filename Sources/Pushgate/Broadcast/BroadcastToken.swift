import Crypto
import WebPush

extension BroadcastToken {
    /// The capability token of the broadcast route called `name` (its push URL `/r/<token>`).
    ///
    /// HMAC-SHA256 of the name under the installation's secret, cut to 16 octets (128 bits, above
    /// RFC 8030's 120) and written in base64url like every other identifier. Deriving rather than
    /// drawing it makes the URL stable: the same name gives the same URL after a restart, a
    /// reload, or on another machine with the same registry, and nothing needs storing. Without
    /// the secret the URL cannot be guessed from the name; renaming a route revokes its URL.
    public static func derive(name: String, secret: [UInt8]) -> BroadcastToken {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        mac.update(data: Array("pushgate route v1\u{0}".utf8))
        mac.update(data: Array(name.utf8))
        return BroadcastToken(octets: Array(mac.finalize()))
    }
}
