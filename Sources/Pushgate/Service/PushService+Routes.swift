import MQTTBridge
import WebPush

/// Admin routes (`routes` in the config): `POST /r/<token>` publishes once to the route's fixed
/// topic, and the broker fans it out to every device subscribed there. The request rules are a
/// push's (TTL, Urgency, size, encoding), with VAPID required and limited to the route's keys.
extension PushService {
    func pushToRoute(token: String, _ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        guard let entry = routes.withLockedValue({ $0.entry(token: token) }) else { throw .notFound }
        let message = try validate(request, restrictionKey: nil, vapidRequired: true)
        guard let key = message.vapidKey else { throw .missingVAPID }
        guard entry.route.vapidKeys.contains(key) else { throw .notRouteKey }
        // P-32 cannot hold: queued copies in every device's session are beyond recall.
        guard message.topic == nil else { throw .topicOnRoute }

        let messageID = CapabilityToken.make()
        var properties = messageProperties(message, id: messageID)
        // One topic for every urgency, so the urgency travels with the message instead.
        properties.userProperties.append(.init("urgency", message.urgency.rawValue))
        let outgoing = OutgoingMessage(topic: entry.route.topic, payload: request.body, qos: message.qos, properties: properties)
        do {
            try await delivery.deliver(outgoing)
        } catch {
            throw Self.pushError(error, retryAfter: settings.retryAfterSeconds)
        }
        return ServiceResponse(status: .created, headers: acceptedHeaders(messageID: messageID, ttl: message.ttl))
    }

    /// Replaces the admin routes (SIGHUP). Pushes in flight finish on the table they started
    /// with; connections are untouched.
    public func reloadRoutes(_ table: RouteTable) {
        routes.withLockedValue { $0 = table }
    }

    /// The admin routes in force.
    public var routeTable: RouteTable { routes.withLockedValue { $0 } }
}
