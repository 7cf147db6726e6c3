/// One shape of public path: a fixed first segment, alone (`/subscribe`) or followed by an
/// identifier (`/p/<token>`). `Value` is `Void` or the identifier's type, so a route and a URL
/// built from the same pattern agree on what the path carries.
public struct PathPattern<Value>: Sendable {
    /// The first path segment.
    public let segment: String
}

// Every public path of the service, in one place: change a URL here and both the router and
// every URL handed out follow.
extension PathPattern where Value == Void {
    /// `POST /subscribe` (RFC 8030 §4).
    public static var subscribe: Self { .init(segment: "subscribe") }
    /// `POST /receipts`: the receipt subscribe resource (RFC 8030 §5.1).
    public static var receiptService: Self { .init(segment: "receipts") }
    /// `POST /lists`: the list service (draft-thomson-webpush-aggregate).
    public static var listService: Self { .init(segment: "lists") }
    /// `GET /healthz`.
    public static var health: Self { .init(segment: "healthz") }
    /// `GET /readyz`.
    public static var ready: Self { .init(segment: "readyz") }
}

extension PathPattern where Value == SubscriptionID {
    /// `/s/<id>`: the subscription resource (RFC 8030 §4, §7.3).
    public static var subscription: Self { .init(segment: "s") }
}

extension PathPattern where Value == PushToken {
    /// `/p/<token>`: a subscription's push resource (RFC 8030 §5).
    public static var push: Self { .init(segment: "p") }
}

extension PathPattern where Value == MessageID {
    /// `/m/<id>`: a message resource (RFC 8030 §5, P-19).
    public static var message: Self { .init(segment: "m") }
}

extension PathPattern where Value == SetID {
    /// `/set/<id>`: a subscription set (RFC 8030 §4.1).
    public static var subscriptionSet: Self { .init(segment: "set") }
}

extension PathPattern where Value == ReceiptSubscriptionID {
    /// `/rs/<id>`: a receipt subscription.
    public static var receiptSubscription: Self { .init(segment: "rs") }
}

extension PathPattern where Value == ListID {
    /// `/l/<id>`: a list resource.
    public static var list: Self { .init(segment: "l") }
}

extension PathPattern where Value == ListPushToken {
    /// `/lp/<token>`: a list's push resource.
    public static var listPush: Self { .init(segment: "lp") }
}

extension PathPattern where Value == BroadcastToken {
    /// `/r/<token>`: a broadcast route's push resource.
    public static var broadcastPush: Self { .init(segment: "r") }
}

/// Builds the absolute URLs the service hands out, and reads its own URLs back (list members).
public struct ResourceURLs: Sendable {
    /// `server.public_url`, without a trailing slash.
    public let base: String

    /// URLs under `base`.
    public init(base: String) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// The URL of a fixed resource.
    public func url(_ pattern: PathPattern<Void>) -> String { "\(base)/\(pattern.segment)" }

    /// The URL of an identified resource.
    public func url<Kind>(_ pattern: PathPattern<Identifier<Kind>>, _ id: Identifier<Kind>) -> String {
        "\(base)/\(pattern.segment)/\(raw: id)"
    }

    /// The identifier in `url`, if it is this service's URL of that pattern.
    public func identifier<Kind>(_ pattern: PathPattern<Identifier<Kind>>, in url: String) -> Identifier<Kind>? {
        let prefix = "\(base)/\(pattern.segment)/"
        guard url.hasPrefix(prefix) else { return nil }
        return Identifier(url.dropFirst(prefix.count))
    }
}
