public import NIOHTTP1
import WebPush

/// An error answer: the status, a stable `errno` for programs, and a message for people.
///
/// The body is `{"code": 400, "errno": 101, "error": "Bad Request", "message": "…"}`, the shape
/// Mozilla's push service uses, so existing web-push tooling prints it well. This file is the
/// errno table (docs/api.md lists it); numbers are never reused or renumbered.
public struct APIError: Error, Sendable {
    /// The HTTP status.
    public let status: HTTPResponseStatus
    /// The stable error number.
    public let errno: Int
    /// What went wrong and how to fix it. Never contains a capability URL, token or payload.
    public let message: String
    /// Extra headers (WWW-Authenticate, Retry-After, Allow).
    public let headers: [(String, String)]

    /// Push resource URLs the error is about (only ever the caller's own input, e.g. list members
    /// that are not ours), as `"members"` in the body.
    public let members: [String]

    init(_ status: HTTPResponseStatus, errno: Int, _ message: String, headers: [(String, String)] = [], members: [String] = []) {
        self.status = status
        self.errno = errno
        self.message = message
        self.headers = headers
        self.members = members
    }

    func naming(_ members: [String]) -> APIError {
        APIError(status, errno: errno, message, headers: headers, members: members)
    }

    /// The JSON body.
    struct Body: Codable, Sendable {
        var code: UInt
        var errno: Int
        var error: String
        var message: String
        var members: [String]?
    }

    /// The response carrying this error.
    public var response: APIResponse {
        var fields = HTTPHeaders(headers)
        fields.add(name: "Cache-Control", value: "no-store")
        let body = Body(code: status.code, errno: errno, error: status.reasonPhrase, message: message, members: members.isEmpty ? nil : members)
        var response = APIResponse.json(status, body, headers: fields)
        response.errno = errno
        return response
    }

    /// Seconds a client should wait before retrying a 503, in every `Retry-After` the service sends.
    static let retryAfterSeconds = 5

    /// The `Retry-After` header of a 429 or 503.
    private static func retryAfter(_ seconds: Int = retryAfterSeconds) -> [(String, String)] {
        [("Retry-After", String(seconds))]
    }

    // MARK: The errno table

    static let missingTTL = APIError(.badRequest, errno: 101, "the TTL header is required (RFC 8030 §5.2): seconds to keep the message, e.g. TTL: 60")
    static func invalidTTL(_ value: String) -> APIError {
        APIError(.badRequest, errno: 102, "TTL must be one non-negative integer of seconds, got '\(value.prefix(40))'")
    }
    static func invalidUrgency(_ why: String) -> APIError {
        APIError(.badRequest, errno: 103, "Urgency \(why); use one of very-low, low, normal, high (RFC 8030 §5.3)")
    }
    static func invalidTopic(_ why: String) -> APIError {
        APIError(.badRequest, errno: 104, "Topic \(why); it must be at most 32 characters of A-Z a-z 0-9 - _ (RFC 8030 §5.4)")
    }
    static func invalidEncoding(_ why: String) -> APIError {
        APIError(.badRequest, errno: 105, why)
    }
    static func invalidSubscribeOptions(_ why: String) -> APIError {
        APIError(.badRequest, errno: 106, "application/webpush-options+json: \(why)")
    }
    static let topicNeedsMQTT5 = APIError(.badRequest, errno: 108,
        "Topic replacement needs acknowledgements, which the MQTT 3.1.1 broker connection cannot carry; send without Topic, or use MQTT 5")
    static let invalidReceiptSubscription = APIError(.badRequest, errno: 112,
        "the Link rel=\"urn:ietf:params:push:receipt\" does not name a receipt subscription of this service (RFC 8030 §5.1); nothing was sent")
    static let invalidSet = APIError(.badRequest, errno: 113,
        "the Link rel=\"urn:ietf:params:push:set\" does not name a live subscription set of this service (RFC 8030 §4.1); nothing was created")
    static let vapidKeyIsECDHKey = APIError(.badRequest, errno: 107,
        "the VAPID key k equals the message's ECDH key (RFC 8292 §3.2): use separate keys")
    static let missingVAPID = APIError(.unauthorized, errno: 109,
        "this push resource requires VAPID: Authorization: vapid t=<JWT>, k=<key> (RFC 8292)", headers: [("WWW-Authenticate", "vapid")])
    static func invalidVAPID(_ error: VAPIDError) -> APIError {
        APIError(.forbidden, errno: 110, error.description)
    }
    static let subscribeUnauthorized = APIError(.unauthorized, errno: 111,
        "subscribing requires Authorization: Bearer <token> (access.subscribe_tokens)", headers: [("WWW-Authenticate", "Bearer")])
    static let notFound = APIError(.notFound, errno: 120, "no such resource")
    static func methodNotAllowed(_ allowed: [HTTPMethod]) -> APIError {
        APIError(.methodNotAllowed, errno: 121, "method not allowed here", headers: [("Allow", allowed.map(\.rawValue).joined(separator: ", "))])
    }
    static let requestTimeout = APIError(.requestTimeout, errno: 122, "the request was not received in time")
    static let gone = APIError(.gone, errno: 123, "the subscription was deleted; ask the device for a new one")
    static func payloadTooLarge(_ limit: Int) -> APIError {
        APIError(.payloadTooLarge, errno: 124, "the body exceeds \(limit) bytes")
    }
    static let brokerPacketTooLarge = APIError(.payloadTooLarge, errno: 124,
        "the message is larger than the MQTT broker's maximum packet size; lower limits.max_payload_bytes or raise the broker's max_packet_size")
    static let messageGone = APIError(.gone, errno: 125, "the message was already acknowledged, or has expired")
    static func tooManyHeld(_ limit: Int) -> APIError {
        APIError(.tooManyRequests, errno: 126,
                 "this subscription already has \(limit) Topic messages outstanding; reuse a Topic, or wait for acknowledgements or expiry",
                 headers: retryAfter())
    }
    static let headersTooLarge = APIError(.requestHeaderFieldsTooLarge, errno: 127, "request header fields too large")
    // MARK: Delivery and storage (errno 130–139)

    static let brokerUnavailable = APIError(.serviceUnavailable, errno: 130, "the MQTT broker is unavailable; the message was not accepted",
                                            headers: retryAfter())
    static let outcomeUnknown = APIError(.serviceUnavailable, errno: 131,
        "the broker connection dropped before it acknowledged; the message may have been delivered (at-least-once)",
        headers: retryAfter())
    static func brokerRejected(_ reason: String) -> APIError {
        APIError(.badGateway, errno: 132, "the MQTT broker refused the message: \(reason)")
    }
    static let storageUnavailable = APIError(.serviceUnavailable, errno: 133, "the registry could not be written; nothing changed",
                                             headers: retryAfter())
    static let shuttingDown = APIError(.serviceUnavailable, errno: 134, "shutting down", headers: retryAfter())
    static func pushRateExceeded(retryAfter seconds: Int) -> APIError {
        APIError(.tooManyRequests, errno: 128, "too many pushes to this subscription (rate_limits.pushes_per_subscription)",
                 headers: retryAfter(seconds))
    }
    static func subscribeRateExceeded(retryAfter seconds: Int, perToken: Bool) -> APIError {
        APIError(.tooManyRequests, errno: perToken ? 115 : 114,
                 perToken ? "too many subscribes with this token (rate_limits.subscribes_per_token)"
                          : "too many subscribes from this address (rate_limits.subscribes_per_address)",
                 headers: retryAfter(seconds))
    }
    static func vapidFailuresExceeded(retryAfter seconds: Int) -> APIError {
        APIError(.tooManyRequests, errno: 116, "too many failed VAPID verifications from this address (rate_limits.failed_vapid_per_address)",
                 headers: retryAfter(seconds))
    }
    static let registryUnreachable = APIError(.serviceUnavailable, errno: 135,
        "the registry's database could not be read to find this resource", headers: retryAfter())
    static let registryFilling = APIError(.serviceUnavailable, errno: 136,
        "this instance started moments ago and is still reading its registry into memory: pushes are served, changes are taken once it is in; nothing changed",
        headers: retryAfter())

    /// What a failed delivery means for the client.
    init(_ error: DeliveryError) {
        self = switch error {
        case .unavailable: .brokerUnavailable
        case .outcomeUnknown: .outcomeUnknown
        case .shuttingDown: .shuttingDown
        case .tooLarge: .brokerPacketTooLarge
        case .rejected(let reason): .brokerRejected(reason)
        case .notStored: .storageUnavailable
        case .replacementUnsupported: .topicNeedsMQTT5
        case .tooManyHeld(let limit): .tooManyHeld(limit)
        }
    }

    // MARK: Lists (errno 140–149)

    static func invalidListDocument(_ why: String) -> APIError {
        APIError(.badRequest, errno: 140, "list document: \(why)")
    }
    static func notOurPushResources(_ count: Int) -> APIError {
        APIError(.badRequest, errno: 141, "\(count) member(s) are not push resources of this service (the first \(min(count, ListHandlers.namedInErrors)) listed in \"members\")")
    }
    static func unsupportedMediaType(_ expected: String) -> APIError {
        APIError(.unsupportedMediaType, errno: 142, "Content-Type must be \(expected)")
    }
    static func tooManyMembers(_ limit: Int) -> APIError {
        APIError(.badRequest, errno: 144, "a list may have at most \(limit) members (lists.max_members)")
    }
    static func tooManyLists(_ limit: Int) -> APIError {
        APIError(.forbidden, errno: 145, "this VAPID key already has \(limit) lists (lists.max_lists_per_key)")
    }
    static func fanOutRateExceeded(retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, errno: 146, "fan-out deliveries per second for this VAPID key exceeded: its share of lists.max_deliveries_per_second (divided between the keys pushing to lists), at most lists.max_deliveries_per_second_per_key",
                  headers: Self.retryAfter(retryAfter))
    }
    static let notListCreator = APIError(.forbidden, errno: 147, "only the VAPID key that created this list may read, change or push to it")

    // MARK: Routes (errno 150–159)

    static let notRouteKey = APIError(.forbidden, errno: 150, "this VAPID key is not one of the route's vapid_keys")
    static let receiptOnRoute = APIError(.badRequest, errno: 152,
        "a route has no receipts: the broker, not Pushgate, knows which devices received a broadcast; send without Prefer: respond-async")
    static let topicOnRoute = APIError(.badRequest, errno: 151,
        "a route cannot replace messages (Topic): the broker already queued the previous one for every device; send without Topic")

    // MARK: Receipts (errno 160–169)

    static let receiptLinkMissing = APIError(.badRequest, errno: 160,
        "Prefer: respond-async needs Link: <receipt subscription>; rel=\"urn:ietf:params:push:receipt\" (RFC 8030 §5.1): create one with POST /receipts")
    static func tooManyPendingReceipts(_ limit: Int) -> APIError {
        APIError(.tooManyRequests, errno: 161, "this receipt subscription has \(limit) receipts outstanding (receipts.max_pending_per_subscription): collect them first",
                 headers: retryAfter())
    }
    static func tooManyReceiptSubscriptions(_ limit: Int) -> APIError {
        APIError(.forbidden, errno: 162, "this VAPID key already has \(limit) receipt subscriptions (receipts.max_subscriptions_per_key)")
    }
    static let receiptStreamNotAcceptable = APIError(.notAcceptable, errno: 163,
        "receipts are streamed as server-sent events: send Accept: text/event-stream (HTTP/2 server push of receipts is not built yet)")
}
