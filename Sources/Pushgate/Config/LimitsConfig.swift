/// The `limits` section: what one push may be and how long it may live.
public struct LimitsConfig: Sendable, Decodable, Equatable {
    /// `max_payload_bytes`: bodies above this get 413. Never below 4096 (RFC 8030 §7.2, P-41).
    public var maxPayloadBytes: Int = 4096
    /// `max_ttl_seconds`: a longer requested TTL is shortened to this and echoed (P-24).
    public var maxTTLSeconds: Int = 28 * 24 * 3600

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxPayloadBytes = "max_payload_bytes"
        case maxTTLSeconds = "max_ttl_seconds"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "limits")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = LimitsConfig()
        maxPayloadBytes = try container.integer(.maxPayloadBytes, default: defaults.maxPayloadBytes, in: 4096...1_048_576, unit: " bytes")
        // MQTT 5's Message Expiry Interval is a 32-bit count of seconds.
        maxTTLSeconds = try container.integer(.maxTTLSeconds, default: defaults.maxTTLSeconds, in: 0...Int(Int32.max), unit: " s")
    }
}
