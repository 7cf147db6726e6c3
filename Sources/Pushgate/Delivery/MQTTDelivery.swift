public import Foundation
public import MQTTBridge
import NIOConcurrencyHelpers
public import NIOCore

/// What ``MQTTDelivery`` needs from a broker connection. ``MQTTBridge`` is it; unit tests record.
public protocol MQTTPublishing: Sendable {
    /// Publishes and returns once the broker has it (QoS 1: PUBACK; QoS 0: written), with the
    /// broker's answer (MQTT 5 PUBACK reason: 0x10 "no matching subscribers").
    @discardableResult
    func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError) -> MQTTPublishAck
    /// The connection's state.
    var state: MQTTConnectionState { get }
    /// Whether the broker has left something unanswered past the publish timeout.
    var isStalled: Bool { get }
    /// Whether the connection carries MQTT 5 properties (not on MQTT 3.1.1).
    var carriesProperties: Bool { get }
    /// Publishes `payload` to every message's topic with its properties; a result per message, in
    /// order, once the broker has answered for all of them.
    func publish(batch: [MQTTBatchMessage], payload: ByteBuffer, qos: MQTTQoS, retain: Bool) async -> [Result<MQTTPublishAck, MQTTBridgeError>]
}

extension MQTTPublishing {
    /// One publish after another (a connection without a batch path of its own).
    public func publish(batch: [MQTTBatchMessage], payload: ByteBuffer, qos: MQTTQoS, retain: Bool) async -> [Result<MQTTPublishAck, MQTTBridgeError>] {
        var results: [Result<MQTTPublishAck, MQTTBridgeError>] = []
        results.reserveCapacity(batch.count)
        for message in batch {
            do throws(MQTTBridgeError) {
                results.append(.success(try await publish(topic: message.topic, payload: payload, qos: qos, retain: retain, properties: message.properties)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}

extension MQTTBridge: MQTTPublishing {
    @discardableResult
    public func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError) -> MQTTPublishAck {
        try await publish(topic: topic, payload: payload.readableBytesView, qos: qos, retain: retain, properties: properties)
    }

    public var carriesProperties: Bool { configuration.protocolVersion == .v5 }

    public func publish(batch: [MQTTBatchMessage], payload: ByteBuffer, qos: MQTTQoS, retain: Bool) async -> [Result<MQTTPublishAck, MQTTBridgeError>] {
        await publish(batch: batch, payload: payload.readableBytesView, qos: qos, retain: retain)
    }
}

/// Web Push → MQTT, in one place (docs/mqtt.md is this file in prose):
///
/// | push | MQTT |
/// |---|---|
/// | body | payload, byte for byte |
/// | TTL > 0 / TTL 0 | QoS 1 with Message Expiry = TTL / QoS 0, no expiry |
/// | Urgency | a topic level (``TopicScheme``); on a broadcast, the `urgency` user property |
/// | Topic | QoS 0 now, held by Pushgate and sent again until acknowledged, replaced or expired |
/// | message id | `message-id` user property and Correlation Data |
/// | when it was accepted (P-56) | `accepted-at` user property, RFC 3339 UTC |
/// | Content-Encoding | `content-encoding` user property |
/// | list member key | `encrypted-key` user property |
/// | where to acknowledge | Response Topic |
///
/// Replacement (Topic, RFC 8030 §5.4) does not use the broker's retained messages: a retained
/// message can only be removed by publishing an empty one, which the broker forwards to every
/// device subscribed at that moment — a message no application server sent. And a copy queued
/// in a device's persistent session can never be replaced. So a Topic message is published at
/// QoS 0 (never queued by the broker), and Pushgate holds the newest one per subscription and
/// Topic durably (``HeldMessageStore``) and sends it again — when the device says it is ready (a
/// message without Correlation Data on its acknowledgement topic), and otherwise at growing
/// intervals — until the device acknowledges it, a newer one replaces it, or its TTL passes.
///
/// Broker errors become ``DeliveryError``s here, so nothing above this layer knows MQTT.
public final class MQTTDelivery: PushDelivery {
    /// Topic messages one subscription may have outstanding.
    public static let maxHeldPerSubscription = 100

    private let publisher: any MQTTPublishing
    /// The topic layout.
    public let topics: TopicScheme
    private let slots: TopicSlot
    private let held: any HeldMessageQueue
    private let ledger: MessageLedger
    private let clock: @Sendable () -> Int64
    private let onError: @Sendable (String) -> Void
    private let observer: (any AcknowledgementObserver)?

    /// Creates the mapping over `publisher`, with topics under `topicPrefix`, Topic slots keyed by
    /// the installation `secret`, held messages in `store`. `onError` hears failures nobody waits
    /// for (resends), for the log.
    public init(publisher: any MQTTPublishing, topicPrefix: String, secret: [UInt8], store: any HeldMessageStore,
                trackedMessages: Int = 200_000, observer: (any AcknowledgementObserver)? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.observer = observer
        self.publisher = publisher
        self.topics = TopicScheme(prefix: topicPrefix)
        self.slots = TopicSlot(secret: secret)
        // A shared store is the queue itself; a private one sits under a queue in memory.
        self.held = (store as? any HeldMessageQueue) ?? LocalHeldMessageQueue(store: store)
        self.ledger = MessageLedger(capacity: trackedMessages)
        self.clock = clock
        self.onError = onError
    }

    /// Loads the held messages of a previous run, to send them on; returns how many are held.
    @discardableResult
    public func resume() async throws -> Int {
        try await held.resume(now: clock())
    }

    /// How many messages one instance holds in memory (tests; `nil` on a shared queue).
    var heldInMemory: Int? { (held as? LocalHeldMessageQueue)?.count }

    // MARK: Deliver

    @discardableResult
    public func deliver(_ message: PushMessage, to recipient: Recipient) async throws(DeliveryError) -> Delivered {
        switch recipient {
        case .broadcast:
            return try await publish(outgoing(message, id: message.id, to: recipient), message.body, qos: Self.qos(message))

        case .subscription(let subscription, let encryptedKey):
            guard let topic = message.topic else {
                let delivered = try await publish(outgoing(message, id: message.id, to: recipient), message.body, qos: Self.qos(message))
                ledger.record(message.id, expiresAt: message.expiresAt)
                return delivered
            }
            try await deliverReplacing(message, topic: topic, to: subscription, encryptedKey: encryptedKey)
            // Held and sent again until acknowledged: whether anyone listens now does not decide it.
            return Delivered(noSubscribers: false)
        }
    }

    /// A copy per recipient, each under its own id, in chunks through the broker connection's
    /// batch path (``MQTTBridge/publish(batch:payload:qos:retain:)``): one wake-up and one resume
    /// per chunk instead of per copy. A Topic message goes copy by copy (each is held).
    public func deliver(_ message: PushMessage, copies: [(recipient: Recipient, id: MessageID)]) async -> [DeliveryFailure] {
        guard message.topic == nil else { return await deliverEach(message, copies: copies) }
        let batch = copies.map { outgoing(message, id: $0.id, to: $0.recipient) }
        let results = await publisher.publish(batch: batch, payload: message.body, qos: Self.qos(message), retain: false)
        var failures: [DeliveryFailure] = []
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let ack):
                _ = Self.delivered(ack)
                if case .subscription = copies[index].recipient { ledger.record(copies[index].id, expiresAt: message.expiresAt) }
            case .failure(let error):
                failures.append(DeliveryFailure(index: index, error: Self.deliveryError(error)))
            }
        }
        return failures
    }

    /// A Topic message: sent now at QoS 0, then held (TTL > 0) in place of the older one of its
    /// Topic; with TTL 0 it only replaces (P-26: now or never).
    private func deliverReplacing(_ message: PushMessage, topic: String, to subscription: Subscription,
                                  encryptedKey: String?) async throws(DeliveryError) {
        guard publisher.carriesProperties else { throw .replacementUnsupported }
        let slot = slots.slot(for: topic, of: subscription.topicID)
        if message.ttl > 0 {
            let room: Bool
            do {
                room = try await held.hasRoom(topicID: subscription.topicID, slot: slot, limit: Self.maxHeldPerSubscription)
            } catch {
                onError("could not count held Topic messages: \(error)")
                throw .notStored
            }
            guard room else { throw .tooManyHeld(Self.maxHeldPerSubscription) }
        }
        _ = try await publish(outgoing(message, id: message.id, to: .subscription(subscription, encryptedKey: encryptedKey)), message.body,
                              qos: .atMostOnce)
        ledger.record(message.id, expiresAt: message.expiresAt)
        do {
            if message.ttl > 0 {
                try await held.hold(HeldMessage(message, for: subscription, slot: slot, encryptedKey: encryptedKey), now: clock())
            } else {
                try await held.dropSlot(topicID: subscription.topicID, slot: slot)
            }
        } catch {
            onError("could not hold a Topic message: \(error)")
            throw .notStored
        }
    }

    // MARK: Acknowledge, ready, resend

    public func acknowledge(_ id: MessageID) async throws(DeliveryError) -> Acknowledgement {
        // A receipt waiting for it is settled first: the message may be one the ledger forgot.
        let receipted = await observer?.acknowledged(id) ?? false
        let outcome = try await settle(id)
        return receipted && outcome == .unknown ? .acknowledged : outcome
    }

    private func settle(_ id: MessageID) async throws(DeliveryError) -> Acknowledgement {
        let released: Bool
        do {
            released = try await held.acknowledge(id)
        } catch {
            onError("could not release an acknowledged message: \(error)")
            throw .notStored
        }
        if released {
            ledger.markAcknowledged(id)
            return .acknowledged
        }
        return ledger.acknowledge(id, now: clock())
    }

    /// A device said it is ready (a message without Correlation Data on the acknowledgement
    /// topic of a subscription or a set): everything held for it is sent now.
    public func deviceReady(_ topicID: TopicID) async {
        do {
            for message in try await held.ready(topicID, now: clock()) { await resend(message) }
        } catch {
            onError("could not read held messages: \(error)")
        }
    }

    public func forget(_ subscriptions: [Subscription]) async {
        // The store dropped their held messages with them; this stops the resends.
        for subscription in subscriptions { await held.forget(topicID: subscription.topicID) }
    }

    /// Sends again what is due, and forgets what expired (``HeldMessageResender`` calls it).
    public func resendDue() async {
        do {
            for message in try await held.takeDue(now: clock()) { await resend(message) }
        } catch {
            onError("could not read the held messages due: \(error)")
        }
    }

    private func resend(_ held: HeldMessage) async {
        let remaining = Int(held.expiresAt - clock())
        guard remaining > 0 else { return }
        let message = held.message
        do throws(DeliveryError) {
            _ = try await publish(outgoing(message, id: message.id, expiry: remaining, topicID: held.topicID, set: held.setTopicID,
                                           encryptedKey: held.encryptedKey), message.body, qos: .atMostOnce)
        } catch {
            onError("could not resend a held message: \(error)")
        }
    }

    // MARK: Mapping

    public func endpoints(for subscription: Subscription) -> DeviceEndpoints {
        topics.endpoints(subscription)
    }

    public var status: DeliveryStatus {
        let state = publisher.state
        // Connected but silent (stopped, overloaded): not ready, so a load balancer moves on.
        if state == .connected, publisher.isStalled {
            return DeliveryStatus(isReady: false, description: "connected, but the broker stopped acknowledging")
        }
        return DeliveryStatus(isReady: state == .connected, description: state.description)
    }

    /// The MQTT 5 properties every message carries.
    private static func properties(id: MessageID, acceptedAt: Int64, contentEncoding: String?, expiry: Int) -> MQTTProperties {
        let text = id.rawValue
        // Room for all four at once (message-id, accepted-at, content-encoding, then urgency or
        // encrypted-key): a two-element literal grew on the next append, an allocation per push.
        var userProperties: [MQTTProperties.UserProperty] = []
        userProperties.reserveCapacity(4)
        userProperties.append(.init("message-id", text))
        userProperties.append(.init("accepted-at", acceptedAtText.text(for: acceptedAt)))
        if let contentEncoding { userProperties.append(.init("content-encoding", contentEncoding)) }
        var properties = MQTTProperties(correlationData: Array(text.utf8), userProperties: userProperties)
        if expiry > 0 { properties.messageExpiryInterval = UInt32(expiry) }
        return properties
    }

    /// What `message`, under `id`, becomes on MQTT for `recipient`: its topic and properties
    /// (a Topic message's too: it is sent the same way, only at QoS 0).
    private func outgoing(_ message: PushMessage, id: MessageID, to recipient: Recipient) -> MQTTBatchMessage {
        switch recipient {
        case .broadcast(let topic):
            var properties = Self.properties(id: id, acceptedAt: message.acceptedAt, contentEncoding: message.contentEncoding, expiry: message.ttl)
            // One topic for every urgency, so the urgency travels with the message instead.
            properties.userProperties.append(.init("urgency", message.urgency.rawValue))
            return MQTTBatchMessage(topic: topic, properties: properties)
        case .subscription(let subscription, let encryptedKey):
            return outgoing(message, id: id, expiry: message.ttl, topicID: subscription.topicID, set: subscription.set?.topicID,
                            encryptedKey: encryptedKey)
        }
    }

    /// The same for a subscription known by its topic ids (a held message keeps only those), with
    /// `expiry` seconds left.
    private func outgoing(_ message: PushMessage, id: MessageID, expiry: Int, topicID: TopicID, set setTopicID: TopicID?,
                          encryptedKey: String?) -> MQTTBatchMessage {
        var properties = Self.properties(id: id, acceptedAt: message.acceptedAt, contentEncoding: message.contentEncoding, expiry: expiry)
        properties.responseTopic = topics.ackTopic(topicID, set: setTopicID)
        if let encryptedKey { properties.userProperties.append(.init("encrypted-key", encryptedKey)) }
        return MQTTBatchMessage(topic: topics.messageTopic(topicID, set: setTopicID, urgency: message.urgency), properties: properties)
    }

    /// TTL 0 is QoS 0: it reaches only a device connected now, never queued.
    private static func qos(_ message: PushMessage) -> MQTTQoS {
        message.ttl > 0 ? .atLeastOnce : .atMostOnce
    }

    private func publish(_ outgoing: MQTTBatchMessage, _ payload: ByteBuffer, qos: MQTTQoS) async throws(DeliveryError) -> Delivered {
        do {
            return Self.delivered(try await publisher.publish(topic: outgoing.topic, payload: payload, qos: qos, retain: false,
                                                              properties: outgoing.properties))
        } catch {
            throw Self.deliveryError(error)
        }
    }

    /// What the broker's answer says (and a push nobody subscribes to, counted).
    private static func delivered(_ ack: MQTTPublishAck) -> Delivered {
        let noSubscribers = ack.reasonCode == noMatchingSubscribers
        if noSubscribers { PushgateMetrics.pushesWithoutSubscribers.increment() }
        return Delivered(noSubscribers: noSubscribers)
    }

    /// MQTT 5 PUBACK reason 0x10: accepted, but no session subscribes to the topic (no device
    /// connected, none with a persistent session): nothing will hold or deliver the message.
    static let noMatchingSubscribers = 0x10

    /// The `accepted-at` text of the current second, formatted once per second, not per message.
    private static let acceptedAtText = SecondText()

    /// What a broker failure means for the push.
    static func deliveryError(_ error: MQTTBridgeError) -> DeliveryError {
        switch error {
        case .brokerUnavailable(let why): .unavailable(why)
        case .connectionLost, .timedOut: .outcomeUnknown
        case .overloaded: .unavailable("too many publishes are waiting for the broker")
        case .cancelled: .unavailable("the request was cancelled before it was sent")
        case .shutDown: .shuttingDown
        case .packetTooLarge: .tooLarge
        case .rejected(_, let reason): .rejected(reason)
        case .invalidTopic, .client: .rejected(error.description)
        }
    }
}

/// An RFC 3339 time formatted once per second and reused by every message of that second.
final class SecondText: Sendable {
    private let last = NIOLockedValueBox<(second: Int64, text: String)>((.min, ""))

    func text(for second: Int64) -> String {
        if let cached = last.withLockedValue({ $0.second == second ? $0.text : nil }) { return cached }
        let text = RFC3339.format(second)
        last.withLockedValue { $0 = (second, text) }
        return text
    }
}
