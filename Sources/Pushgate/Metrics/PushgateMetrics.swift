import Metrics
import NIOConcurrencyHelpers

/// Every metric Pushgate emits, through apple/swift-metrics (so any backend can collect them;
/// `pushgate serve` bootstraps swift-prometheus and serves them on `metrics.listen`). Names follow
/// Prometheus conventions; labels are bounded: a route label is a row of the route table, never a
/// path, a token or a topic. docs/operations.md#metrics describes each one.
///
/// Handles are made on first use, after `serve` bootstrapped the backend; without one (tests,
/// tools) they are no-ops.
enum PushgateMetrics {
    // MARK: HTTP

    static let connectionsAccepted = Counter(label: "pushgate_http_connections_total")
    static let connectionsRefused = Counter(label: "pushgate_http_connections_refused_total")
    static let connectionsOpen = Gauge(label: "pushgate_http_connections_open")
    static let http2Streams = Counter(label: "pushgate_http2_streams_total")
    /// Requests whose client reset the stream or closed the connection before the answer (not
    /// counted in `pushgate_http_requests_total`; a push not yet handed to the broker is dropped).
    static let requestsAbandoned = Counter(label: "pushgate_http_requests_abandoned_total")
    /// Times a connection's reads were paused because it had caused its limit of work.
    static let readsPaused = Counter(label: "pushgate_http_reads_paused_total")
    /// HTTP/2 streams reset because the client did not take the response within the request
    /// timeout (its flow-control window stayed shut).
    static let responsesNotTaken = Counter(label: "pushgate_http2_responses_not_taken_total")
    /// Connections closed after a GOAWAY for a connection error (RFC 9113 §5.4.1).
    static let connectionErrors = Counter(label: "pushgate_http2_connection_errors_total")

    /// Requests by route, status and errno, and their duration by route (for a push: from the
    /// request to the broker's acknowledgement, the moment the 201 is sent).
    static func requestFinished(route: String, status: UInt, errno: Int?, nanoseconds: Int64) {
        requests.counter(route: route, status: status, errno: errno).increment()
        requests.timer(route: route).recordNanoseconds(nanoseconds)
    }

    private static let requests = RequestMetricHandles()

    // MARK: Delivery

    /// Messages the broker accepted with nobody subscribed (MQTT 5 PUBACK 0x10).
    static let pushesWithoutSubscribers = Counter(label: "pushgate_pushes_without_subscribers_total")
    /// How many members one list push went to.
    static let fanOutRecipients = Recorder(label: "pushgate_fanout_recipients", dimensions: [("kind", "list")])
    /// Refusals by a rate limit (`limit`: which one).
    static func rateLimited(_ limit: String) -> Counter {
        Counter(label: "pushgate_rate_limited_total", dimensions: [("limit", limit)])
    }

    // MARK: Registry

    static let registryWrite = Timer(label: "pushgate_registry_write_duration_seconds")
    static let registryCatchUp = Timer(label: "pushgate_registry_catchup_duration_seconds")

    /// Makes every fixed metric now, so each is exposed (at zero) from the first scrape and a
    /// `rate()` over it works before its first event.
    static func registerAll() {
        _ = (connectionsAccepted, connectionsRefused, connectionsOpen, http2Streams, fanOutRecipients, registryWrite, registryCatchUp,
             pushesWithoutSubscribers)
        _ = rateLimited("list_fanout")
    }
}

/// The per-route handles, made once per label set: a push must not pay a factory lookup.
private final class RequestMetricHandles: Sendable {
    private struct Key: Hashable {
        var route: String
        var status: UInt
        var errno: Int?
    }

    private let counters = NIOLockedValueBox<[Key: Counter]>([:])
    private let timers = NIOLockedValueBox<[String: Timer]>([:])

    func counter(route: String, status: UInt, errno: Int?) -> Counter {
        let key = Key(route: route, status: status, errno: errno)
        return counters.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "pushgate_http_requests_total",
                                  dimensions: [("route", route), ("status", String(status)), ("errno", errno.map(String.init) ?? "")])
            counters[key] = counter
            return counter
        }
    }

    func timer(route: String) -> Timer {
        timers.withLockedValue { timers in
            if let timer = timers[route] { return timer }
            let timer = Timer(label: "pushgate_http_request_duration_seconds", dimensions: [("route", route)])
            timers[route] = timer
            return timer
        }
    }
}

extension Timer {
    /// Records the time since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - start).components
        recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }
}
