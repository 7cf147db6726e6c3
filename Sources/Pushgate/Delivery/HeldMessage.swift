import Crypto
import WebPush

/// An outstanding message with a `Topic` (RFC 8030 §5.4). Pushgate holds the newest one per
/// subscription and Topic, and sends it again until the device acknowledges it, a newer one with
/// the same Topic replaces it, or its TTL passes. See ``MQTTDelivery`` for why the broker's
/// retained messages are not used for this.
public struct HeldMessage: Sendable {
    /// The message as accepted; its `topic` is `nil`: the value is never kept, only ``slot``.
    public var message: PushMessage
    /// The subscription's topic id.
    public var topicID: TopicID
    /// The subscription's set's topic id, if it is in a set.
    public var setTopicID: TopicID?
    /// The Topic as a keyed hash (``TopicSlot``).
    public var slot: String
    /// A list member's wrapped group key.
    public var encryptedKey: String?

    /// The message id (its message resource, its MQTT `message-id`).
    public var id: MessageID { message.id }
    /// When it expires, seconds since 1970.
    public var expiresAt: Int64 { message.expiresAt }

    /// Holds `message` (its Topic value dropped) for `subscription` under `slot`.
    public init(_ message: PushMessage, for subscription: Subscription, slot: String, encryptedKey: String?) {
        self.init(message, topicID: subscription.topicID, setTopicID: subscription.set?.topicID, slot: slot, encryptedKey: encryptedKey)
    }

    /// A held message from its parts (the store reads them back).
    public init(_ message: PushMessage, topicID: TopicID, setTopicID: TopicID?, slot: String, encryptedKey: String?) {
        var message = message
        message.topic = nil
        self.message = message
        self.topicID = topicID
        self.setTopicID = setTopicID
        self.slot = slot
        self.encryptedKey = encryptedKey
    }
}

/// The name a Topic value is held under: HMAC-SHA256 of the subscription's topic id and the Topic
/// under the installation secret, 16 base64url characters. Keyed, so neither a reader of the
/// database nor anyone else can recover a guessable Topic by trying candidates (RFC 8030 §5.4:
/// the Topic is not disclosed); per subscription, so equal Topics of two subscriptions do not
/// correlate.
public struct TopicSlot: Sendable {
    private let key: SymmetricKey

    /// Slots under the installation `secret`.
    public init(secret: [UInt8]) { key = SymmetricKey(data: secret) }

    /// The slot of `topic` for the subscription with `topicID`.
    public func slot(for topic: String, of topicID: TopicID) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Array("pushgate topic v1\u{0}".utf8))
        mac.update(data: Array(topicID.rawValue.utf8))
        mac.update(data: [0])
        mac.update(data: Array(topic.utf8))
        return String(Base64URL.encode(Array(mac.finalize())).prefix(16))
    }
}

/// Durable storage of held messages (the registry's store implements it).
public protocol HeldMessageStore: Sendable {
    /// Holds `message`, replacing any held for the same topic id and slot; durable on return.
    func hold(_ message: HeldMessage) async throws
    /// Forgets held messages (acknowledged, replaced by a TTL-0 message, expired); durable on return.
    func release(_ ids: [MessageID]) async throws
    /// Everything held, to resume after a restart.
    func heldMessages() async throws -> [HeldMessage]
}
