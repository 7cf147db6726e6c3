public import MQTTBridge
public import NIOCore

/// One message for the broker.
public struct OutgoingMessage: Sendable {
    /// The MQTT topic.
    public var topic: String
    /// The payload, byte for byte the push body.
    public var payload: ByteBuffer
    /// QoS 1 for TTL > 0, QoS 0 for TTL 0 (never queued for an offline device).
    public var qos: MQTTQoS
    /// MQTT 5 properties.
    public var properties: MQTTProperties
    /// Retained: the broker keeps the newest message of the topic for future subscribers
    /// (Topic replacement); an empty retained payload clears it.
    public var retain = false
}

/// Where ``PushService`` hands messages; returns once the broker has the message. The MQTT
/// bridge implements it; unit tests use a fake.
public protocol PushDelivery: Sendable {
    /// Publishes and waits for the broker's acknowledgement.
    func deliver(_ message: OutgoingMessage) async throws(MQTTBridgeError)
    /// Whether deliveries can succeed now (for /readyz).
    var isReady: Bool { get }
    /// A short description of the connection state (for /readyz).
    var stateDescription: String { get }
}

extension MQTTBridge: PushDelivery {
    public func deliver(_ message: OutgoingMessage) async throws(MQTTBridgeError) {
        try await publish(topic: message.topic, payload: message.payload.readableBytesView, qos: message.qos,
                          retain: message.retain, properties: message.properties)
    }

    public var isReady: Bool { isConnected }

    public var stateDescription: String { state.description }
}
