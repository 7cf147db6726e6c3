import Crypto
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
    /// Serializes writes, so a transaction's statements are never interleaved with others.
    private let writes = AsyncMutex()
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
        try await execute("""
            CREATE TABLE IF NOT EXISTS lists (
                id TEXT PRIMARY KEY,
                push_token TEXT NOT NULL UNIQUE,
                creator_key BLOB NOT NULL,
                created_at INTEGER NOT NULL
            )
            """)
        try await execute("""
            CREATE TABLE IF NOT EXISTS list_members (
                list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                member_token TEXT NOT NULL,
                expires_at INTEGER,
                encrypted_key TEXT,
                PRIMARY KEY (list_id, member_token)
            )
            """)
        try await execute("CREATE INDEX IF NOT EXISTS list_members_by_member ON list_members(member_token)")
        try await execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
        try await execute("PRAGMA user_version = 3")
    }

    /// Runs `body` as one transaction, serialized with every other write.
    private func transaction(_ body: () async throws -> Void) async throws {
        try await writes.withLock {
            try await execute("BEGIN IMMEDIATE")
            do {
                try await body()
                try await execute("COMMIT")
            } catch {
                try? await execute("ROLLBACK")
                throw error
            }
        }
    }

    public func load() async throws -> RegistrySnapshot {
        let rows = NIOLockedValueBox(RegistrySnapshot())
        try await connection.query("SELECT id, push_token, topic_id, restriction_key, created_at, deleted_at FROM subscriptions", []) { row in
            guard let id = row.column("id")?.string, let pushToken = row.column("push_token")?.string.map(PushToken.init(trusted:)),
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
            let subscription = Subscription(id: SubscriptionID(trusted: id), pushToken: pushToken, topicID: TopicID(trusted: topicID),
                                            restrictionKey: key, createdAt: Int64(createdAt))
            rows.withLockedValue { $0.subscriptions.append(subscription) }
        }
        let lists = NIOLockedValueBox([ListID: PushList]())
        try await connection.query("SELECT id, push_token, creator_key, created_at FROM lists", []) { row in
            guard let id = row.column("id")?.string, let pushToken = row.column("push_token")?.string,
                  let keyBlob = row.column("creator_key")?.blob, let createdAt = row.column("created_at")?.integer,
                  let key = try? VAPIDPublicKey(base64URL: Base64URL.encode(keyBlob.readableBytesView))
            else { return }
            let listID = ListID(trusted: id)
            lists.withLockedValue {
                $0[listID] = PushList(id: listID, pushToken: ListPushToken(trusted: pushToken), creatorKey: key, members: [:], createdAt: Int64(createdAt))
            }
        }
        try await connection.query("SELECT list_id, member_token, expires_at, encrypted_key FROM list_members", []) { row in
            guard let listID = row.column("list_id")?.string, let token = row.column("member_token")?.string else { return }
            let member = PushList.Member(expires: row.column("expires_at")?.integer.map(Int64.init),
                                         encryptedKey: row.column("encrypted_key")?.string)
            lists.withLockedValue { $0[ListID(trusted: listID)]?.members[PushToken(trusted: token)] = member }
        }
        var snapshot = rows.withLockedValue { $0 }
        snapshot.lists = Array(lists.withLockedValue { $0 }.values)
        return snapshot
    }

    public func insertList(_ list: PushList) async throws {
        try await transaction {
            try await execute("INSERT INTO lists (id, push_token, creator_key, created_at) VALUES (?, ?, ?, ?)",
                              [.text(list.id.rawValue), .text(list.pushToken.rawValue), .blob(ByteBuffer(bytes: list.creatorKey.rawBytes)), .integer(Int(list.createdAt))])
            for (token, member) in list.members { try await upsertMember(list.id, token, member) }
        }
    }

    public func updateList(id: ListID, _ changes: [ListChange]) async throws {
        try await transaction {
            for change in changes {
                switch change {
                case .upsert(let token, let member): try await upsertMember(id, token, member)
                case .remove(let token): try await execute("DELETE FROM list_members WHERE list_id = ? AND member_token = ?", [.text(id.rawValue), .text(token.rawValue)])
                }
            }
        }
    }

    public func deleteList(id: ListID) async throws {
        try await transaction {
            try await execute("DELETE FROM list_members WHERE list_id = ?", [.text(id.rawValue)])
            try await execute("DELETE FROM lists WHERE id = ?", [.text(id.rawValue)])
        }
    }

    private func upsertMember(_ listID: ListID, _ token: PushToken, _ member: PushList.Member) async throws {
        try await execute(
            "INSERT OR REPLACE INTO list_members (list_id, member_token, expires_at, encrypted_key) VALUES (?, ?, ?, ?)",
            [.text(listID.rawValue), .text(token.rawValue), member.expires.map { .integer(Int($0)) } ?? .null, member.encryptedKey.map { .text($0) } ?? .null]
        )
    }

    public func insert(_ subscription: Subscription) async throws {
        try await writes.withLock { try await insertRow(subscription) }
    }

    public func insert(batch subscriptions: [Subscription]) async throws {
        try await transaction {
            // Many rows per statement: a million single-row statements spend their time in the
            // round trips to SQLite's thread, not in SQLite.
            for chunk in stride(from: 0, to: subscriptions.count, by: Self.rowsPerStatement) {
                try await insertRows(subscriptions[chunk..<min(chunk + Self.rowsPerStatement, subscriptions.count)])
            }
        }
    }

    private static let rowsPerStatement = 200

    private func insertRow(_ subscription: Subscription) async throws {
        try await insertRows(CollectionOfOne(subscription))
    }

    private func insertRows(_ subscriptions: some Collection<Subscription>) async throws {
        var binds: [SQLiteData] = []
        binds.reserveCapacity(subscriptions.count * 5)
        for subscription in subscriptions {
            binds += [.text(subscription.id.rawValue), .text(subscription.pushToken.rawValue), .text(subscription.topicID.rawValue),
                      subscription.restrictionKey.map { .blob(ByteBuffer(bytes: $0.rawBytes)) } ?? .null, .integer(Int(subscription.createdAt))]
        }
        let values = Array(repeating: "(?, ?, ?, ?, ?)", count: subscriptions.count).joined(separator: ", ")
        try await execute("INSERT INTO subscriptions (id, push_token, topic_id, restriction_key, created_at) VALUES \(values)", binds)
    }

    public func markDeleted(id: SubscriptionID, at time: Int64) async throws {
        try await transaction {
            try await execute("""
                DELETE FROM list_members WHERE member_token = (SELECT push_token FROM subscriptions WHERE id = ?)
                """, [.text(id.rawValue)])
            try await execute("UPDATE subscriptions SET deleted_at = ?, restriction_key = NULL WHERE id = ?", [.integer(Int(time)), .text(id.rawValue)])
        }
    }

    public func installationSecret() async throws -> [UInt8] {
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        // INSERT OR IGNORE: whoever comes first (the server, or `pushgate routes` before it ever
        // ran) creates it; everyone after reads the same value.
        try await writes.withLock {
            try await execute("INSERT OR IGNORE INTO secrets (name, value) VALUES ('installation', ?)", [.blob(ByteBuffer(bytes: fresh))])
        }
        let value = NIOLockedValueBox<[UInt8]?>(nil)
        try await connection.query("SELECT value FROM secrets WHERE name = 'installation'", []) { row in
            if let blob = row.column("value")?.blob { value.withLockedValue { $0 = Array(blob.readableBytesView) } }
        }
        guard let secret = value.withLockedValue({ $0 }), secret.count == 32 else { throw SecretUnreadable() }
        return secret
    }

    /// The stored installation secret is missing or damaged.
    struct SecretUnreadable: Error, CustomStringConvertible {
        var description: String { "the installation secret in the registry is unreadable" }
    }

    public func close() async throws {
        try await connection.close()
    }
}
