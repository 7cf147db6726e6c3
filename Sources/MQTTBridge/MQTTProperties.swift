/// The MQTT 5 properties a publish can carry, and that a received message carries.
///
/// On an MQTT 3.1.1 connection they are not sent: only the topic and payload reach devices.
public struct MQTTProperties: Hashable, Sendable {
    /// Message Expiry Interval, seconds: the broker drops the message once it elapses.
    public var messageExpiryInterval: UInt32?
    /// Content Type.
    public var contentType: String?
    /// Correlation Data: opaque octets echoed by a responder.
    public var correlationData: [UInt8]?
    /// Response Topic: where a responder publishes its answer.
    public var responseTopic: String?
    /// User Properties, in order (names may repeat).
    public var userProperties: [UserProperty]

    /// One user property.
    public struct UserProperty: Hashable, Sendable {
        /// The name.
        public var name: String
        /// The value.
        public var value: String

        /// Creates a user property.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// No properties.
    public init(
        messageExpiryInterval: UInt32? = nil,
        contentType: String? = nil,
        correlationData: [UInt8]? = nil,
        responseTopic: String? = nil,
        userProperties: [UserProperty] = []
    ) {
        self.messageExpiryInterval = messageExpiryInterval
        self.contentType = contentType
        self.correlationData = correlationData
        self.responseTopic = responseTopic
        self.userProperties = userProperties
    }

    /// The first user property with this name.
    public func userProperty(_ name: String) -> String? {
        userProperties.first { $0.name == name }?.value
    }

    /// Whether there is nothing to send.
    public var isEmpty: Bool {
        messageExpiryInterval == nil && contentType == nil && correlationData == nil && responseTopic == nil && userProperties.isEmpty
    }
}

/// A message received on a subscription.
public struct MQTTMessage: Sendable {
    /// The topic it was published to.
    public var topic: String
    /// The payload, byte for byte.
    public var payload: [UInt8]
    /// The QoS it was delivered with.
    public var qos: Int
    /// Whether it was a retained message.
    public var retain: Bool
    /// Its MQTT 5 properties.
    public var properties: MQTTProperties
}

/// The broker's answer to a publish.
public struct MQTTPublishAck: Sendable {
    /// The MQTT 5 PUBACK reason code: 0 success, 0x10 "no matching subscribers" (still
    /// accepted). Always 0 for QoS 0 and for MQTT 3.1.1.
    public var reasonCode: Int

    /// An acknowledgement with `reasonCode`.
    public init(reasonCode: Int) {
        self.reasonCode = reasonCode
    }
}

/// Quality of service.
public enum MQTTQoS: Int, Sendable {
    /// At most once: returns once written to the socket; never queued for offline clients.
    case atMostOnce = 0
    /// At least once: returns on PUBACK.
    case atLeastOnce = 1
}
