/// The `metrics` section: Prometheus metrics on a listener of their own, off the public port.
public struct MetricsConfig: Sendable, Decodable, Equatable {
    /// `listen`: `host:port` serving `GET /metrics` (Prometheus text format); absent: no metrics
    /// listener. Keep it on a private interface: the metrics say how busy the service is.
    public var listen: HostAndPort?

    /// No metrics listener.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "metrics")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try container.decodeIfPresent(String.self, forKey: .listen) {
            guard let address = HostAndPort(parsing: text), (0...65535).contains(address.port) else {
                throw decoder.invalid(CodingKeys.listen, "'listen' is '\(text)', not host:port", hint: "for example 127.0.0.1:9464")
            }
            listen = address
        }
    }
}
