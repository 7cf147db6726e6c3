public import NIOHTTP1
import WebPush

/// An error answer: the status, a stable `errno` for programs, and a message for people.
///
/// The body is `{"code": 400, "errno": 101, "error": "Bad Request", "message": "…"}`, the shape
/// Mozilla's push service uses, so existing web-push tooling prints it well. The errno table
/// is in the README and never renumbered.
public struct PushError: Error, Sendable {
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

    func naming(_ members: [String]) -> PushError {
        PushError(status, errno: errno, message, headers: headers, members: members)
    }

    /// The response carrying this error.
    public var response: ServiceResponse {
        var fields = HTTPHeaders(headers)
        fields.add(name: "Cache-Control", value: "no-store")
        var json = "{\"code\":\(status.code),\"errno\":\(errno),\"error\":\(jsonString(status.reasonPhrase)),\"message\":\(jsonString(message))"
        if !members.isEmpty { json += ",\"members\":[\(members.map(jsonString).joined(separator: ","))]" }
        json += "}"
        return .json(status, json, headers: fields)
    }

    // MARK: The errno table (README "Errors")

    static let missingTTL = PushError(.badRequest, errno: 101, "the TTL header is required (RFC 8030 §5.2): seconds to keep the message, e.g. TTL: 60")
    static func invalidTTL(_ value: String) -> PushError {
        PushError(.badRequest, errno: 102, "TTL must be one non-negative integer of seconds, got '\(value.prefix(40))'")
    }
    static func invalidUrgency(_ why: String) -> PushError {
        PushError(.badRequest, errno: 103, "Urgency \(why); use one of very-low, low, normal, high (RFC 8030 §5.3)")
    }
    static func invalidTopic(_ why: String) -> PushError {
        PushError(.badRequest, errno: 104, "Topic \(why); it must be at most 32 characters of A-Z a-z 0-9 - _ (RFC 8030 §5.4)")
    }
    static func invalidEncoding(_ why: String) -> PushError {
        PushError(.badRequest, errno: 105, why)
    }
    static func invalidSubscribeOptions(_ why: String) -> PushError {
        PushError(.badRequest, errno: 106, "application/webpush-options+json: \(why)")
    }
    static let vapidKeyIsECDHKey = PushError(.badRequest, errno: 107,
        "the VAPID key k equals the message's ECDH key (RFC 8292 §3.2): use separate keys")
    static let missingVAPID = PushError(.unauthorized, errno: 109,
        "this push resource requires VAPID: Authorization: vapid t=<JWT>, k=<key> (RFC 8292)", headers: [("WWW-Authenticate", "vapid")])
    static func invalidVAPID(_ error: VAPIDError) -> PushError {
        PushError(.forbidden, errno: 110, error.description)
    }
    static let subscribeUnauthorized = PushError(.unauthorized, errno: 111,
        "subscribing requires Authorization: Bearer <token> (server.subscribe_tokens)", headers: [("WWW-Authenticate", "Bearer")])
    static let notFound = PushError(.notFound, errno: 120, "no such resource")
    static func methodNotAllowed(_ allowed: [HTTPMethod]) -> PushError {
        PushError(.methodNotAllowed, errno: 121, "method not allowed here", headers: [("Allow", allowed.map(\.rawValue).joined(separator: ", "))])
    }
    static let requestTimeout = PushError(.requestTimeout, errno: 122, "the request was not received in time")
    static let gone = PushError(.gone, errno: 123, "the subscription was deleted; ask the device for a new one")
    static func payloadTooLarge(_ limit: Int) -> PushError {
        PushError(.payloadTooLarge, errno: 124, "the body exceeds \(limit) bytes")
    }
    static let brokerPacketTooLarge = PushError(.payloadTooLarge, errno: 124,
        "the message is larger than the MQTT broker's maximum packet size; lower limits.max_payload_bytes or raise the broker's max_packet_size")
    static let headersTooLarge = PushError(.requestHeaderFieldsTooLarge, errno: 127, "request header fields too large")
    static func brokerUnavailable(retryAfter: Int) -> PushError {
        PushError(.serviceUnavailable, errno: 130, "the MQTT broker is unavailable; the message was not accepted",
                  headers: [("Retry-After", String(retryAfter))])
    }
    static func outcomeUnknown(retryAfter: Int) -> PushError {
        PushError(.serviceUnavailable, errno: 131,
                  "the broker connection dropped before it acknowledged; the message may have been delivered (at-least-once)",
                  headers: [("Retry-After", String(retryAfter))])
    }
    static func brokerRejected(_ reason: String) -> PushError {
        PushError(.badGateway, errno: 132, "the MQTT broker refused the message: \(reason)")
    }
    static let storageUnavailable = PushError(.serviceUnavailable, errno: 133, "the registry could not be written; nothing changed",
                                              headers: [("Retry-After", "5")])
    // MARK: Lists (errno 140–149)

    static func invalidListDocument(_ why: String) -> PushError {
        PushError(.badRequest, errno: 140, "list document: \(why)")
    }
    static func notOurPushResources(_ count: Int) -> PushError {
        PushError(.badRequest, errno: 141, "\(count) member(s) are not push resources of this service (listed in \"members\")")
    }
    static func unsupportedMediaType(_ expected: String) -> PushError {
        PushError(.unsupportedMediaType, errno: 142, "Content-Type must be \(expected)")
    }
    static func tooManyMembers(_ limit: Int) -> PushError {
        PushError(.badRequest, errno: 144, "a list may have at most \(limit) members (lists.max_members)")
    }
    static func tooManyLists(_ limit: Int) -> PushError {
        PushError(.forbidden, errno: 145, "this VAPID key already has \(limit) lists (lists.max_lists_per_key)")
    }
    static func fanOutRateExceeded(retryAfter: Int) -> PushError {
        PushError(.tooManyRequests, errno: 146, "fan-out deliveries per second for this VAPID key exceeded (lists.max_deliveries_per_second_per_key)",
                  headers: [("Retry-After", String(retryAfter))])
    }
    static let notListCreator = PushError(.forbidden, errno: 147, "only the VAPID key that created this list may read, change or push to it")

    // MARK: Routes (errno 150–159)

    static let notRouteKey = PushError(.forbidden, errno: 150, "this VAPID key is not one of the route's vapid_keys")
    static let topicOnRoute = PushError(.badRequest, errno: 151,
        "a route cannot replace messages (Topic): the broker already queued the previous one for every device; send without Topic")

    static let shuttingDown = PushError(.serviceUnavailable, errno: 134, "shutting down", headers: [("Retry-After", "5")])
}
