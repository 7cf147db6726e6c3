import WebPush

/// Sends one message to many recipients and reports the copies that failed; its limiter bounds
/// the copies per second a VAPID key may cause. How the copies use the broker connection is
/// delivery's business (``PushDelivery/deliver(_:copies:)``: in chunks over MQTT).
struct FanOut: Sendable {
    let delivery: any PushDelivery
    /// Fan-out deliveries per second per VAPID key.
    let limiter: FanOutLimiter

    /// Delivers a copy of `message` to every recipient, each copy under its own message id (so
    /// the members cannot be linked to each other through it, RFC 8030 §8.2); returns once each
    /// copy was acknowledged or failed.
    func deliver(_ message: PushMessage, to recipients: [(recipient: Recipient, id: MessageID)]) async -> [DeliveryFailure] {
        await delivery.deliver(message, copies: recipients)
    }
}
