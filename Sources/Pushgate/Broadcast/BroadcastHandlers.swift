import NIOConcurrencyHelpers
import WebPush

/// Broadcast routes (`routes` in the config): `POST /r/<token>` publishes once to the route's
/// fixed topic, and the broker fans it out to every device subscribed there. The request rules
/// are a push's (TTL, Urgency, size, encoding), with VAPID required and limited to the route's keys.
final class BroadcastHandlers: Sendable {
    private let policy: PushPolicy
    private let delivery: any PushDelivery
    private let urls: ResourceURLs
    /// Swapped whole by ``reload(_:)``.
    private let table: NIOLockedValueBox<BroadcastTable>

    init(policy: PushPolicy, delivery: any PushDelivery, urls: ResourceURLs, table: BroadcastTable) {
        self.policy = policy
        self.delivery = delivery
        self.urls = urls
        self.table = NIOLockedValueBox(table)
    }

    func push(_ request: APIRequest, to token: BroadcastToken) async throws(APIError) -> APIResponse {
        guard let entry = table.withLockedValue({ $0.entry(token: token) }) else { throw .notFound }
        let validated = try policy.validate(request, restrictionKey: nil, vapidRequired: true)
        guard let key = validated.vapidKey else { throw .missingVAPID }
        guard entry.route.vapidKeys.contains(key) else { throw .notRouteKey }
        // P-32 cannot hold: queued copies in every device's session are beyond recall.
        guard validated.topic == nil else { throw .topicOnRoute }
        // Nor receipts: the broker, not Pushgate, knows who received a broadcast.
        let asksReceipt = request.headers.lowercasedTokens("Prefer").contains { $0.hasPrefix("respond-async") }
            || !LinkHeader.targets("urn:ietf:params:push:receipt", in: request.headers).isEmpty
        guard !asksReceipt else { throw .receiptOnRoute }
        let message = validated.message(body: request.body)
        let delivered: Delivered
        do {
            delivered = try await delivery.deliver(message, to: .broadcast(topic: entry.route.topic))
        } catch {
            throw APIError(error)
        }
        var response = APIResponse(status: .created, headers: APIResponse.acceptedHeaders(location: urls.url(.message, message.id), ttl: message.ttl))
        if delivered.noSubscribers { response.headers.add(name: APIResponse.subscribersHeader, value: "0") }
        return response
    }

    /// How many routes are in force.
    var count: Int { table.withLockedValue { $0.entries.count } }

    /// Replaces the routes (SIGHUP). Pushes in flight finish on the table they started with;
    /// connections are untouched.
    func reload(_ table: BroadcastTable) {
        self.table.withLockedValue { $0 = table }
    }

    /// The routes in force.
    var current: BroadcastTable { table.withLockedValue { $0 } }
}
