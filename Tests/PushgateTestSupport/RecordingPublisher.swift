import Foundation
public import MQTTBridge
public import NIOCore
public import Pushgate

/// A broker connection that records what it is asked to publish, or fails with a chosen error;
/// ``MQTTDelivery`` over it is the real mapping with no broker.
public final class RecordingPublisher: MQTTPublishing, @unchecked Sendable {
    /// One publish.
    public struct Publish: Sendable {
        public var topic: String
        public var payload: ByteBuffer
        public var qos: MQTTQoS
        public var retain: Bool
        public var properties: MQTTProperties
    }

    private let lock = NSLock()
    private var published: [Publish] = []
    private var _failure: MQTTBridgeError?
    private var _carriesProperties = true
    private var _isStalled = false

    /// A connected publisher.
    public init() {}

    /// What every publish throws while set (and the state it reports).
    public var failure: MQTTBridgeError? {
        get { lock.withLock { _failure } }
        set { lock.withLock { _failure = newValue } }
    }

    /// Whether it acts as an MQTT 5 connection (properties) or 3.1.1.
    public var carriesProperties: Bool {
        get { lock.withLock { _carriesProperties } }
        set { lock.withLock { _carriesProperties = newValue } }
    }

    /// Whether it reports a broker that stopped acknowledging.
    public var isStalled: Bool {
        get { lock.withLock { _isStalled } }
        set { lock.withLock { _isStalled = newValue } }
    }

    /// Every successful publish, in order.
    public var messages: [Publish] { lock.withLock { published } }

    public func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) async throws(MQTTBridgeError) -> MQTTPublishAck {
        let failure: MQTTBridgeError? = lock.withLock {
            if let failure = _failure { return failure }
            published.append(Publish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties))
            return nil
        }
        if let failure { throw failure }
        return MQTTPublishAck(reasonCode: 0)
    }

    public var state: MQTTConnectionState {
        failure == nil ? .connected : .disconnected(reason: "test")
    }
}
