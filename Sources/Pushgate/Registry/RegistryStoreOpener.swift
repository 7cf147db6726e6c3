public import Logging

/// Who is opening the registry: the server, or a tool beside it.
public enum RegistryRole: Sendable {
    /// `pushgate serve`: on SQLite the file is locked for this process alone.
    case server
    /// A command that writes while no server runs (`admin create-subscriptions`, `migrate`):
    /// locked like the server, so it cannot write behind a running one's back.
    case exclusiveTool
    /// A command that only reads, or creates what every process agrees on (`admin stats`,
    /// `routes`): allowed beside a running server.
    case sharedTool
}

extension StorageConfig {
    /// Opens (and migrates) the registry this section names.
    public func open(as role: RegistryRole, logger: Logger = Logger(label: "pushgate.store")) async throws -> any RegistryStore {
        switch backend {
        case .sqlite(let path): try await SQLiteRegistryStore.open(path: path, exclusive: role != .sharedTool, logger: logger)
        case .postgres(let location): try await PostgresRegistryStore.open(location, logger: logger)
        }
    }
}
