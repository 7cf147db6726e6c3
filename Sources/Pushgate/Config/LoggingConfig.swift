/// The `logging` section.
public struct LoggingConfig: Sendable, Decodable {
    /// `level`: trace, debug, info, notice, warning, error or critical.
    public var level: String = "info"

    /// The levels swift-log knows.
    public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case level
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "logging")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let level = try container.decodeIfPresent(String.self, forKey: .level) ?? "info"
        guard Self.levels.contains(level) else {
            throw decoder.invalid(CodingKeys.level, "unknown log level '\(level)'", hint: "one of \(Self.levels.joined(separator: ", "))")
        }
        self.level = level
    }
}
