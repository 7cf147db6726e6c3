#if canImport(Glibc)
import Glibc
#endif
import WebPush

/// What an ``Identifier`` names. The kinds are empty enums: they exist only so that a
/// subscription id cannot be passed where a push token is expected.
public protocol IdentifierKind: Sendable {
    /// A short name for logs and descriptions (`"subscription"`, `"push"`, …).
    static var name: String { get }
}

/// An unguessable identifier of a capability URL or an MQTT topic level (RFC 8030 §8.3,
/// P-04..P-08): 16 random octets (128 bits, above the RFC's 120) from the system's secure
/// generator, in base64url, 22 characters valid in URL paths and MQTT topic levels alike.
///
/// Identifiers are independent random draws, so one reveals nothing about another, the device,
/// or the subscription it belongs to. Their `description` is elided, so interpolating one into a
/// log line never leaks a capability.
public struct Identifier<Kind: IdentifierKind>: Hashable, Sendable, CustomStringConvertible {
    /// The 22 base64url characters.
    public let rawValue: String

    /// Octets of randomness per identifier.
    public static var byteCount: Int { 16 }
    /// Length in characters.
    public static var length: Int { 22 }

    /// Wraps `text` if it has an identifier's shape (so malformed paths are refused before any lookup).
    public init?(_ text: some StringProtocol) {
        guard Self.isWellFormed(text) else { return nil }
        rawValue = String(text)
    }

    /// Wraps a value already known to be well formed (derived tokens, rows written by this service).
    init(trusted rawValue: String) {
        self.rawValue = rawValue
    }

    /// A new random identifier.
    public static func random() -> Self {
        // Two 64-bit draws (each one getrandom call), not sixteen one-byte ones: every push makes
        // a message id, and the syscalls showed in the profile.
        var generator = SystemRandomNumberGenerator()
        let high = generator.next(), low = generator.next()
        return Self(trusted: withUnsafeBytes(of: (high, low)) { Base64URL.encode($0) })
    }

    /// `count` new random identifiers (a list push's message ids), their octets read from the
    /// kernel's generator in one go (`/dev/urandom`, the same source as `getrandom`) rather than
    /// two system calls per identifier: independent draws all the same, without 20,000 system
    /// calls for a 10,000-member list. Without `/dev/urandom` (a bare chroot) it draws one by one.
    public static func random(count: Int) -> [Self] {
        guard count > 1 else { return (0..<count).map { _ in random() } }
        var octets = [UInt8](repeating: 0, count: count * byteCount)
        guard RandomDevice.read(into: &octets) else { return (0..<count).map { _ in random() } }
        return octets.withUnsafeBytes { bytes in
            (0..<count).map { index in Self(trusted: Base64URL.encode(bytes[index * byteCount..<(index + 1) * byteCount])) }
        }
    }

    /// Whether `text` has an identifier's shape.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        text.utf8.count == length && Base64URLAlphabet.contains(text)
    }

    public var description: String { "\(Kind.name)#…" }
}

/// The subscription resource (`/s/<id>`): private to the user agent, used to delete it.
public enum SubscriptionKind: IdentifierKind { public static var name: String { "subscription" } }
/// The push resource of a subscription (`/p/<token>`): what application servers POST to.
public enum PushTokenKind: IdentifierKind { public static var name: String { "push" } }
/// The MQTT topic level of a subscription (`<prefix>/<topic id>/…`).
public enum TopicIDKind: IdentifierKind { public static var name: String { "topic" } }
/// A message resource (`/m/<id>`), also the MQTT `message-id` and Correlation Data.
public enum MessageKind: IdentifierKind { public static var name: String { "message" } }
/// A list resource (`/l/<id>`).
public enum ListKind: IdentifierKind { public static var name: String { "list" } }
/// A list's push resource (`/lp/<token>`).
public enum ListPushTokenKind: IdentifierKind { public static var name: String { "list-push" } }
/// A subscription set (`/set/<id>`, RFC 8030 §4.1).
public enum SetKind: IdentifierKind { public static var name: String { "set" } }
/// A receipt subscription (`/rs/<id>`, RFC 8030 §5.1).
public enum ReceiptSubscriptionKind: IdentifierKind { public static var name: String { "receipt-subscription" } }
/// An admin broadcast route's push resource (`/r/<token>`), derived, not drawn.
public enum BroadcastTokenKind: IdentifierKind { public static var name: String { "broadcast" } }

/// `/s/<id>`.
public typealias SubscriptionID = Identifier<SubscriptionKind>
/// `/p/<token>`.
public typealias PushToken = Identifier<PushTokenKind>
/// `<prefix>/<topic id>/…` on the broker.
public typealias TopicID = Identifier<TopicIDKind>
/// `/m/<id>`.
public typealias MessageID = Identifier<MessageKind>
/// `/l/<id>`.
public typealias ListID = Identifier<ListKind>
/// `/lp/<token>`.
public typealias ListPushToken = Identifier<ListPushTokenKind>
/// `/set/<id>`.
public typealias SetID = Identifier<SetKind>
/// `/rs/<id>`.
public typealias ReceiptSubscriptionID = Identifier<ReceiptSubscriptionKind>
/// `/r/<token>`.
public typealias BroadcastToken = Identifier<BroadcastTokenKind>

/// The base64url alphabet, shared by identifiers and the `Topic` header (RFC 8030 §5.4).
enum Base64URLAlphabet {
    static func contains(_ text: some StringProtocol) -> Bool {
        text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}

/// The kernel's random generator as a file, opened once.
enum RandomDevice {
    private static let descriptor: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    /// Fills `bytes`; `false` if the device is missing or a read failed.
    static func read(into bytes: inout [UInt8]) -> Bool {
        guard descriptor >= 0 else { return false }
        return bytes.withUnsafeMutableBytes { buffer in
            var filled = 0
            while filled < buffer.count {
                let got = Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
                if got < 0, errno == EINTR { continue }
                guard got > 0 else { return false }
                filled += got
            }
            return true
        }
    }
}
