public import MQTTBridge
public import NIOCore

/// What ``MQTTDelivery`` needs from a broker connection. ``MQTTBridge`` is it; unit tests record.
public protocol MQTTPublishing: Sendable {
    /// Publishes and returns once the broker has it (QoS 1: PUBACK; QoS 0: written).
    func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError)
    /// The connection's state.
    var state: MQTTConnectionState { get }
}

extension MQTTBridge: MQTTPublishing {
    public func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError) {
        try await publish(topic: topic, payload: payload.readableBytesView, qos: qos, retain: retain, properties: properties)
    }
}

/// Web Push → MQTT, in one place (docs/mqtt.md is this file in prose):
///
/// | push | MQTT |
/// |---|---|
/// | body | payload, byte for byte |
/// | TTL > 0 / TTL 0 | QoS 1 with Message Expiry = TTL / QoS 0, no expiry |
/// | Urgency | a topic level (``TopicScheme``); on a broadcast, the `urgency` user property |
/// | Topic | retained in a keyed slot topic; the newest replaces, an acknowledgement clears |
/// | message id | `message-id` user property and Correlation Data |
/// | Content-Encoding | `content-encoding` user property |
/// | list member key | `encrypted-key` user property |
/// | where to acknowledge | Response Topic |
///
/// Broker errors become ``DeliveryError``s here, so nothing above this layer knows MQTT.
public final class MQTTDelivery: PushDelivery {
    private let publisher: any MQTTPublishing
    /// The topic layout.
    public let topics: TopicScheme
    private let slots = ReplacementSlots()
    private let onError: @Sendable (String) -> Void

    /// Creates the mapping over `publisher`, with topics under `topicPrefix`. `onError` hears
    /// failures nobody waits for (clearing a slot), for the log.
    public init(publisher: any MQTTPublishing, topicPrefix: String, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.publisher = publisher
        self.topics = TopicScheme(prefix: topicPrefix)
        self.onError = onError
    }

    public func deliver(_ message: PushMessage, to recipient: Recipient) async throws(DeliveryError) {
        var properties = MQTTProperties(correlationData: Array(message.id.rawValue.utf8), userProperties: [.init("message-id", message.id.rawValue)])
        if let coding = message.contentEncoding { properties.userProperties.append(.init("content-encoding", coding)) }
        if message.ttl > 0 { properties.messageExpiryInterval = UInt32(message.ttl) }
        // TTL 0 is QoS 0: it reaches only a device connected now, never queued.
        let qos: MQTTQoS = message.ttl > 0 ? .atLeastOnce : .atMostOnce

        switch recipient {
        case .broadcast(let topic):
            // One topic for every urgency, so the urgency travels with the message instead.
            properties.userProperties.append(.init("urgency", message.urgency.rawValue))
            try await publish(topic: topic, message.body, qos: qos, retain: false, properties)

        case .subscription(let subscription, let encryptedKey):
            properties.responseTopic = topics.ackTopic(subscription.topicID)
            if let encryptedKey { properties.userProperties.append(.init("encrypted-key", encryptedKey)) }
            guard let topic = message.topic else {
                try await publish(topic: topics.messageTopic(subscription.topicID, urgency: message.urgency), message.body, qos: qos, retain: false, properties)
                return
            }
            // P-32: the broker's retained message is the one undelivered message of this Topic.
            let slot = TopicScheme.slot(for: topic, of: subscription.topicID)
            let slotTopic = topics.replacementTopic(subscription.topicID, urgency: message.urgency, slot: slot)
            try await publish(topic: slotTopic, message.body, qos: qos, retain: true, properties)
            // P-33: a replacement at another urgency lives in another slot topic; empty the old one.
            let previous = slots.replace("\(subscription.topicID.rawValue)/\(slot)", with: .init(topic: slotTopic, messageID: message.id))
            if let previous, previous.topic != slotTopic { await clearRetained(previous.topic) }
        }
    }

    public func acknowledge(_ id: MessageID) async {
        guard let topic = slots.acknowledge(id) else { return }
        await clearRetained(topic)
    }

    public func endpoints(for subscription: Subscription) -> DeviceEndpoints {
        topics.endpoints(subscription.topicID)
    }

    public var status: DeliveryStatus {
        let state = publisher.state
        return DeliveryStatus(isReady: state == .connected, description: state.description)
    }

    private func publish(topic: String, _ payload: ByteBuffer, qos: MQTTQoS, retain: Bool, _ properties: MQTTProperties) async throws(DeliveryError) {
        do {
            try await publisher.publish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        } catch {
            throw Self.deliveryError(error)
        }
    }

    /// Publishes an empty retained message, which removes the retained one (best effort: if it
    /// fails, the message expires with its TTL).
    private func clearRetained(_ topic: String) async {
        do {
            try await publisher.publish(topic: topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true, properties: MQTTProperties())
        } catch {
            onError("could not clear a retained message: \(error)")
        }
    }

    /// What a broker failure means for the push.
    static func deliveryError(_ error: MQTTBridgeError) -> DeliveryError {
        switch error {
        case .brokerUnavailable(let why): .unavailable(why)
        case .connectionLost: .outcomeUnknown
        case .shutDown: .shuttingDown
        case .packetTooLarge: .tooLarge
        case .rejected(_, let reason): .rejected(reason)
        case .invalidTopic, .client: .rejected(error.description)
        }
    }
}
