import Foundation
public import Logging

/// `logging.format: json`: one JSON object per line on standard error — `time` (RFC 3339, UTC,
/// milliseconds), `level`, `label`, `message`, `source`, and the metadata as string fields — for
/// log pipelines that parse lines (Loki, Elasticsearch, journald's JSON output).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// A handler for the logger `label`.
    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in metadataProvider?.get() ?? [:] { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        // The fixed fields win over metadata of the same name.
        fields["time"] = Self.timestamp()
        fields["level"] = event.level.rawValue
        fields["label"] = label
        fields["message"] = "\(event.message)"
        fields["source"] = event.source
        guard var line = try? Self.encoder.encode(fields) else { return }
        line.append(UInt8(ascii: "\n"))
        Self.output.write(line)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Serializes writes so lines from different threads never interleave.
    private static let output = LockedOutput()

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(time.tm_year) + 1900, Int(time.tm_mon) + 1, Int(time.tm_mday),
                      Int(time.tm_hour), Int(time.tm_min), Int(time.tm_sec), now.tv_nsec / 1_000_000)
    }
}

private final class LockedOutput: @unchecked Sendable {
    private let lock = NSLock()

    func write(_ data: Data) {
        lock.withLock { FileHandle.standardError.write(data) }
    }
}
