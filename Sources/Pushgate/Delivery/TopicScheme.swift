/// Where a subscription's messages go on the broker, and where devices acknowledge.
///
/// ```
/// <prefix>/<set>/<subscription>/<urgency>   messages of a subscription in a set
/// <prefix>/<set>/<subscription>/#           what the device subscribes to for it (mqtt_topic)
/// <prefix>/<set>/#                          every member of the set, present and future (mqtt_set_topic)
/// <prefix>/<subscription>/<urgency>         messages of a subscription made before sets existed
/// <prefix>/ack/<set>/<subscription>         acknowledgements (the MQTT 5 Response Topic), and "ready",
///                                           of a subscription in a set
/// <prefix>/ack/<subscription>               the same for a subscription made before sets existed
/// <prefix>/ack/<set>                        "ready" for every member of the set
/// ```
/// (Each `<…>` is that record's random topic id.) The urgency level lets a device choose what
/// wakes it: `<prefix>/<set>/+/high/#` receives only high-urgency messages of every member (RFC
/// 8030 §5.3 "monitoring with Urgency", done by the broker). Topic ids are random, so topics
/// reveal nothing about devices or capability URLs; a 22-character id never equals `ack`.
///
/// Everything of one device sits under its set's topic id, acknowledgements included, so a
/// broker ACL can confine a device to `<prefix>/<set>/#` (read) and `<prefix>/ack/<set>/#` (write)
/// with one pattern keyed by its login (docs/mqtt.md#broker-access-control).
public struct TopicScheme: Sendable {
    /// The first topic level(s), `mqtt.topic_prefix`.
    public let prefix: String

    /// Creates a scheme under `prefix`.
    public init(prefix: String) { self.prefix = prefix }

    /// The topic `prefix[/ack][/<set>][/<topic id>][/<last>]`, written at its exact length: one
    /// allocation, where interpolating pieces into a growing string took several — topics are
    /// built for every push and every copy of a list push.
    private func topic(ack: Bool = false, _ setTopicID: TopicID?, _ topicID: TopicID?, _ last: String? = nil) -> String {
        let idLength = TopicID.length + 1
        let length = prefix.utf8.count + (ack ? 4 : 0) + (setTopicID == nil ? 0 : idLength) + (topicID == nil ? 0 : idLength)
            + (last.map { $0.utf8.count + 1 } ?? 0)
        return String(unsafeUninitializedCapacity: length) { buffer in
            var end = 0
            func append(_ text: some Sequence<UInt8>) {
                for byte in text {
                    buffer[end] = byte
                    end += 1
                }
            }
            func append(_ id: TopicID?) {
                guard let id else { return }
                append(CollectionOfOne(UInt8(ascii: "/")))
                id.writeText(to: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[end...])))
                end += TopicID.length
            }
            append(prefix.utf8)
            if ack { append("/ack".utf8) }
            append(setTopicID)
            append(topicID)
            if let last {
                append(CollectionOfOne(UInt8(ascii: "/")))
                append(last.utf8)
            }
            return end
        }
    }

    /// The topic a message of this urgency is published to.
    public func messageTopic(_ subscription: Subscription, urgency: Urgency) -> String {
        messageTopic(subscription.topicID, set: subscription.set?.topicID, urgency: urgency)
    }

    /// The same, from the topic ids alone (held messages keep only those).
    public func messageTopic(_ topicID: TopicID, set setTopicID: TopicID?, urgency: Urgency) -> String {
        topic(setTopicID, topicID, urgency.rawValue)
    }

    /// The filter a device subscribes to for all of a subscription's messages.
    public func deviceFilter(_ subscription: Subscription) -> String { topic(subscription.set?.topicID, subscription.topicID, "#") }

    /// The filter for every message of every member of a set.
    public func setFilter(_ set: SubscriptionSet) -> String { topic(set.topicID, nil, "#") }

    /// The topic a device acknowledges a subscription's messages on, and says "ready" on for it.
    public func ackTopic(_ topicID: TopicID, set setTopicID: TopicID?) -> String { topic(ack: true, setTopicID, topicID) }

    /// The topic a device says "ready" on for every member of a set.
    public func ackTopic(set setTopicID: TopicID) -> String { topic(ack: true, setTopicID, nil) }

    /// The filter Pushgate subscribes to for every device's acknowledgements.
    public var ackFilter: String { "\(prefix)/ack/#" }

    /// The topic id an acknowledgement topic names (its last level: the subscription's, or the
    /// set's for a set-wide "ready"), if `topic` is one.
    public func topicID(inAckTopic topic: String) -> TopicID? {
        let head = "\(prefix)/ack/"
        guard topic.hasPrefix(head) else { return nil }
        let levels = topic.dropFirst(head.count).split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(levels.count), let last = levels.last else { return nil }
        return TopicID(last)
    }

    /// Where a subscription's device listens and acknowledges.
    public func endpoints(_ subscription: Subscription) -> DeviceEndpoints {
        DeviceEndpoints(messageFilter: deviceFilter(subscription), acknowledgementTopic: ackTopic(subscription.topicID, set: subscription.set?.topicID),
                        setFilter: subscription.set.map(setFilter), setAcknowledgementTopic: subscription.set.map { ackTopic(set: $0.topicID) })
    }
}
