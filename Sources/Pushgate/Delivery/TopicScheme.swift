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

    /// The levels every topic of a subscription starts with.
    private func base(_ topicID: TopicID, set setTopicID: TopicID?) -> String {
        if let setTopicID { return "\(prefix)/\(setTopicID.rawValue)/\(topicID.rawValue)" }
        return "\(prefix)/\(topicID.rawValue)"
    }

    private func base(_ subscription: Subscription) -> String { base(subscription.topicID, set: subscription.set?.topicID) }

    /// The topic a message of this urgency is published to.
    public func messageTopic(_ subscription: Subscription, urgency: Urgency) -> String {
        messageTopic(subscription.topicID, set: subscription.set?.topicID, urgency: urgency)
    }

    /// The same, from the topic ids alone (held messages keep only those).
    public func messageTopic(_ topicID: TopicID, set setTopicID: TopicID?, urgency: Urgency) -> String {
        "\(base(topicID, set: setTopicID))/\(urgency.rawValue)"
    }

    /// The filter a device subscribes to for all of a subscription's messages.
    public func deviceFilter(_ subscription: Subscription) -> String { "\(base(subscription))/#" }

    /// The filter for every message of every member of a set.
    public func setFilter(_ set: SubscriptionSet) -> String { "\(prefix)/\(set.topicID.rawValue)/#" }

    /// The topic a device acknowledges a subscription's messages on, and says "ready" on for it.
    public func ackTopic(_ topicID: TopicID, set setTopicID: TopicID?) -> String {
        if let setTopicID { return "\(prefix)/ack/\(setTopicID.rawValue)/\(topicID.rawValue)" }
        return "\(prefix)/ack/\(topicID.rawValue)"
    }

    /// The topic a device says "ready" on for every member of a set.
    public func ackTopic(set setTopicID: TopicID) -> String { "\(prefix)/ack/\(setTopicID.rawValue)" }

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
