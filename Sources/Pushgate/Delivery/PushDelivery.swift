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
    /// A Topic message could not be held durably: not accepted.
    case notStored
    /// Topic replacement needs acknowledgements, which an MQTT 3.1.1 connection cannot carry.
    case replacementUnsupported
    /// The subscription already has this many Topic messages outstanding.
    case tooManyHeld(Int)
}

/// What acknowledging a message found (RFC 8030 §6.2).
public enum Acknowledgement: Sendable, Equatable {
    /// It was outstanding: now acknowledged (a held Topic message is released).
    case acknowledged
    /// Already acknowledged, or expired.
    case gone
    /// Never existed, or forgotten.
    case unknown
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
    @discardableResult
    func deliver(_ message: PushMessage, to recipient: Recipient) async throws(DeliveryError) -> Delivered
    /// Delivers a copy of `message` to every recipient, each copy under its own id; returns once
    /// each copy was taken by the broker or failed, with the copies that failed.
    func deliver(_ message: PushMessage, copies: [(recipient: Recipient, id: MessageID)]) async -> [DeliveryFailure]
    /// A device acknowledged the message (RFC 8030 §6.2; over MQTT, or `DELETE /m/<id>`): a held
    /// Topic message is released and not sent again.
    func acknowledge(_ id: MessageID) async throws(DeliveryError) -> Acknowledgement
    /// The subscriptions were deleted: nothing held for them is sent again.
    func forget(_ subscriptions: [Subscription]) async
    /// Where a subscription's device listens and acknowledges.
    func endpoints(for subscription: Subscription) -> DeviceEndpoints
    /// The connection's state.
    var status: DeliveryStatus { get }
}

/// A copy of a fan-out that failed.
public struct DeliveryFailure: Sendable, Equatable {
    /// Its recipient's position in the fan-out.
    public var index: Int
    /// Why.
    public var error: DeliveryError

    /// Creates the failure of copy `index`.
    public init(index: Int, error: DeliveryError) {
        self.index = index
        self.error = error
    }
}

extension PushDelivery {
    /// Concurrent publishers of one copy-by-copy fan-out: enough to keep the broker's window full.
    static var fanOutPublishers: Int { 512 }

    /// Copy by copy, on at most ``fanOutPublishers`` concurrent tasks.
    public func deliverEach(_ message: PushMessage, copies: [(recipient: Recipient, id: MessageID)]) async -> [DeliveryFailure] {
        await forEachConcurrently(copies.count, width: Self.fanOutPublishers) { index -> DeliveryFailure? in
            var copy = message
            copy.id = copies[index].id
            do throws(DeliveryError) {
                try await self.deliver(copy, to: copies[index].recipient)
                return nil
            } catch {
                return DeliveryFailure(index: index, error: error)
            }
        }
    }

    public func deliver(_ message: PushMessage, copies: [(recipient: Recipient, id: MessageID)]) async -> [DeliveryFailure] {
        await deliverEach(message, copies: copies)
    }
}

/// Hears every acknowledgement before delivery settles it (the receipts feature): returns
/// whether it was waiting for that message.
public protocol AcknowledgementObserver: Sendable {
    /// `message` was acknowledged, over MQTT or `DELETE /m/<id>`.
    func acknowledged(_ message: MessageID) async -> Bool
}

/// What the broker said when it took a message.
public struct Delivered: Sendable, Equatable {
    /// The broker accepted it but no session subscribes to its topic (MQTT 5 PUBACK 0x10): no
    /// device is connected and none keeps a persistent session, so nothing will deliver it.
    /// `false` when the broker did not say (QoS 0, MQTT 3.1.1) or someone subscribes.
    public var noSubscribers: Bool

    /// Creates the outcome.
    public init(noSubscribers: Bool) {
        self.noSubscribers = noSubscribers
    }
}
