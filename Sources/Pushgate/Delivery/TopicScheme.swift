import Crypto
import WebPush

/// Where a subscription's messages go on the broker, and where devices acknowledge.
///
/// ```
/// <prefix>/<topicID>/<urgency>     messages (urgency: very-low, low, normal, high)
/// <prefix>/<topicID>/<urgency>/t/<slot>
///                                  messages with a Topic header, retained: one slot per Topic,
///                                  named by a hash so the Topic value never reaches the device
/// <prefix>/<topicID>/#             what a device subscribes to: every message (mqtt_topic)
/// <prefix>/ack/<topicID>           acknowledgements from the device (MQTT 5 Response Topic)
/// ```
/// The urgency level lets a device choose what wakes it: subscribing to
/// `<prefix>/<topicID>/high/#` only receives high-urgency messages (RFC 8030 §5.3 "monitoring with
/// Urgency", done by the broker). `topicID` is random, so topics reveal nothing about devices or
/// capability URLs; a 22-character token never equals `ack`.
public struct TopicScheme: Sendable {
    /// The first topic level(s), `mqtt.topic_prefix`.
    public let prefix: String

    /// Creates a scheme under `prefix`.
    public init(prefix: String) { self.prefix = prefix }

    /// The filter a device subscribes to for all of a subscription's messages.
    public func deviceFilter(_ topicID: TopicID) -> String { "\(prefix)/\(topicID.rawValue)/#" }

    /// The topic a message of this urgency is published to.
    public func messageTopic(_ topicID: TopicID, urgency: Urgency) -> String {
        "\(prefix)/\(topicID.rawValue)/\(urgency.rawValue)"
    }

    /// The retained slot of a Topic (RFC 8030 §5.4) at an urgency.
    public func replacementTopic(_ topicID: TopicID, urgency: Urgency, slot: String) -> String {
        "\(messageTopic(topicID, urgency: urgency))/t/\(slot)"
    }

    /// The slot name of a Topic value: 16 base64url characters of SHA-256 over the subscription's
    /// topic id and the Topic, so equal Topics of different subscriptions do not correlate.
    public static func slot(for topic: String, of topicID: TopicID) -> String {
        let digest = SHA256.hash(data: Array(topicID.rawValue.utf8) + [0] + Array(topic.utf8))
        return String(Base64URL.encode(digest).prefix(16))
    }

    /// Where a subscription's device listens and acknowledges.
    public func endpoints(_ topicID: TopicID) -> DeviceEndpoints {
        DeviceEndpoints(messageFilter: deviceFilter(topicID), acknowledgementTopic: ackTopic(topicID))
    }

    /// The topic a device acknowledges on.
    public func ackTopic(_ topicID: TopicID) -> String { "\(prefix)/ack/\(topicID.rawValue)" }

    /// The filter Pushgate subscribes to for every device's acknowledgements.
    public var ackFilter: String { "\(prefix)/ack/+" }
}
