import ArgumentParser
import Pushgate

/// `pushgate migrate`: brings the registry's schema to this version and exits.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the registry's schema (SQLite file or PostgreSQL database) and exit.",
        discussion: """
            `serve` migrates on start too; run this first to upgrade before starting new instances. On \
            PostgreSQL it takes an advisory lock, so several instances (or this command) starting at once \
            migrate once and the others wait. A database written by a newer Pushgate is refused.
            """
    )

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String = "config.yaml"

    func run() async throws {
        let loaded = try loadConfigOrExit(config)
        try await orExit("pushgate migrate") {
            let store = try await loaded.storage.open(as: .exclusiveTool)
            try await store.close()
        }
        let version = switch loaded.storage.backend {
        case .sqlite: SQLiteRegistryStore.schemaVersion
        case .postgres: PostgresRegistryStore.schemaVersion
        }
        print("registry \(loaded.storage.displayName): schema version \(version)")
    }
}
