import MQTTBridge

/// Listens for device acknowledgements: a device publishes to its Response Topic
/// (`<prefix>/ack/<topic id>`) with the Correlation Data of the message, which is its message id.
enum AckListener {
    /// Subscribes to every device's ack topic and hands message ids to the service.
    static func start(bridge: MQTTBridge, service: PushService) async throws {
        try await bridge.subscribe(service.topics.ackFilter) { message in
            // Runs on the MQTT network thread: hand off at once.
            guard let correlation = message.properties.correlationData,
                  let messageID = String(validating: correlation, as: UTF8.self),
                  CapabilityToken.isWellFormed(Substring(messageID))
            else { return }
            Task { await service.acknowledged(messageID: messageID) }
        }
    }
}
