public import WebPush

/// One entry of the `routes` section (a broadcast route): an admin-defined push resource that publishes to one
/// fixed MQTT topic.
///
/// A route whose topic a whole fleet subscribes to is a broadcast list: one push, one broker
/// publish, and the broker does the fan-out. Its push URL is a capability URL derived from the
/// route's name and the registry's secret (`pushgate routes` prints it), so it is stable across
/// restarts and reloads and changes only when the route is renamed.
public struct BroadcastConfig: Sendable, Decodable {
    /// `name`: what identifies the route (and its push URL); letters, digits, `-`, `_`, `.`.
    public var name: String
    /// `topic`: the MQTT topic every push is published to, exactly (no wildcards).
    public var topic: String
    /// `vapid_keys`: the application servers' VAPID public keys allowed to push here. At least
    /// one: a broadcast reaches every device, so a leaked URL alone must not be enough.
    public var vapidKeys: [VAPIDPublicKey]
    /// `keys`: the fleet's shared receiver keys (`p256dh`, `auth`), if the devices share one key
    /// pair; `pushgate routes` then prints a subscription a web-push library can use as it is.
    public var keys: WebPushSubscriberKeys?

    /// A route (tests and programs).
    public init(name: String, topic: String, vapidKeys: [VAPIDPublicKey], keys: WebPushSubscriberKeys? = nil) {
        self.name = name
        self.topic = topic
        self.vapidKeys = vapidKeys
        self.keys = keys
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, topic
        case vapidKeys = "vapid_keys"
        case keys
    }

    enum KeyCodingKeys: String, CodingKey, CaseIterable {
        case p256dh, auth
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "routes")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || "-_.".unicodeScalars.contains($0) })
        else {
            throw decoder.invalid(CodingKeys.name, "route name '\(name)' must be 1 to 64 characters of A-Z a-z 0-9 - _ .",
                                  hint: "the name identifies the route's push URL; renaming it changes the URL")
        }
        topic = try container.decode(String.self, forKey: .topic)
        if let problem = Self.topicProblem(topic) {
            throw decoder.invalid(CodingKeys.topic, "route topic '\(topic)' \(problem)",
                                  hint: "give the exact topic the devices subscribe to, e.g. fleet/firmware")
        }
        let rawKeys = try container.decodeIfPresent([String].self, forKey: .vapidKeys) ?? []
        guard !rawKeys.isEmpty else {
            throw decoder.invalid(CodingKeys.vapidKeys, "route '\(name)' needs at least one VAPID public key in 'vapid_keys'",
                                  hint: "a broadcast reaches every device; create a key pair with `pushgate vapid generate` and list its public key")
        }
        vapidKeys = []
        for raw in rawKeys {
            do {
                vapidKeys.append(try VAPIDPublicKey(base64URL: raw))
            } catch {
                throw decoder.invalid(CodingKeys.vapidKeys, "'\(raw.prefix(24))…' is not a VAPID public key: \(error)",
                                      hint: "use the base64url public key `pushgate vapid generate` prints (65-octet uncompressed P-256)")
            }
        }
        if container.contains(.keys) {
            let nested = try container.superDecoder(forKey: .keys)
            try nested.rejectUnknownKeys(KeyCodingKeys.self, section: "routes.keys")
            let pair = try nested.container(keyedBy: KeyCodingKeys.self)
            let p256dh = try pair.decode(String.self, forKey: .p256dh)
            let auth = try pair.decode(String.self, forKey: .auth)
            do {
                keys = try WebPushSubscriberKeys(p256dh: p256dh, auth: auth)
            } catch {
                throw nested.invalid(KeyCodingKeys.p256dh, "these are not Web Push receiver keys: \(error)",
                                     hint: "p256dh: base64url of a 65-octet P-256 public key; auth: base64url of 16 octets")
            }
        }
    }

    /// Why `topic` cannot be published to, or `nil` when it can.
    static func topicProblem(_ topic: String) -> String? {
        if topic.isEmpty { return "is empty" }
        if topic.utf8.count > 65_535 { return "is longer than MQTT allows (65535 bytes)" }
        if topic.contains("+") || topic.contains("#") { return "contains a wildcard (+ or #); publishing needs an exact topic" }
        if topic.hasPrefix("$") { return "starts with '$', which brokers reserve" }
        if topic.unicodeScalars.contains(where: { $0.value == 0 }) { return "contains a NUL character" }
        return nil
    }
}
