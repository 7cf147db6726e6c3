import Foundation

/// The `storage` section: where the registry (subscriptions, lists) is kept.
public struct StorageConfig: Sendable, Decodable {
    /// `path`: the SQLite database file, created if missing. Relative paths are resolved against
    /// the config file's folder.
    public var path: String
    /// `deleted_retention_days`: how long a deleted subscription is remembered, so pushes to it
    /// answer 410 (then 404, and its memory is freed).
    public var deletedRetentionDays = 30

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path
        case deletedRetentionDays = "deleted_retention_days"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "storage")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try container.decode(String.self, forKey: .path)
        guard !raw.isEmpty, !raw.hasSuffix("/") else {
            throw decoder.invalid(CodingKeys.path, "'path' must name a file", hint: "for example /var/lib/pushgate/registry.sqlite")
        }
        let resolved = decoder.resolvePath(raw)
        let folder = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw decoder.invalid(CodingKeys.path, "the folder of '\(raw)' does not exist (\(folder))",
                                  hint: "create it first (mkdir -p \(folder)) or choose another path")
        }
        path = resolved
        deletedRetentionDays = try container.integer(.deletedRetentionDays, default: 30, in: 0...36_500, unit: " days")
    }

    /// A store at `path`, for tests and tools.
    public init(path: String) { self.path = path }
}
