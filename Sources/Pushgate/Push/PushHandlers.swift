import Foundation
import Logging
import NIOHTTP1
import WebPush

/// RFC 8030 for single subscriptions: subscribe (§4, §4.1 sets, RFC 8292 §4), push (§5),
/// acknowledge (§6.2), delete (§7.3, §7.3.1).
struct PushHandlers: Sendable {
    let policy: PushPolicy
    let registry: Registry
    let delivery: any PushDelivery
    let receipts: ReceiptHandlers
    let urls: ResourceURLs
    let logger: Logger

    // MARK: Subscribe

    func subscribe(_ request: APIRequest) async throws(APIError) -> APIResponse {
        let token = try checkSubscribeToken(request)
        try policy.limits.admitSubscribe(from: request.remoteAddress, token: token)
        let restrictionKey = try Self.restrictionKey(request)
        let requestedSet = try requestedSet(request)
        let now = policy.now
        // P-14: the set the request names, read inside the registry's write so a set deleted
        // meanwhile is not joined (P-15: 400); without one, a new set of its own (P-13).
        let subscription = try await persisting(logger) {
            try await registry.addSubscription { registry throws(APIError) in
                guard let requestedSet else { return .make(restrictionKey: restrictionKey, now: now, set: .make(now: now)) }
                guard let set = registry.set(id: requestedSet) else { throw .invalidSet }
                return .make(restrictionKey: restrictionKey, now: now, set: set)
            }
        }
        let body = SubscriptionCreatedBody(subscription, urls: urls, endpoints: delivery.endpoints(for: subscription))
        logger.debug("subscription created", metadata: ["restricted": "\(restrictionKey != nil)", "joined_set": "\(requestedSet != nil)"])
        var links = ["<\(urls.url(.receiptService))>; rel=\"urn:ietf:params:push:receipt\"",
                     "<\(urls.url(.listService))>; rel=\"urn:ietf:params:push:multi\""]
        if let set = body.set { links.append("<\(set)>; rel=\"urn:ietf:params:push:set\"") }
        return .created(location: body.subscription, push: body.endpoint, body: body, links: links)
    }

    /// The set a subscribe request names in `Link: <…>; rel="urn:ietf:params:push:set"`: one, and
    /// one of this service's set URLs, or 400 (P-15).
    private func requestedSet(_ request: APIRequest) throws(APIError) -> SetID? {
        let targets = LinkHeader.targets("urn:ietf:params:push:set", in: request.headers)
        guard !targets.isEmpty else { return nil }
        guard targets.count == 1, let id = urls.identifier(.subscriptionSet, in: targets[0]) else { throw .invalidSet }
        return id
    }

    /// With `access.subscribe_tokens` set, `Authorization: Bearer <one of them>`.
    /// The bearer token a subscribe presented, checked against `access.subscribe_tokens` (`nil`
    /// when none are configured).
    private func checkSubscribeToken(_ request: APIRequest) throws(APIError) -> Substring? {
        let tokens = policy.rules.subscribeTokens
        guard !tokens.isEmpty else { return nil }
        let presented = request.headers["Authorization"].first.flatMap { value -> Substring? in
            let parts = value.split(separator: " ", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "bearer" ? parts[1].trimmingOWS() : nil
        }
        guard let presented, tokens.contains(where: { $0 == presented }) else { throw .subscribeUnauthorized }
        return presented
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
        guard let removed = try await persisting(logger, { try await registry.remove(id: id, now: now) }) else { throw .notFound }
        await delivery.forget([removed])
        return APIResponse(status: .noContent)
    }

    /// P-69: deleting a set deletes every subscription in it.
    func deleteSet(_ request: APIRequest, id: SetID) async throws(APIError) -> APIResponse {
        let now = policy.now
        guard let removed = try await persisting(logger, { try await registry.removeSet(id: id, now: now) }) else { throw .notFound }
        await delivery.forget(removed)
        return APIResponse(status: .noContent)
    }

    // MARK: Acknowledge

    /// RFC 8030 §6.2: `DELETE` on the message resource is the acknowledgement; the same as the
    /// device's MQTT acknowledgement.
    func acknowledge(_ request: APIRequest, id: MessageID) async throws(APIError) -> APIResponse {
        let outcome: Acknowledgement
        do {
            outcome = try await delivery.acknowledge(id)
        } catch {
            throw APIError(error)
        }
        switch outcome {
        case .acknowledged: return APIResponse(status: .noContent)
        case .gone: throw .messageGone
        case .unknown: throw .notFound
        }
    }

    // MARK: Push

    func push(_ request: APIRequest, to token: PushToken) async throws(APIError) -> APIResponse {
        let subscription: Subscription
        switch try await reading(logger, { try await registry.lookup(pushToken: token) }) {
        case .active(let found): subscription = found
        case .deleted: throw .gone
        case .unknown: throw .notFound
        }
        try policy.limits.admitPush(to: token)
        let validated = try policy.validate(request, restrictionKey: subscription.restrictionKey)
        let receipt = try await receipts.requested(request)
        let message = validated.message(body: request.body)
        // The request is durable before the message goes: an acknowledgement can come at once.
        if let receipt { try await receipts.track([message.id], on: receipt, expiresAt: message.expiresAt) }
        let delivered: Delivered
        do {
            delivered = try await delivery.deliver(message, to: .subscription(subscription))
        } catch {
            if receipt != nil { await receipts.center.untrack([message.id]) }
            throw APIError(error)
        }
        let location = urls.url(.message, message.id)
        var response = receipt.map { APIResponse(status: .accepted, headers: receipts.acceptedHeaders(location: location, ttl: message.ttl, receipt: $0)) }
            ?? APIResponse(status: .created, headers: APIResponse.acceptedHeaders(location: location, ttl: message.ttl))
        if delivered.noSubscribers { response.headers.add(name: APIResponse.subscribersHeader, value: "0") }
        return response
    }
}

/// A registry read that may have to ask the shared store (a miss on PostgreSQL): a store failure
/// is a 503, never a 404 for something that may exist.
func reading<T: Sendable>(_ logger: Logger, _ read: () async throws -> T) async throws(APIError) -> T {
    do {
        return try await read()
    } catch {
        if let suppressed = registryErrors.admit() {
            logger.error("registry read failed", metadata: ["error": "\(error)", "similar_since_last": "\(suppressed)"])
        }
        throw .registryUnreachable
    }
}

/// One line per 10 s for registry failures: in an outage every request fails the same way.
private let registryErrors = LogThrottle()

/// Runs a registry write. A failure of the store is 503 (errno 133) and, since the index changes
/// only after the store, changes nothing; an ``APIError`` thrown by a check inside the write
/// passes through.
func persisting<T: Sendable>(_ logger: Logger, _ write: () async throws -> T) async throws(APIError) -> T {
    do {
        return try await write()
    } catch let error as APIError {
        throw error
    } catch is Registry.Filling {
        throw .registryFilling
    } catch {
        if let suppressed = registryErrors.admit() {
            logger.error("registry write failed", metadata: ["error": "\(error)", "similar_since_last": "\(suppressed)"])
        }
        throw .storageUnavailable
    }
}
