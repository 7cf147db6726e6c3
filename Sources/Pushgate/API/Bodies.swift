import NIOHTTP1

// The JSON bodies the API writes, as Codable types (docs/api.md shows each).

/// `POST /subscribe` → 201 (and each line of `pushgate admin create-subscriptions`).
public struct SubscriptionCreatedBody: Codable, Sendable {
    /// The subscription resource URL (the device keeps it to delete the subscription).
    public var subscription: String
    /// The push resource URL (what the device hands to application servers).
    public var endpoint: String
    /// The MQTT filter the device subscribes to.
    public var mqttTopic: String
    /// The MQTT topic the device acknowledges on.
    public var mqttAckTopic: String
    /// Whether pushes need the VAPID key given at subscribe (RFC 8292 §4).
    public var restricted: Bool
    /// The subscription set URL (RFC 8030 §4.1), if it is in one.
    public var set: String?
    /// The MQTT filter for every subscription of the set.
    public var mqttSetTopic: String?
    /// Where the device says "ready" for every subscription of the set.
    public var mqttSetAckTopic: String?

    /// The body for `subscription`, with its URLs and device endpoints.
    public init(_ subscription: Subscription, urls: ResourceURLs, endpoints: DeviceEndpoints) {
        self.subscription = urls.url(.subscription, subscription.id)
        self.endpoint = urls.url(.push, subscription.pushToken)
        self.mqttTopic = endpoints.messageFilter
        self.mqttAckTopic = endpoints.acknowledgementTopic
        self.restricted = subscription.restrictionKey != nil
        self.set = subscription.set.map { urls.url(.subscriptionSet, $0.id) }
        self.mqttSetTopic = endpoints.setFilter
        self.mqttSetAckTopic = endpoints.setAcknowledgementTopic
    }

    enum CodingKeys: String, CodingKey {
        case subscription, endpoint, restricted, set
        case mqttTopic = "mqtt_topic"
        case mqttAckTopic = "mqtt_ack_topic"
        case mqttSetTopic = "mqtt_set_topic"
        case mqttSetAckTopic = "mqtt_set_ack_topic"
    }
}

/// `POST /lists` → 201.
struct ListCreatedBody: Codable, Sendable {
    /// The list resource URL.
    var list: String
    /// The list's push resource URL.
    var endpoint: String
    /// How many members it has.
    var members: Int
}

/// `POST /lp/<token>` → 207 when some copies failed.
struct FanOutReportBody: Codable, Sendable {
    struct Failure: Codable, Sendable {
        /// The member's push resource URL.
        var member: String
        var errno: Int
        var message: String
    }

    var recipients: Int
    var delivered: Int
    var failed: [Failure]
}

/// `GET /readyz`.
struct ReadinessBody: Codable, Sendable {
    var ready: Bool
    var broker: String
    /// `sqlite`, or for PostgreSQL `connected` / `unreachable (cache N s old)`.
    var database: String
    /// `ready`, or `filling` while the index is read in after a start (pushes are served from
    /// the database meanwhile; changes get 503, errno 136).
    var registry: String
    /// Live subscriptions; absent while the registry fills.
    var subscriptions: Int?
    var version = PushgateVersion.current
}

/// `GET /healthz`.
struct HealthBody: Codable, Sendable {
    var status = "ok"
}

extension APIResponse {
    /// `Pushgate-Subscribers: 0` on a 201/202: the broker took the message but no session
    /// subscribes to its topic (no device connected, none with a persistent session), so nothing
    /// will deliver it. Absent when someone subscribes or the broker did not say (TTL 0 is QoS 0,
    /// MQTT 3.1.1, Topic messages which Pushgate holds itself).
    static let subscribersHeader = "Pushgate-Subscribers"

    /// 201 for a created resource (subscription or list): `Location`, and the push resource as
    /// `Link rel="urn:ietf:params:push"` (P-11, P-12).
    static func created(location: String, push: String, body: some Encodable, links: [String] = []) -> APIResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Location", value: location)
        headers.add(name: "Link", value: "<\(push)>; rel=\"urn:ietf:params:push\"")
        for link in links { headers.add(name: "Link", value: link) }
        headers.add(name: "Cache-Control", value: "no-store")
        return .json(.created, body, headers: headers)
    }

    /// The headers of an accepted push (single, list or broadcast): `Location` of the message
    /// resource (P-19) and the applied `TTL` (P-24).
    static func acceptedHeaders(location: String, ttl: Int) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Location", value: location)
        headers.add(name: "TTL", value: String(ttl))
        return headers
    }
}
