import WebPush

/// Sends one message to many recipients and reports the copies that failed. The one place that
/// decides how a fan-out uses the broker connection.
struct FanOut: Sendable {
    /// A copy that failed.
    struct Failure: Sendable {
        /// Its recipient's position.
        var index: Int
        var error: DeliveryError
    }

    /// Concurrent publishers of one fan-out: enough to keep the broker's window full.
    static let publishers = 512

    let delivery: any PushDelivery
    /// Fan-out deliveries per second per VAPID key.
    let limiter: FanOutLimiter

    /// Delivers a copy of `message` to every recipient, each copy under its own message id (so
    /// the members cannot be linked to each other through it, RFC 8030 §8.2); returns once each
    /// copy was acknowledged or failed.
    func deliver(_ message: PushMessage, to recipients: [(recipient: Recipient, id: MessageID)]) async -> [Failure] {
        let delivery = self.delivery
        return await forEachConcurrently(recipients.count, width: Self.publishers) { index -> Failure? in
            var copy = message
            copy.id = recipients[index].id
            do throws(DeliveryError) {
                try await delivery.deliver(copy, to: recipients[index].recipient)
                return nil
            } catch {
                return Failure(index: index, error: error)
            }
        }
    }
}
