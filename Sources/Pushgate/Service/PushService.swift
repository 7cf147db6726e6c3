public import Foundation
public import Logging
import MQTTBridge
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
public import WebPush

/// RFC 8030 push service semantics, free of any transport: subscribe, push, delete. The HTTP
/// front end turns requests into ``ServiceRequest``s and writes back ``ServiceResponse``s.
///
/// Requirement IDs (P-xx, V-xx, E-xx) refer to the project's spec/requirements.md.
public final class PushService: Sendable {
    /// What the service needs from the configuration.
    public struct Settings: Sendable {
        /// `server.public_url`: base of every URL handed out, and the VAPID audience.
        public var publicURL: String
        /// `limits.max_payload_bytes`.
        public var maxPayloadBytes: Int
        /// `limits.max_ttl_seconds`.
        public var maxTTLSeconds: Int
        /// `access.require_vapid`.
        public var requireVAPID: Bool
        /// `access.subscribe_tokens`.
        public var subscribeTokens: [String]
        /// `mqtt.topic_prefix`.
        public var topicPrefix: String
        /// Seconds to suggest in Retry-After when the broker is down.
        public var retryAfterSeconds = 5
        /// `lists`: multi-device list limits.
        public var lists = ListsConfig()

        /// Settings from a loaded config.
        public init(_ config: PushgateConfig) {
            publicURL = config.server.publicURL
            maxPayloadBytes = config.limits.maxPayloadBytes
            maxTTLSeconds = config.limits.maxTTLSeconds
            requireVAPID = config.access.requireVAPID
            subscribeTokens = config.access.subscribeTokens
            topicPrefix = config.mqtt.topicPrefix
            lists = config.lists
        }

        /// Settings given field by field (tests).
        public init(publicURL: String, maxPayloadBytes: Int = 4096, maxTTLSeconds: Int = 2_419_200,
                    requireVAPID: Bool = false, subscribeTokens: [String] = [], topicPrefix: String = "webpush") {
            self.publicURL = publicURL
            self.maxPayloadBytes = maxPayloadBytes
            self.maxTTLSeconds = maxTTLSeconds
            self.requireVAPID = requireVAPID
            self.subscribeTokens = subscribeTokens
            self.topicPrefix = topicPrefix
        }
    }

    /// The service's routes. Paths carry capability tokens (P-04): `/p/<push token>`,
    /// `/s/<subscription id>`.
    enum Route: Equatable {
        case subscribe
        case push(String)
        case subscription(String)
        case listService
        case list(String)
        case listPush(String)
        case routePush(String)
        case health
        case ready

        init?(path: String) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            switch (parts.count, parts.first) {
            case (1, "subscribe"): self = .subscribe
            case (1, "healthz"): self = .health
            case (1, "readyz"): self = .ready
            case (1, "lists"): self = .listService
            case (2, "l") where CapabilityToken.isWellFormed(parts[1]): self = .list(String(parts[1]))
            case (2, "lp") where CapabilityToken.isWellFormed(parts[1]): self = .listPush(String(parts[1]))
            case (2, "r") where CapabilityToken.isWellFormed(parts[1]): self = .routePush(String(parts[1]))
            case (2, "p") where CapabilityToken.isWellFormed(parts[1]): self = .push(String(parts[1]))
            case (2, "s") where CapabilityToken.isWellFormed(parts[1]): self = .subscription(String(parts[1]))
            default: return nil
            }
        }

        var allowed: [HTTPMethod] {
            switch self {
            case .subscribe, .push, .listService, .listPush, .routePush: [.POST]
            case .subscription: [.DELETE]
            case .list: [.GET, .PATCH, .DELETE]
            case .health, .ready: [.GET]
            }
        }
    }

    let settings: Settings
    let registry: Registry
    let delivery: any PushDelivery
    let verifier: VAPIDVerifier
    let topics: TopicScheme
    let slots = ReplacementSlots()
    let fanOutLimiter: FanOutLimiter
    /// Admin routes; swapped whole by ``reloadRoutes(_:)``.
    let routes: NIOLockedValueBox<RouteTable>
    let logger: Logger
    let clock: @Sendable () -> Date

    /// Creates the service.
    public init(settings: Settings, registry: Registry, delivery: any PushDelivery,
                routes: RouteTable = RouteTable(), verifier: VAPIDVerifier? = nil, logger: Logger = Logger(label: "pushgate.service"),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.registry = registry
        self.delivery = delivery
        self.verifier = verifier ?? VAPIDVerifier(origin: settings.publicURL)
        self.topics = TopicScheme(prefix: settings.topicPrefix)
        self.fanOutLimiter = FanOutLimiter(perSecond: settings.lists.maxDeliveriesPerSecondPerKey)
        self.routes = NIOLockedValueBox(routes)
        self.logger = logger
        self.clock = clock
    }

    /// Answers one request. Never throws: every failure is an error response.
    public func handle(_ request: ServiceRequest) async -> ServiceResponse {
        guard let route = Route(path: request.path) else { return PushError.notFound.response }
        do throws(PushError) {
            switch (request.method, route) {
            case (.POST, .subscribe): return try await subscribe(request)
            case (.POST, .push(let token)): return try await push(token: token, request)
            case (.DELETE, .subscription(let id)): return try await unsubscribe(id: id)
            case (.POST, .listService): return try await createList(request)
            case (.GET, .list(let id)): return try readList(id: id, request)
            case (.PATCH, .list(let id)): return try await amendList(id: id, request)
            case (.DELETE, .list(let id)): return try await deleteList(id: id, request)
            case (.POST, .listPush(let token)): return try await pushToList(token: token, request)
            case (.POST, .routePush(let token)): return try await pushToRoute(token: token, request)
            case (.GET, .health): return .json(.ok, #"{"status":"ok"}"#)
            case (.GET, .ready): return readiness()
            default: throw PushError.methodNotAllowed(route.allowed)
            }
        } catch {
            return error.response
        }
    }

    // MARK: Subscribe (RFC 8030 §4, RFC 8292 §4)

    func subscribe(_ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        if !settings.subscribeTokens.isEmpty {
            let presented = request.headers["Authorization"].first.flatMap { value -> Substring? in
                let parts = value.split(separator: " ", maxSplits: 1)
                return parts.count == 2 && parts[0].lowercased() == "bearer" ? parts[1].trimmingOWS() : nil
            }
            guard let presented, settings.subscribeTokens.contains(where: { $0 == presented }) else { throw .subscribeUnauthorized }
        }
        let restrictionKey = try Self.restrictionKey(request)
        let subscription = Subscription.make(restrictionKey: restrictionKey, now: Int64(clock().timeIntervalSince1970))
        try await persisting { try await registry.add(subscription) }
        let base = settings.publicURL
        let push = "\(base)/p/\(subscription.pushToken)"
        let location = "\(base)/s/\(subscription.id)"
        var headers = Self.createdHeaders(location: location, push: push)
        headers.add(name: "Link", value: "<\(base)/lists>; rel=\"urn:ietf:params:push:multi\"")
        let body = """
            {"subscription":\(jsonString(location)),"endpoint":\(jsonString(push)),\
            "mqtt_topic":\(jsonString(topics.deviceFilter(subscription))),\
            "mqtt_ack_topic":\(jsonString(topics.ackTopic(subscription))),\
            "restricted":\(restrictionKey != nil)}
            """
        logger.debug("subscription created", metadata: ["restricted": "\(restrictionKey != nil)"])
        return .json(.created, body, headers: headers)
    }

    /// The headers of a created resource (subscription or list): `Location`, and the push
    /// resource as `Link rel="urn:ietf:params:push"` (P-11, P-12).
    static func createdHeaders(location: String, push: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Location", value: location)
        headers.add(name: "Link", value: "<\(push)>; rel=\"urn:ietf:params:push\"")
        headers.add(name: "Cache-Control", value: "no-store")
        return headers
    }

    /// V-01..V-03: only `application/webpush-options+json` bodies count; unknown members are
    /// ignored; a `vapid` member must be a valid uncompressed P-256 key.
    static func restrictionKey(_ request: ServiceRequest) throws(PushError) -> VAPIDPublicKey? {
        guard request.mediaType == "application/webpush-options+json", request.body.readableBytes > 0 else { return nil }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))
        } catch {
            throw .invalidSubscribeOptions("the body is not JSON")
        }
        guard let members = object as? [String: Any] else { throw .invalidSubscribeOptions("the body must be a JSON object") }
        guard let vapid = members["vapid"] else { return nil }
        guard let key = vapid as? String else { throw .invalidSubscribeOptions("\"vapid\" must be a string") }
        do {
            return try VAPIDPublicKey(base64URL: key)
        } catch {
            throw .invalidSubscribeOptions("\"vapid\" must be base64url of a 65-octet uncompressed P-256 public key")
        }
    }

    /// Runs a registry write; a failure is 503 (errno 133) and, since the index changes only after
    /// the store, changes nothing.
    func persisting<T: Sendable>(_ write: () async throws -> T) async throws(PushError) -> T {
        do {
            return try await write()
        } catch {
            logger.error("registry write failed", metadata: ["error": "\(error)"])
            throw .storageUnavailable
        }
    }

    // MARK: Delete (RFC 8030 §7.3)

    func unsubscribe(id: String) async throws(PushError) -> ServiceResponse {
        let now = Int64(clock().timeIntervalSince1970)
        let removed = try await persisting { try await registry.remove(id: id, now: now) }
        guard removed != nil else { throw .notFound }
        return ServiceResponse(status: .noContent)
    }

    // MARK: Push (RFC 8030 §5)

    func push(token: String, _ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        let subscription: Subscription
        switch registry.lookup(pushToken: token) {
        case .active(let found): subscription = found
        case .deleted: throw .gone
        case .unknown: throw .notFound
        }
        let message = try validate(request, restrictionKey: subscription.restrictionKey)
        let messageID = CapabilityToken.make()
        let (outgoing, slotKey) = outgoingMessage(message, body: request.body, id: messageID, to: subscription, encryptedKey: nil)
        do {
            try await delivery.deliver(outgoing)
        } catch {
            throw Self.pushError(error, retryAfter: settings.retryAfterSeconds)
        }
        await recordSlot(slotKey, topic: outgoing.topic, messageID: messageID)
        return ServiceResponse(status: .created, headers: acceptedHeaders(messageID: messageID, ttl: message.ttl))
    }

    /// The headers of an accepted push (single, list or route): `Location` of the message
    /// resource (P-19) and the applied `TTL` (P-24).
    func acceptedHeaders(messageID: String, ttl: Int) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Location", value: "\(settings.publicURL)/m/\(messageID)")
        headers.add(name: "TTL", value: String(ttl))
        return headers
    }

    /// The MQTT 5 properties every published copy of a push carries (the README's mapping): the
    /// message id as a user property and as Correlation Data, the content coding, and the TTL as
    /// Message Expiry.
    func messageProperties(_ message: ValidatedPush, id messageID: String) -> MQTTProperties {
        var properties = MQTTProperties(correlationData: Array(messageID.utf8), userProperties: [.init("message-id", messageID)])
        if let coding = message.contentEncoding { properties.userProperties.append(.init("content-encoding", coding)) }
        if message.ttl > 0 { properties.messageExpiryInterval = UInt32(message.ttl) }
        return properties
    }

    /// The MQTT message for one subscription (the mapping in the README); a Topic message goes to
    /// its retained slot, whose key is returned for bookkeeping.
    func outgoingMessage(_ message: ValidatedPush, body: ByteBuffer, id messageID: String, to subscription: Subscription,
                         encryptedKey: String?) -> (OutgoingMessage, slotKey: String?) {
        var properties = messageProperties(message, id: messageID)
        properties.responseTopic = topics.ackTopic(subscription)
        if let encryptedKey { properties.userProperties.append(.init("encrypted-key", encryptedKey)) }
        var outgoing = OutgoingMessage(
            topic: topics.messageTopic(subscription, urgency: message.urgency),
            payload: body,
            qos: message.qos,
            properties: properties
        )
        guard let topic = message.topic else { return (outgoing, nil) }
        // P-32: the broker's retained message is the one undelivered message of this Topic.
        let slot = TopicScheme.slot(for: topic, of: subscription)
        outgoing.topic = topics.replacementTopic(subscription, urgency: message.urgency, slot: slot)
        outgoing.retain = true
        return (outgoing, "\(subscription.topicID)/\(slot)")
    }

    /// Notes which message a Topic slot now holds; P-33: a replacement at another urgency lives in
    /// another slot topic, so the old one is emptied.
    func recordSlot(_ slotKey: String?, topic: String, messageID: String) async {
        guard let slotKey, let previous = slots.replace(slotKey, with: .init(topic: topic, messageID: messageID)),
              previous.topic != topic
        else { return }
        await clearRetained(previous.topic)
    }

    struct ValidatedPush {
        var ttl: Int
        var urgency: Urgency
        var topic: String?
        var contentEncoding: String?
        /// The verified VAPID key, when the request carried one.
        var vapidKey: VAPIDPublicKey?

        /// TTL 0 is QoS 0: it reaches only a device connected now, never queued (the README mapping).
        var qos: MQTTQoS { ttl > 0 ? .atLeastOnce : .atMostOnce }
    }

    /// Every check of a push request, in the order the requirements give them; nothing is
    /// published unless all pass.
    func validate(_ request: ServiceRequest, restrictionKey: VAPIDPublicKey?, vapidRequired: Bool = false) throws(PushError) -> ValidatedPush {
        let requestedTTL = try PushHeaders.ttl(request.headers)
        let urgency = try PushHeaders.urgency(request.headers)
        let topic = try PushHeaders.topic(request.headers)
        let bodyLength = request.body.readableBytes
        guard bodyLength <= settings.maxPayloadBytes else { throw .payloadTooLarge(settings.maxPayloadBytes) }
        let coding = try PushHeaders.contentEncoding(request.headers, bodyLength: bodyLength)
        var keyID: [UInt8] = []
        if bodyLength > 0 {
            // E-12: only the header's shape; list messages with a group key id pass too.
            do {
                keyID = try ContentCodingHeader(parsing: request.body.readableBytesView).keyID
            } catch {
                throw .invalidEncoding("the body is not an aes128gcm message: \(error)")
            }
        }
        let key = try checkVAPID(request, restrictionKey: restrictionKey, required: vapidRequired, keyID: keyID)
        return ValidatedPush(ttl: min(requestedTTL, settings.maxTTLSeconds), urgency: urgency, topic: topic, contentEncoding: coding, vapidKey: key)
    }

    /// V-05..V-20: required on restricted subscriptions (401 absent / 403 invalid), verified when
    /// present anywhere (V-14), and required everywhere with `access.require_vapid`.
    @discardableResult
    func checkVAPID(_ request: ServiceRequest, restrictionKey: VAPIDPublicKey?, required: Bool = false, keyID: [UInt8] = []) throws(PushError) -> VAPIDPublicKey? {
        let authorization = request.headers["Authorization"].first
        let hasVAPID = authorization.map(Self.hasVAPIDScheme) ?? false
        let required = required || restrictionKey != nil || settings.requireVAPID
        guard required || hasVAPID else { return nil }
        let verified: VAPIDVerifier.Verified
        do {
            verified = try verifier.verify(authorization: hasVAPID ? authorization : nil, expectedKey: restrictionKey, now: clock())
        } catch .missingCredentials {
            throw .missingVAPID
        } catch {
            throw .invalidVAPID(error)
        }
        // V-18: the signing key must not be the message's ECDH key.
        if keyID.count == WebPushCrypto.publicKeyLength, keyID == verified.key.rawBytes { throw .vapidKeyIsECDHKey }
        return verified.key
    }

    /// Whether an `Authorization` value uses the `vapid` scheme (case-insensitive), looking at its
    /// first bytes only: the value is a long token, and this runs on every push.
    static func hasVAPIDScheme(_ authorization: String) -> Bool {
        var bytes = authorization.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.prefix(5).makeIterator()
        for expected in "vapid".utf8 {
            guard let byte = bytes.next(), byte | 0x20 == expected else { return false }
        }
        return true
    }

    // MARK: Acknowledgements

    /// A device acknowledged a message (published to its response topic with the message id as
    /// Correlation Data): a retained Topic message it acknowledged is not delivered again.
    public func acknowledged(messageID: String) async {
        guard let topic = slots.acknowledge(messageID) else { return }
        await clearRetained(topic)
    }

    /// Publishes an empty retained message, which removes the retained one (best effort: if it
    /// fails, the message expires with its TTL).
    func clearRetained(_ topic: String) async {
        let clear = OutgoingMessage(topic: topic, payload: ByteBuffer(), qos: .atLeastOnce, properties: MQTTProperties(), retain: true)
        do {
            try await delivery.deliver(clear)
        } catch {
            logger.debug("could not clear a retained message", metadata: ["error": "\(error)"])
        }
    }

    static func pushError(_ error: MQTTBridgeError, retryAfter: Int) -> PushError {
        switch error {
        case .brokerUnavailable: .brokerUnavailable(retryAfter: retryAfter)
        case .connectionLost: .outcomeUnknown(retryAfter: retryAfter)
        case .shutDown: .shuttingDown
        case .packetTooLarge: .brokerPacketTooLarge
        case .rejected(_, let reason): .brokerRejected(reason)
        case .invalidTopic, .client: .brokerRejected(error.description)
        }
    }

    // MARK: Health

    func readiness() -> ServiceResponse {
        let ready = delivery.isReady
        let body = "{\"ready\":\(ready),\"broker\":\(jsonString(delivery.stateDescription)),\"subscriptions\":\(registry.count)}"
        return .json(ready ? .ok : .serviceUnavailable, body)
    }
}
