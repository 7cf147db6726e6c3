import Foundation
import Logging
import NIOHTTP1
import WebPush

/// RFC 8030 for single subscriptions: subscribe (§4, RFC 8292 §4), push (§5), delete (§7.3).
struct PushHandlers: Sendable {
    let policy: PushPolicy
    let registry: Registry
    let delivery: any PushDelivery
    let urls: ResourceURLs
    let logger: Logger

    // MARK: Subscribe

    func subscribe(_ request: APIRequest) async throws(APIError) -> APIResponse {
        try checkSubscribeToken(request)
        let restrictionKey = try Self.restrictionKey(request)
        let subscription = Subscription.make(restrictionKey: restrictionKey, now: policy.now)
        try await persisting(logger) { try await registry.add(subscription) }
        let body = SubscriptionCreatedBody(subscription, urls: urls, endpoints: delivery.endpoints(for: subscription))
        logger.debug("subscription created", metadata: ["restricted": "\(restrictionKey != nil)"])
        return .created(location: body.subscription, push: body.endpoint, body: body,
                        links: ["<\(urls.url(.listService))>; rel=\"urn:ietf:params:push:multi\""])
    }

    /// With `access.subscribe_tokens` set, `Authorization: Bearer <one of them>`.
    private func checkSubscribeToken(_ request: APIRequest) throws(APIError) {
        let tokens = policy.settings.subscribeTokens
        guard !tokens.isEmpty else { return }
        let presented = request.headers["Authorization"].first.flatMap { value -> Substring? in
            let parts = value.split(separator: " ", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "bearer" ? parts[1].trimmingOWS() : nil
        }
        guard let presented, tokens.contains(where: { $0 == presented }) else { throw .subscribeUnauthorized }
    }

    /// The subscribe options body (`application/webpush-options+json`, V-01..V-03): unknown
    /// members are ignored; a `vapid` member must be a valid uncompressed P-256 key.
    struct SubscribeOptions: Decodable {
        var vapid: String?
    }

    static func restrictionKey(_ request: APIRequest) throws(APIError) -> VAPIDPublicKey? {
        guard request.mediaType == "application/webpush-options+json", request.body.readableBytes > 0 else { return nil }
        let options: SubscribeOptions
        do {
            options = try JSONCoding.decoder.decode(SubscribeOptions.self, from: Data(request.body.readableBytesView))
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.first?.stringValue == "vapid" {
            throw .invalidSubscribeOptions("\"vapid\" must be a string")
        } catch DecodingError.typeMismatch {
            throw .invalidSubscribeOptions("the body must be a JSON object")
        } catch {
            throw .invalidSubscribeOptions("the body is not JSON")
        }
        guard let key = options.vapid else { return nil }
        do {
            return try VAPIDPublicKey(base64URL: key)
        } catch {
            throw .invalidSubscribeOptions("\"vapid\" must be base64url of a 65-octet uncompressed P-256 public key")
        }
    }

    // MARK: Delete

    func unsubscribe(_ request: APIRequest, id: SubscriptionID) async throws(APIError) -> APIResponse {
        let now = policy.now
        let removed = try await persisting(logger) { try await registry.remove(id: id, now: now) }
        guard removed != nil else { throw .notFound }
        return APIResponse(status: .noContent)
    }

    // MARK: Push

    func push(_ request: APIRequest, to token: PushToken) async throws(APIError) -> APIResponse {
        let subscription: Subscription
        switch registry.lookup(pushToken: token) {
        case .active(let found): subscription = found
        case .deleted: throw .gone
        case .unknown: throw .notFound
        }
        let validated = try policy.validate(request, restrictionKey: subscription.restrictionKey)
        let message = validated.message(body: request.body)
        do {
            try await delivery.deliver(message, to: .subscription(subscription))
        } catch {
            throw APIError(error)
        }
        return APIResponse(status: .created, headers: APIResponse.acceptedHeaders(location: urls.url(.message, message.id), ttl: message.ttl))
    }
}

/// Runs a registry write. A failure of the store is 503 (errno 133) and, since the index changes
/// only after the store, changes nothing; an ``APIError`` thrown by a check inside the write
/// passes through.
func persisting<T: Sendable>(_ logger: Logger, _ write: () async throws -> T) async throws(APIError) -> T {
    do {
        return try await write()
    } catch let error as APIError {
        throw error
    } catch {
        logger.error("registry write failed", metadata: ["error": "\(error)"])
        throw .storageUnavailable
    }
}
