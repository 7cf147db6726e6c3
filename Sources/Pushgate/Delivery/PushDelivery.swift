/// Why a delivery failed, in the service's terms (the API turns each into a status and errno).
public enum DeliveryError: Error, Hashable, Sendable {
    /// Not connected to the broker: the message was **not** sent.
    case unavailable(String)
    /// The connection dropped before the broker acknowledged: it may have been delivered.
    case outcomeUnknown
    /// Shutting down: not sent.
    case shuttingDown
    /// Larger than the broker accepts.
    case tooLarge
    /// The broker refused it (e.g. not authorized).
    case rejected(String)
}

/// Whether deliveries can succeed now (for `/readyz`).
public struct DeliveryStatus: Sendable, Hashable {
    /// Deliveries can succeed.
    public var isReady: Bool
    /// A short description of the broker connection.
    public var description: String

    /// Creates a status.
    public init(isReady: Bool, description: String) {
        self.isReady = isReady
        self.description = description
    }
}

/// The seam between the Web Push features and the broker: features hand over domain messages,
/// delivery decides topics, QoS, properties and replacement. ``MQTTDelivery`` implements it.
public protocol PushDelivery: Sendable {
    /// Publishes and returns once the broker has the message.
    func deliver(_ message: PushMessage, to recipient: Recipient) async throws(DeliveryError)
    /// A device acknowledged the message (RFC 8030 §6.2): a Topic message is not delivered again.
    func acknowledge(_ id: MessageID) async
    /// Where a subscription's device listens and acknowledges.
    func endpoints(for subscription: Subscription) -> DeviceEndpoints
    /// The connection's state.
    var status: DeliveryStatus { get }
}
