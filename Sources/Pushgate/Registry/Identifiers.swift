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
/// generator, written in base64url — 22 characters valid in URL paths and MQTT topic levels alike.
///
/// Identifiers are independent random draws, so one reveals nothing about another, the device,
/// or the subscription it belongs to. Their `description` is elided, so interpolating one into a
/// log line never leaks a capability; the text is written only where it is meant to go
/// (``rawValue``, `"\(raw: id)"`).
///
/// The value holds the 16 octets themselves, not their text: the registry keeps five identifiers
/// per subscription in a set, and as 22-character strings each was a heap allocation of its own
/// (64 bytes, ~320 of a subscription's ~1,050 at a million) that every dictionary probe had to
/// follow to compare (issue 16). Inline, an identifier is two words that hash and compare without
/// touching memory elsewhere, and is copied without reference counting.
public struct Identifier<Kind: IdentifierKind>: Hashable, Sendable, CustomStringConvertible {
    /// Octets 0–7 and 8–15, big-endian: the order in which base64url writes them.
    private let high: UInt64, low: UInt64

    /// Octets of randomness per identifier.
    public static var byteCount: Int { 16 }
    /// Length in characters.
    public static var length: Int { 22 }

    /// The identifier in its canonical text, if `text` is one: 22 base64url characters whose last
    /// one carries no bits beyond the 128 (so each identifier has exactly one URL; another text
    /// is refused before any lookup, like any malformed path).
    public init?(_ text: some StringProtocol) {
        let decoded = text.utf8.withContiguousStorageIfAvailable(Base64URLOctets.decode) ?? Base64URLOctets.decode(Array(text.utf8))
        guard let decoded else { return nil }
        (high, low) = decoded
    }

    /// The identifier `text` names, for text this service wrote itself (rows of its registry).
    ///
    /// A row that is not an identifier this service could have written means the database was
    /// edited by hand or damaged: that stops the process with the kind named, rather than load
    /// a record no URL can reach and no statement can update.
    init(trusted text: String) {
        guard let identifier = Self(text) else { preconditionFailure("registry holds a malformed \(Kind.name) identifier") }
        self = identifier
    }

    /// The identifier of 16 octets (the first 16 of `octets`, which must have as many).
    init(octets: some Collection<UInt8>) {
        precondition(octets.count >= Self.byteCount, "an identifier needs 16 octets")
        var high: UInt64 = 0, low: UInt64 = 0
        for (index, octet) in octets.prefix(Self.byteCount).enumerated() {
            if index < 8 { high = high << 8 | UInt64(octet) } else { low = low << 8 | UInt64(octet) }
        }
        self.high = high
        self.low = low
    }

    private init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A new random identifier.
    public static func random() -> Self {
        // Two 64-bit draws (each one getrandom call), not sixteen one-byte ones: every push makes
        // a message id, and the syscalls showed in the profile.
        var generator = SystemRandomNumberGenerator()
        return Self(high: generator.next(), low: generator.next())
    }

    /// `count` new random identifiers (a list push's message ids), their octets read from the
    /// kernel's generator in one go (`/dev/urandom`, the same source as `getrandom`) rather than
    /// two system calls per identifier: independent draws all the same, without 20,000 system
    /// calls for a 10,000-member list. Without `/dev/urandom` (a bare chroot) it draws one by one.
    public static func random(count: Int) -> [Self] {
        guard count > 1 else { return (0..<count).map { _ in random() } }
        var words = [UInt64](repeating: 0, count: count * 2)
        guard words.withUnsafeMutableBytes(RandomDevice.read) else { return (0..<count).map { _ in random() } }
        return (0..<count).map { Self(high: words[2 * $0], low: words[2 * $0 + 1]) }
    }

    /// Whether `text` is an identifier's canonical text.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        Self(text) != nil
    }

    /// The 22 base64url characters. Builds a string (a heap allocation, being longer than 15
    /// bytes); on hot paths interpolate `"\(raw: id)"` or use ``withText(_:)`` instead.
    public var rawValue: String {
        String(unsafeUninitializedCapacity: Self.length) { buffer in
            Base64URLOctets.encode(high, low, into: UnsafeMutableRawBufferPointer(buffer))
            return Self.length
        }
    }

    /// Calls `body` with the 22 base64url characters, written on the stack.
    public func withText<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeTemporaryAllocation(byteCount: Self.length, alignment: 1) { buffer in
            Base64URLOctets.encode(high, low, into: buffer)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Writes the 22 base64url characters at the start of `buffer` (at least that long).
    func writeText(to buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.length)
        Base64URLOctets.encode(high, low, into: buffer)
    }

    public var description: String { "\(Kind.name)#…" }
}

extension DefaultStringInterpolation {
    /// Writes an identifier's text (its 22 base64url characters) without building a `String` of
    /// it first: two 11-character halves fit in Swift's inline small strings.
    ///
    /// A label of its own, because a plain `"\(id)"` is elided on purpose (log lines).
    public mutating func appendInterpolation<Kind>(raw id: Identifier<Kind>) {
        id.withText { text in
            appendLiteral(String(decoding: text[..<11], as: UTF8.self))
            appendLiteral(String(decoding: text[11...], as: UTF8.self))
        }
    }
}

/// Base64url of exactly 16 octets held as two big-endian words (RFC 4648 §5, no padding).
enum Base64URLOctets {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    /// The six bits a base64url character stands for, 0xFF for any other byte. Ranges, not a
    /// table: a static table costs a lazy-initialization check per character (2 % of a load).
    @inline(__always)
    private static func value(_ character: UInt8) -> UInt8 {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character &- UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character &- UInt8(ascii: "a") &+ 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character &- UInt8(ascii: "0") &+ 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: 0xFF
        }
    }

    /// Writes the 22 characters of `high`/`low` into `buffer` (at least 22 bytes).
    static func encode(_ high: UInt64, _ low: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        alphabet.withUTF8Buffer { alphabet in
            func character(_ sixBits: UInt64) -> UInt8 { alphabet[Int(sixBits & 63)] }
            // 128 bits in six-bit groups: ten from `high`, one straddling both words, ten from
            // `low`, and the last two bits padded with four zero bits.
            for index in 0..<10 { buffer[index] = character(high >> (58 - 6 * UInt64(index))) }
            buffer[10] = character((high & 0xF) << 2 | low >> 62)
            for index in 0..<10 { buffer[11 + index] = character(low >> (56 - 6 * UInt64(index))) }
            buffer[21] = character((low & 3) << 4)
        }
    }

    /// The words of 22 canonical base64url characters, or `nil` for any other text.
    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard text.count == 22 else { return nil }
        // Straight-line over the three groups, invalid characters noted in one mask and checked
        // once: a registry load decodes five identifiers per subscription (a per-character
        // switch on the position and an early exit cost 11 % of a 10-million load).
        var invalid: UInt8 = 0
        // Appends six bits a character to `word`; an invalid character is only noted.
        func accumulate(_ characters: Range<Int>, into word: UInt64) -> UInt64 {
            var word = word
            for index in characters {
                let sixBits = value(text[index])
                invalid |= sixBits
                word = word << 6 | UInt64(sixBits & 63)
            }
            return word
        }
        let straddling = value(text[10])
        invalid |= straddling
        let high = accumulate(0..<10, into: 0) << 4 | UInt64((straddling & 63) >> 2)
        let low = accumulate(11..<21, into: UInt64(straddling & 3))
        let last = value(text[21])
        invalid |= last
        // The last character's low four bits lie beyond the 128: canonical text has them zero.
        guard invalid & 0xC0 == 0, last & 0xF == 0 else { return nil }
        return (high, low << 2 | UInt64(last >> 4))
    }

    static func decode(_ text: [UInt8]) -> (UInt64, UInt64)? {
        text.withUnsafeBufferPointer(decode)
    }
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

    /// Fills `buffer`; `false` if the device is missing or a read failed.
    static func read(into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard descriptor >= 0 else { return false }
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
