import Metrics
import MQTTBridge
import ServiceLifecycle

/// Reads, once a second, what is kept as state rather than counted as it happens (connections
/// open, the broker connection and its window, registry sizes, the VAPID cache) into gauges, and
/// turns cumulative counts kept elsewhere into Prometheus counters by their increase.
struct MetricsSampler: Service {
    let bridge: MQTTBridge
    let api: PushgateAPI
    let server: HTTPServer

    private static let brokerConnected = Gauge(label: "pushgate_broker_connected")
    private static let brokerConnects = Counter(label: "pushgate_broker_connects_total")
    private static let brokerDisconnects = Counter(label: "pushgate_broker_disconnects_total")
    private static let brokerTakeovers = Counter(label: "pushgate_broker_session_takeovers_total")
    private static let publishesInFlight = Gauge(label: "pushgate_broker_publishes_in_flight")
    private static let publishWindow = Gauge(label: "pushgate_broker_publish_window")
    private static let subscriptions = Gauge(label: "pushgate_subscriptions")
    private static let deletedSubscriptions = Gauge(label: "pushgate_deleted_subscriptions")
    private static let lists = Gauge(label: "pushgate_lists")
    private static let routes = Gauge(label: "pushgate_routes")
    private static let vapidHits = Counter(label: "pushgate_vapid_cache_hits_total")
    private static let vapidMisses = Counter(label: "pushgate_vapid_cache_misses_total")
    private static let vapidEntries = Gauge(label: "pushgate_vapid_cache_entries")
    private static let registryStaleness = Gauge(label: "pushgate_registry_staleness_seconds")
    private static let registryFilling = Gauge(label: "pushgate_registry_filling")
    /// Only with the allocation counter preloaded (``ProcessAllocations``).
    private static let allocations = Counter(label: "pushgate_process_allocations_total")

    /// The cumulative counts at the last sample.
    private struct Totals {
        var connects = 0, disconnects = 0, takeovers = 0, vapidHits = 0, vapidMisses = 0
        var allocations: Int64 = 0
    }

    func run() async throws {
        PushgateMetrics.registerAll()
        var last = Totals()
        while true {
            last = sample(after: last)
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil else { return }
        }
    }

    private func sample(after last: Totals) -> Totals {
        var now = last
        let statistics = bridge.statistics
        Self.brokerConnected.record(bridge.isConnected ? 1 : 0)
        now.connects = statistics.connects
        now.disconnects = statistics.disconnects
        now.takeovers = statistics.takeovers
        Self.brokerConnects.increment(by: Int64(max(0, now.connects - last.connects)))
        Self.brokerDisconnects.increment(by: Int64(max(0, now.disconnects - last.disconnects)))
        Self.brokerTakeovers.increment(by: Int64(max(0, now.takeovers - last.takeovers)))
        Self.publishesInFlight.record(statistics.inFlight)
        Self.publishWindow.record(statistics.window)
        Self.subscriptions.record(api.registry.count)
        Self.deletedSubscriptions.record(api.registry.deletedCount)
        Self.lists.record(api.registry.listCount)
        Self.registryStaleness.record(Double(api.registry.staleness.components.seconds))
        Self.registryFilling.record(api.registry.isFilling ? 1 : 0)
        let gauges = api.gauges
        Self.routes.record(gauges.routes)
        if let cache = gauges.vapidCache {
            now.vapidHits = cache.hits
            now.vapidMisses = cache.misses
            Self.vapidHits.increment(by: Int64(max(0, now.vapidHits - last.vapidHits)))
            Self.vapidMisses.increment(by: Int64(max(0, now.vapidMisses - last.vapidMisses)))
            Self.vapidEntries.record(cache.count)
        }
        PushgateMetrics.connectionsOpen.record(server.openConnections)
        if let allocations = ProcessAllocations.count {
            now.allocations = allocations
            Self.allocations.increment(by: max(0, allocations - last.allocations))
        }
        return now
    }
}
