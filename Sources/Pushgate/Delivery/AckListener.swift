import Logging
import MQTTBridge
import ServiceLifecycle

/// Device acknowledgements: a device publishes to its Response Topic (`<prefix>/ack/<topic id>`)
/// with the Correlation Data of the message, which is its message id.
///
/// A service: ``run()`` subscribes and applies acknowledgements one after another until shutdown.
/// The MQTT handler runs on the broker connection's network thread, so it only parses and
/// enqueues (bounded: a flood of forged acks drops the oldest, never grows memory).
struct AckListener: Service {
    let bridge: MQTTBridge
    let delivery: MQTTDelivery
    let logger: Logger
    /// Acknowledgements waiting to be applied.
    static let queueLimit = 10_000

    func run() async throws {
        let (acks, continuation) = AsyncStream.makeStream(of: MessageID.self, bufferingPolicy: .bufferingNewest(Self.queueLimit))
        // Restored by the bridge on every reconnect; made now if connected, else on connect.
        let subscription = try await bridge.subscribe(delivery.topics.ackFilter) { message in
            guard let correlation = message.properties.correlationData,
                  let id = String(validating: correlation, as: UTF8.self).flatMap(MessageID.init)
            else { return }
            continuation.yield(id)
        }
        defer { bridge.unsubscribe(subscription) }
        await withGracefulShutdownHandler {
            for await id in acks { await delivery.acknowledge(id) }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }
}
