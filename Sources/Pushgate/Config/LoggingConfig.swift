/// The `logging` section.
public struct LoggingConfig: Sendable, Decodable, Equatable {
    /// How log lines are written.
    public enum Format: String, Sendable {
        /// swift-log's text lines.
        case text
        /// One JSON object per line: `time`, `level`, `label`, `message`, and the metadata.
        case json
    }

    /// `level`: trace, debug, info, notice, warning, error or critical.
    public var level: String = "info"
    /// `format`: `text` (default) or `json`.
    public var format: Format = .text
    /// `access_log`: one line per request at info (route label, status, errno, duration; never
    /// the path, which holds capability tokens); `false`: at debug.
    public var accessLog = true

    /// The levels swift-log knows.
    public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case level, format
        case accessLog = "access_log"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "logging")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let level = try container.decodeIfPresent(String.self, forKey: .level) ?? "info"
        guard Self.levels.contains(level) else {
            throw decoder.invalid(CodingKeys.level, "unknown log level '\(level)'", hint: "one of \(Self.levels.joined(separator: ", "))")
        }
        self.level = level
        if let text = try container.decodeIfPresent(String.self, forKey: .format) {
            guard let format = Format(rawValue: text) else {
                throw decoder.invalid(CodingKeys.format, "unknown log format '\(text)'", hint: "text or json")
            }
            self.format = format
        }
        accessLog = try container.decodeIfPresent(Bool.self, forKey: .accessLog) ?? true
    }
}
