public import Foundation
public import Logging
public import NIOHTTP1
public import WebPush

/// The HTTP API of Pushgate, free of any transport: the route table and the feature handlers
/// behind it. The HTTP server asks it for a ``MatchedRoute`` per request; tests call
/// ``handle(_:)`` directly.
public final class PushgateAPI: Sendable {
    private let router: Router
    private let broadcasts: BroadcastHandlers
    /// The registry the handlers use.
    public let registry: Registry
    private let verifier: VAPIDVerifier
    private let rules: ReloadableRules

    /// Swaps in new payload/TTL limits, access rules and rate limits (SIGHUP); returns the
    /// sections that changed.
    public func reload(limits: LimitsConfig, access: AccessConfig, rateLimits: RateLimitsConfig) -> [String] {
        rules.reload(limits: limits, access: access, rateLimits: rateLimits)
    }

    /// Assembles the API.
    ///
    /// - Parameters:
    ///   - verifier: VAPID verification (with its cache); by default one for `settings.publicURL`.
    ///   - clock: the time (tests fix it).
    public init(settings: ServiceSettings, registry: Registry, delivery: any PushDelivery, receipts center: ReceiptCenter,
                broadcasts: BroadcastTable = BroadcastTable(), verifier: VAPIDVerifier? = nil, logger: Logger = Logger(label: "pushgate.api"),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        var limits = LimitsConfig()
        limits.maxPayloadBytes = settings.maxPayloadBytes
        limits.maxTTLSeconds = settings.maxTTLSeconds
        let rules = ReloadableRules(limits: limits,
                                    access: AccessConfig(requireVAPID: settings.requireVAPID, subscribeTokens: settings.subscribeTokens),
                                    rateLimits: settings.rateLimits)
        self.rules = rules
        let policy = PushPolicy(settings: settings, verifier: verifier ?? VAPIDVerifier(origin: settings.publicURL), clock: clock, rules: rules)
        self.verifier = policy.verifier
        let urls = ResourceURLs(base: settings.publicURL)
        let receipts = ReceiptHandlers(policy: policy, center: center, urls: urls, logger: logger)
        let push = PushHandlers(policy: policy, registry: registry, delivery: delivery, receipts: receipts, urls: urls, logger: logger)
        let lists = ListHandlers(policy: policy, registry: registry,
                                 fanOut: FanOut(delivery: delivery, limiter: FanOutLimiter(perKey: settings.lists.maxDeliveriesPerSecondPerKey, total: settings.lists.maxDeliveriesPerSecond)),
                                 receipts: receipts, urls: urls, logger: logger)
        let broadcast = BroadcastHandlers(policy: policy, delivery: delivery, urls: urls, table: broadcasts)
        self.registry = registry
        self.broadcasts = broadcast
        self.router = Router([
            Route(.POST, .subscribe) { request throws(APIError) in try await push.subscribe(request) },
            Route(.DELETE, .subscription) { request, id throws(APIError) in try await push.unsubscribe(request, id: id) },
            Route(.POST, .push) { request, token throws(APIError) in try await push.push(request, to: token) },
            Route(.DELETE, .message) { request, id throws(APIError) in try await push.acknowledge(request, id: id) },
            Route(.DELETE, .subscriptionSet) { request, id throws(APIError) in try await push.deleteSet(request, id: id) },
            Route(.POST, .receiptService) { request throws(APIError) in try await receipts.create(request) },
            Route(.GET, .receiptSubscription) { request, id throws(APIError) in try await receipts.stream(request, id: id) },
            Route(.DELETE, .receiptSubscription) { request, id throws(APIError) in try await receipts.delete(request, id: id) },
            Route(.POST, .listService, body: .document) { request throws(APIError) in try await lists.create(request) },
            Route(.GET, .list) { request, id throws(APIError) in try await lists.read(request, id: id) },
            Route(.PATCH, .list, body: .document) { request, id throws(APIError) in try await lists.amend(request, id: id) },
            Route(.DELETE, .list) { request, id throws(APIError) in try await lists.delete(request, id: id) },
            Route(.POST, .listPush) { request, token throws(APIError) in try await lists.push(request, to: token) },
            Route(.POST, .broadcastPush) { request, token throws(APIError) in try await broadcast.push(request, to: token) },
            Route(.GET, .health) { _ in .json(.ok, HealthBody()) },
            Route(.GET, .ready) { _ in
                let status = delivery.status
                // Without the database an instance still serves known subscriptions from its
                // cache, so it stays ready until the cache is too old to be trusted.
                let staleness = registry.staleness
                let cacheTrusted = staleness <= Registry.maxStaleness
                let database = !registry.isShared ? "sqlite" : registry.isStoreReachable ? "connected"
                    : "unreachable (cache \(staleness.components.seconds) s old)"
                let filling = registry.isFilling
                // While the index fills every read is a query: without the database, nothing is served.
                let ready = status.isReady && cacheTrusted && !(filling && !registry.isStoreReachable)
                let body = ReadinessBody(ready: ready, broker: status.description, database: database,
                                         registry: filling ? "filling" : "ready", subscriptions: filling ? nil : registry.count)
                return .json(ready ? .ok : .serviceUnavailable, body)
            },
        ], payloadLimit: { rules.maxPayloadBytes }, documentLimit: settings.lists.maxDocumentBytes)
    }

    /// The route of a request (its body limit and log label), to answer once the body is in.
    public func match(method: HTTPMethod, path: String) -> MatchedRoute {
        router.match(method: method, path: path)
    }

    /// Answers one request. Never throws: every failure is an error response.
    public func handle(_ request: APIRequest) async -> APIResponse {
        await match(method: request.method, path: request.path).respond(request)
    }

    /// What the metrics sampler reads: routes in force, and the VAPID cache's counts.
    var gauges: (routes: Int, vapidCache: (count: Int, hits: Int, misses: Int)?) {
        (broadcasts.count, verifier.cache?.statistics)
    }

    /// Replaces the broadcast routes (SIGHUP); connections and pushes in flight are untouched.
    public func reloadBroadcasts(_ table: BroadcastTable) {
        broadcasts.reload(table)
    }

    /// The broadcast routes in force.
    public var broadcastTable: BroadcastTable { broadcasts.current }
}
extension PushgateAPI: HTTPResponder {}
