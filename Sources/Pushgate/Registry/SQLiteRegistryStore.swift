public import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLiteNIO
import WebPush

/// The registry in one SQLite file (sqlite-nio, which bundles SQLite and runs it on NIO's
/// thread pool).
///
/// WAL journal with `synchronous=FULL`: a write has reached the disk when ``insert(_:)``
/// returns, which is what lets a subscribe answer 201.
public final class SQLiteRegistryStore: RegistryStore {
    private let connection: SQLiteConnection
    /// The database file.
    public let path: String

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    /// Opens (creating if needed) the database at `path` and migrates its schema.
    public static func open(path: String, logger: Logger = Logger(label: "pushgate.store")) async throws -> SQLiteRegistryStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteRegistryStore(connection: connection, path: path)
        try await store.migrate()
        return store
    }

    private func execute(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        try await connection.query(sql, binds) { _ in }
    }

    private func migrate() async throws {
        try await execute("PRAGMA journal_mode=WAL")
        try await execute("PRAGMA synchronous=FULL")
        try await execute("""
            CREATE TABLE IF NOT EXISTS subscriptions (
                id TEXT PRIMARY KEY,
                push_token TEXT NOT NULL UNIQUE,
                topic_id TEXT NOT NULL UNIQUE,
                restriction_key BLOB,
                created_at INTEGER NOT NULL,
                deleted_at INTEGER
            )
            """)
        try await execute("PRAGMA user_version = 1")
    }

    public func load() async throws -> RegistrySnapshot {
        let rows = NIOLockedValueBox(RegistrySnapshot())
        try await connection.query("SELECT id, push_token, topic_id, restriction_key, created_at, deleted_at FROM subscriptions", []) { row in
            guard let id = row.column("id")?.string, let pushToken = row.column("push_token")?.string,
                  let topicID = row.column("topic_id")?.string, let createdAt = row.column("created_at")?.integer
            else { return }
            if row.column("deleted_at")?.integer != nil {
                rows.withLockedValue { $0.deletedPushTokens.append(pushToken) }
                return
            }
            var key: VAPIDPublicKey?
            if let blob = row.column("restriction_key")?.blob {
                key = try? VAPIDPublicKey(base64URL: Base64URL.encode(blob.readableBytesView))
            }
            let subscription = Subscription(id: id, pushToken: pushToken, topicID: topicID, restrictionKey: key, createdAt: Int64(createdAt))
            rows.withLockedValue { $0.subscriptions.append(subscription) }
        }
        return rows.withLockedValue { $0 }
    }

    public func insert(_ subscription: Subscription) async throws {
        let key: SQLiteData = subscription.restrictionKey.map { .blob(ByteBuffer(bytes: $0.rawBytes)) } ?? .null
        try await execute(
            "INSERT INTO subscriptions (id, push_token, topic_id, restriction_key, created_at) VALUES (?, ?, ?, ?, ?)",
            [.text(subscription.id), .text(subscription.pushToken), .text(subscription.topicID), key, .integer(Int(subscription.createdAt))]
        )
    }

    public func markDeleted(id: String, at time: Int64) async throws {
        try await execute("UPDATE subscriptions SET deleted_at = ?, restriction_key = NULL WHERE id = ?", [.integer(Int(time)), .text(id)])
    }

    public func close() async throws {
        try await connection.close()
    }
}
