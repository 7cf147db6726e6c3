import Logging
import MQTTBridge
import ServiceLifecycle

/// Device acknowledgements: a device publishes to its Response Topic (`<prefix>/ack/<topic id>`)
/// with the Correlation Data of the message, which is its message id. A message there without
/// Correlation Data says "ready": send what is held (on a set's topic id: for every member).
///
/// Several instances read them through one MQTT shared subscription, so each acknowledgement is
/// handled once, by whichever instance the broker picks; what it settles is in the shared store.
///
/// A service: ``run()`` subscribes and applies them one after another until shutdown. The MQTT
/// handler runs on the broker connection's network thread, so it only parses and enqueues
/// (bounded: a flood drops the oldest, never grows memory).
struct AckListener: Service {
    let bridge: MQTTBridge
    let delivery: MQTTDelivery
    let logger: Logger
    /// The shared-subscription group (`mqtt.ack_share_group`); empty: a plain subscription.
    var shareGroup = ""
    /// Acknowledgements waiting to be applied.
    static let queueLimit = 10_000

    enum Event: Sendable {
        case acknowledged(MessageID)
        case ready(TopicID)
    }

    func run() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(Self.queueLimit))
        let topics = delivery.topics
        // Restored by the bridge on every reconnect; made now if connected, else on connect.
        // In a group, the broker hands each acknowledgement to one instance of the cluster.
        let filter = shareGroup.isEmpty ? topics.ackFilter : "$share/\(shareGroup)/\(topics.ackFilter)"
        let subscription = try await bridge.subscribe(filter) { message in
            guard let correlation = message.properties.correlationData, !correlation.isEmpty else {
                if let topicID = topics.topicID(inAckTopic: message.topic) { continuation.yield(.ready(topicID)) }
                return
            }
            guard let id = String(validating: correlation, as: UTF8.self).flatMap(MessageID.init) else { return }
            continuation.yield(.acknowledged(id))
        }
        defer { bridge.unsubscribe(subscription) }
        await withGracefulShutdownHandler {
            for await event in events {
                switch event {
                case .acknowledged(let id): _ = try? await delivery.acknowledge(id)
                case .ready(let topicID): await delivery.deviceReady(topicID)
                }
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }
}
