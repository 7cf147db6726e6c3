import Foundation
import Glibc
import Crypto
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO
import WebPush

/// The registry in one SQLite file (sqlite-nio, which bundles SQLite and runs it on NIO's
/// thread pool).
///
/// WAL journal with `synchronous=FULL`: a write has reached the disk when it returns, which is
/// what lets a subscribe answer 201. The schema is versioned (`PRAGMA user_version`); opening
/// migrates an older file in one transaction and refuses a newer one.
public final class SQLiteRegistryStore: RegistryStore {
    /// The schema version this build writes.
    public static let schemaVersion = 5

    private let connection: SQLiteConnection
    /// Serializes writes, so a transaction's statements are never interleaved with others.
    private let writes = AsyncMutex()
    /// The database file.
    public let path: String

    /// The file was written by a newer Pushgate.
    public struct NewerSchema: Error, CustomStringConvertible {
        /// The file's version.
        public let found: Int
        public var description: String {
            "the registry database has schema version \(found), newer than this Pushgate's \(SQLiteRegistryStore.schemaVersion): run the newer version, or restore a backup"
        }
    }

    /// The file exists but is empty. SQLite would silently start a new registry in it, and every
    /// push URL issued before would answer 404 instead of 410; an empty file is almost always a
    /// truncated copy or a failed restore, so it is refused unless the operator deletes it.
    public struct EmptyFile: Error, CustomStringConvertible {
        /// The file.
        public let path: String
        public var description: String {
            "the registry database \(path) exists but is empty (0 bytes), probably a truncated copy or a failed restore: restore it from a backup, or delete the file to start a new, empty registry"
        }
    }

    /// Another process has the file open as its registry.
    public struct InUse: Error, CustomStringConvertible {
        /// The file.
        public let path: String
        public var description: String {
            "the registry database \(path) is in use by another Pushgate process; SQLite serves one instance only. "
                + "Stop the other process, or run several instances on PostgreSQL (storage.url; see docs/scaling.md)"
        }
    }

    /// The descriptor holding the file's process lock, or -1.
    private let lockDescriptor: Int32

    private init(connection: SQLiteConnection, path: String, lockDescriptor: Int32) {
        self.connection = connection
        self.path = path
        self.lockDescriptor = lockDescriptor
    }

    /// Takes an exclusive `flock` on the database file for this process (released when it
    /// exits, however it exits). Two processes on one file would each keep their own in-memory
    /// view and contradict each other; the second is refused instead. SQLite's own locks are
    /// POSIX record locks, which `flock` does not touch.
    ///
    /// A lock held only briefly (a previous process still exiting, or a child process that
    /// inherited the descriptor between fork and exec) is waited for, up to a second.
    private static func lockFile(_ path: String) async throws -> Int32 {
        let descriptor = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "open \(path)") }
        for attempt in 0..<20 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return descriptor }
            let code = errno
            guard code == EWOULDBLOCK, attempt < 19 else {
                Glibc.close(descriptor)
                if code == EWOULDBLOCK { throw InUse(path: path) }
                throw IOError(errnoCode: code, reason: "flock \(path)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        Glibc.close(descriptor)
        throw InUse(path: path)
    }

    /// Opens (creating if needed) the database at `path` and migrates its schema. With
    /// `exclusive` (the server, and tools that write) the file is locked for this process.
    ///
    /// - Throws: ``EmptyFile`` for an existing 0-byte file, ``InUse`` when another process holds
    ///   it, ``NewerSchema`` for a file written by a newer Pushgate, or SQLite's error.
    public static func open(path: String, exclusive: Bool = true, logger: Logger = Logger(label: "pushgate.store")) async throws -> SQLiteRegistryStore {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.intValue == 0 {
            throw EmptyFile(path: path)
        }
        // SQLite creates a missing file; the lock is taken before anything is written to it.
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let lock: Int32
        do {
            lock = exclusive ? try await lockFile(path) : -1
        } catch {
            try? await connection.close()
            throw error
        }
        let store = SQLiteRegistryStore(connection: connection, path: path, lockDescriptor: lock)
        do {
            try await store.migrate()
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }

    private func execute(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        try await connection.query(sql, binds) { _ in }
    }

    /// Rows of a query, read as values (sqlite-nio calls back per row).
    private func rows<Row: Sendable>(_ sql: String, _ binds: [SQLiteData] = [], on connection: SQLiteConnection? = nil,
                                     _ read: @escaping @Sendable (SQLiteRow) -> Row?) async throws -> [Row] {
        let rows = NIOLockedValueBox<[Row]>([])
        try await (connection ?? self.connection).query(sql, binds) { row in
            if let value = read(row) { rows.withLockedValue { $0.append(value) } }
        }
        return rows.withLockedValue { $0 }
    }

    // MARK: Schema

    private func migrate() async throws {
        try await execute("PRAGMA journal_mode=WAL")
        try await execute("PRAGMA synchronous=FULL")
        let version = try await rows("PRAGMA user_version") { $0.column("user_version")?.integer }.first ?? 0
        guard version <= Self.schemaVersion else { throw NewerSchema(found: version) }
        guard version < Self.schemaVersion else { return }
        try await transaction { [self] in
            // Version 3: subscriptions, lists, the installation secret. Earlier files had subsets
            // of these tables, so each is created only if missing.
            try await execute("""
                CREATE TABLE IF NOT EXISTS subscriptions (
                    id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, topic_id TEXT NOT NULL UNIQUE,
                    restriction_key BLOB, created_at INTEGER NOT NULL, deleted_at INTEGER)
                """)
            try await execute("""
                CREATE TABLE IF NOT EXISTS lists (
                    id TEXT PRIMARY KEY, push_token TEXT NOT NULL UNIQUE, creator_key BLOB NOT NULL, created_at INTEGER NOT NULL)
                """)
            try await execute("""
                CREATE TABLE IF NOT EXISTS list_members (
                    list_id TEXT NOT NULL REFERENCES lists(id) ON DELETE CASCADE, member_token TEXT NOT NULL,
                    expires_at INTEGER, encrypted_key TEXT, PRIMARY KEY (list_id, member_token))
                """)
            try await execute("CREATE INDEX IF NOT EXISTS list_members_by_member ON list_members(member_token)")
            try await execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
            if version < 4 {
                // Version 4: subscription sets, held Topic messages, tombstone purging.
                try await execute("""
                    CREATE TABLE sets (id TEXT PRIMARY KEY, topic_id TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, deleted_at INTEGER)
                    """)
                try await execute("ALTER TABLE subscriptions ADD COLUMN set_id TEXT REFERENCES sets(id)")
                try await execute("CREATE INDEX subscriptions_by_set ON subscriptions(set_id)")
                try await execute("CREATE INDEX subscriptions_by_deletion ON subscriptions(deleted_at)")
                try await execute("""
                    CREATE TABLE held_messages (
                        id TEXT PRIMARY KEY, topic_id TEXT NOT NULL, set_topic_id TEXT, slot TEXT NOT NULL, urgency TEXT NOT NULL,
                        content_encoding TEXT, encrypted_key TEXT, accepted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                        body BLOB NOT NULL, UNIQUE (topic_id, slot))
                    """)
            }
            if version < 5 {
                // Version 5: delivery receipts.
                try await execute("CREATE TABLE receipt_subscriptions (id TEXT PRIMARY KEY, creator_key BLOB NOT NULL, created_at INTEGER NOT NULL)")
                try await execute("""
                    CREATE TABLE receipt_requests (message_id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, expires_at INTEGER NOT NULL)
                    """)
                try await execute("""
                    CREATE TABLE receipts (subscription_id TEXT NOT NULL, message_id TEXT NOT NULL, status INTEGER NOT NULL,
                        at INTEGER NOT NULL, PRIMARY KEY (subscription_id, message_id))
                    """)
            }
            try await execute("PRAGMA user_version = \(Self.schemaVersion)")
        }
    }

    /// Runs `body` as one transaction, serialized with every other write.
    ///
    /// In a task of its own, so that cancelling the caller (a client that went away) cannot stop
    /// it halfway: sqlite-nio's queries throw on cancellation, and a cancelled ROLLBACK would leave
    /// the shared connection inside a transaction, failing every later write.
    private func transaction(_ body: @escaping @Sendable () async throws -> Void) async throws {
        try await Task {
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
        }.value
    }

    // MARK: Load

    public func load() async throws -> RegistrySnapshot {
        // A load runs on threads of its own. sqlite-nio runs a whole query as one job of its
        // thread pool and hands each row to an event loop: a load of millions on the shared pool
        // and loops would hold up, for its whole length, the reads by key that answer pushes
        // meanwhile (`Registry.fill()`) and the HTTP event loops.
        let threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var readers: [SQLiteConnection] = []
        func release() async {
            for reader in readers { try? await reader.close() }
            try? await threads.shutdownGracefully()
            try? await loops.shutdownGracefully()
        }
        do {
            for _ in 0..<2 { readers.append(try await SQLiteConnection.open(storage: .file(path: path), threadPool: threads, on: loops.next())) }
            let snapshot = try await load(readers[0], readers[1])
            await release()
            return snapshot
        } catch {
            await release()
            throw error
        }
    }

    private func load(_ first: SQLiteConnection, _ second: SQLiteConnection) async throws -> RegistrySnapshot {
        let sets = try await rows("SELECT id, topic_id, created_at, deleted_at FROM sets", on: first) { row -> (SubscriptionSet, deleted: Bool)? in
            guard let id = row.column("id")?.string, let topicID = row.column("topic_id")?.string,
                  let createdAt = row.column("created_at")?.integer
            else { return nil }
            return (SubscriptionSet(id: SetID(trusted: id), topicID: TopicID(trusted: topicID), createdAt: Int64(createdAt)),
                    row.column("deleted_at")?.integer != nil)
        }
        let setsByID = {
            var byID = [SetID: SubscriptionSet](minimumCapacity: sets.count)
            for (set, _) in sets { byID[set.id] = set }
            return byID
        }()
        let keys = StoredKeys()
        let read = { @Sendable (row: SQLiteRow) -> RegistryChanges.SubscriptionState? in
            Self.subscription(row, keys: keys) { setsByID[SetID(trusted: $0)] }
        }
        // The rows are read in two halves of the rowid range on two connections at once: turning
        // rows into records is most of a load's time (issue 16), and it runs on the thread pool.
        let select = "SELECT \(Self.subscriptionColumns) FROM subscriptions"
        let lastRowID = try await rows("SELECT coalesce(max(rowid), 0) AS last FROM subscriptions", on: first) { $0.column("last")?.integer }.first ?? 0
        let subscriptions: [RegistryChanges.SubscriptionState]
        if lastRowID > 10_000 {
            async let upper = rows(select + " WHERE rowid > \(lastRowID / 2)", [], on: second, read)
            let lower = try await rows(select + " WHERE rowid <= \(lastRowID / 2)", [], on: first, read)
            subscriptions = try await lower + upper
        } else {
            subscriptions = try await rows(select, [], on: first, read)
        }
        var snapshot = RegistrySnapshot(sets: sets.filter { !$0.deleted }.map(\.0))
        snapshot.subscriptions.reserveCapacity(subscriptions.count)
        for row in subscriptions {
            switch row {
            case .live(let subscription): snapshot.subscriptions.append(subscription)
            case .deleted(let token, let time): snapshot.deletedPushTokens[token] = time
            }
        }
        snapshot.lists = try await lists(where: nil, on: first)
        return snapshot
    }

    private static let subscriptionColumns = "id, push_token, topic_id, restriction_key, created_at, deleted_at, set_id"

    /// A row of ``subscriptionColumns``; `nil` for a damaged one — a live subscription whose
    /// restriction key does not parse must not load as an open subscription (see ``StoredKeys``).
    private static func subscription(_ row: SQLiteRow, keys: StoredKeys, set: (String) -> SubscriptionSet?) -> RegistryChanges.SubscriptionState? {
        guard let id = row.column("id")?.string, let pushToken = row.column("push_token")?.string.map(PushToken.init(trusted:)),
              let topicID = row.column("topic_id")?.string, let createdAt = row.column("created_at")?.integer
        else { return nil }
        if let deletedAt = row.column("deleted_at")?.integer { return .deleted(pushToken, at: Int64(deletedAt)) }
        let storedKey: SQLiteData? = switch row.column("restriction_key") {
        case .none, .some(.null): nil
        case .some(let value): value
        }
        let key = storedKey?.blob.flatMap(keys.key)
        guard (storedKey == nil) == (key == nil) else { return nil }
        return .live(Subscription(id: SubscriptionID(trusted: id), pushToken: pushToken, topicID: TopicID(trusted: topicID),
                                  restrictionKey: key, createdAt: Int64(createdAt), set: row.column("set_id")?.string.flatMap(set)))
    }

    /// Lists (all, or those a condition on `lists` selects), with their members.
    private func lists(where condition: String?, _ binds: [SQLiteData] = [], on reader: SQLiteConnection? = nil) async throws -> [PushList] {
        let connection = reader ?? self.connection
        let lists = NIOLockedValueBox([ListID: PushList]())
        let filter = condition.map { " WHERE \($0)" } ?? ""
        try await connection.query("SELECT id, push_token, creator_key, created_at FROM lists" + filter, binds) { row in
            guard let id = row.column("id")?.string, let pushToken = row.column("push_token")?.string,
                  let keyBlob = row.column("creator_key")?.blob, let createdAt = row.column("created_at")?.integer,
                  let key = try? VAPIDPublicKey(rawBytes: keyBlob.readableBytesView)
            else { return }
            let listID = ListID(trusted: id)
            lists.withLockedValue {
                $0[listID] = PushList(id: listID, pushToken: ListPushToken(trusted: pushToken), creatorKey: key, members: [:], createdAt: Int64(createdAt))
            }
        }
        let found = lists.withLockedValue { $0 }
        guard !found.isEmpty else { return [] }
        let members = condition == nil ? "" : " WHERE list_id IN (SELECT id FROM lists" + filter + ")"
        try await connection.query("SELECT list_id, member_token, expires_at, encrypted_key FROM list_members" + members, condition == nil ? [] : binds) { row in
            guard let listID = row.column("list_id")?.string, let token = row.column("member_token")?.string else { return }
            let member = PushList.Member(expires: row.column("expires_at")?.integer.map(Int64.init),
                                         encryptedKey: row.column("encrypted_key")?.string)
            lists.withLockedValue { $0[ListID(trusted: listID)]?.members[PushToken(trusted: token)] = member }
        }
        return Array(lists.withLockedValue { $0 }.values)
    }

    // MARK: Reads while the registry fills

    /// Keys of the rows read through while the registry fills: a few application servers'.
    private let readKeys = StoredKeys()

    /// Subscription rows with their sets, by push token.
    private func subscriptions(where condition: String, _ binds: [SQLiteData]) async throws -> [RegistryChanges.SubscriptionState] {
        let columns = Self.subscriptionColumns.split(separator: ", ").map { "s.\($0) AS \($0)" }.joined(separator: ", ")
        return try await rows("""
            SELECT \(columns), sets.topic_id AS set_topic_id, sets.created_at AS set_created_at
            FROM subscriptions s LEFT JOIN sets ON sets.id = s.set_id WHERE \(condition)
            """, binds) { [readKeys] row in
            Self.subscription(row, keys: readKeys) { id in
                guard let topicID = row.column("set_topic_id")?.string, let createdAt = row.column("set_created_at")?.integer else { return nil }
                return SubscriptionSet(id: SetID(trusted: id), topicID: TopicID(trusted: topicID), createdAt: Int64(createdAt))
            }
        }
    }

    public func lookup(pushToken: PushToken) async throws -> Registry.Lookup {
        Registry.Lookup(try await subscriptions(where: "s.push_token = ?", [.text(pushToken.rawValue)]).first)
    }

    public func subscriptions(pushTokens: [PushToken]) async throws -> [Subscription] {
        var found: [Subscription] = []
        found.reserveCapacity(pushTokens.count)
        // SQLite allows 32,766 parameters a statement; chunks keep each statement small.
        for chunk in stride(from: 0, to: pushTokens.count, by: 500) {
            let tokens = pushTokens[chunk..<min(chunk + 500, pushTokens.count)]
            let marks = Array(repeating: "?", count: tokens.count).joined(separator: ", ")
            found += try await subscriptions(where: "s.push_token IN (\(marks))", tokens.map { .text($0.rawValue) }).compactMap(\.live)
        }
        return found
    }

    public func list(id: ListID) async throws -> PushList? {
        try await lists(where: "id = ?", [.text(id.rawValue)]).first
    }

    public func list(pushToken: ListPushToken) async throws -> PushList? {
        try await lists(where: "push_token = ?", [.text(pushToken.rawValue)]).first
    }

    // MARK: Subscriptions and sets

    public func insert(_ subscription: Subscription) async throws {
        try await transaction { [self] in
            if let set = subscription.set {
                try await execute("INSERT OR IGNORE INTO sets (id, topic_id, created_at) VALUES (?, ?, ?)",
                                  [.text(set.id.rawValue), .text(set.topicID.rawValue), .integer(Int(set.createdAt))])
            }
            try await insertRows(CollectionOfOne(subscription))
        }
    }

    public func insert(batch subscriptions: [Subscription]) async throws {
        try await transaction { [self] in
            let sets = Array(Set(subscriptions.compactMap(\.set)))
            for chunk in stride(from: 0, to: sets.count, by: Self.rowsPerStatement) {
                let rows = sets[chunk..<min(chunk + Self.rowsPerStatement, sets.count)]
                try await execute("INSERT OR IGNORE INTO sets (id, topic_id, created_at) VALUES \(Array(repeating: "(?, ?, ?)", count: rows.count).joined(separator: ", "))",
                                  rows.flatMap { [SQLiteData.text($0.id.rawValue), .text($0.topicID.rawValue), .integer(Int($0.createdAt))] })
            }
            // Many rows per statement: a million single-row statements spend their time in the
            // round trips to SQLite's thread, not in SQLite.
            for chunk in stride(from: 0, to: subscriptions.count, by: Self.rowsPerStatement) {
                try await insertRows(subscriptions[chunk..<min(chunk + Self.rowsPerStatement, subscriptions.count)])
            }
        }
    }

    private static let rowsPerStatement = 200

    /// Lets SQLite keep up to `mebibytes` of database pages in memory (its default is 2 MiB), for
    /// a tool writing many rows: each insert updates three unique indexes of random keys, and
    /// with the default cache nearly every one re-reads index pages through the kernel (bulk
    /// creation of 10 million subscriptions spent 19 of its 33 minutes in system calls). Not for
    /// the server, whose pages would stay resident beside the index.
    public func setPageCache(mebibytes: Int) async throws {
        try await execute("PRAGMA cache_size = -\(max(1, mebibytes) * 1024)")
    }

    /// The page cache's limit in KiB (`PRAGMA cache_size`, read back).
    public func pageCacheKiB() async throws -> Int {
        let size = try await rows("PRAGMA cache_size") { $0.column("cache_size")?.integer }.first ?? 0
        return size < 0 ? -size : size * 4  // a positive value counts pages (4 KiB by default)
    }

    private func insertRows(_ subscriptions: some Collection<Subscription>) async throws {
        var binds: [SQLiteData] = []
        binds.reserveCapacity(subscriptions.count * 6)
        for subscription in subscriptions {
            binds += [.text(subscription.id.rawValue), .text(subscription.pushToken.rawValue), .text(subscription.topicID.rawValue),
                      subscription.restrictionKey.map { .blob(ByteBuffer(bytes: $0.rawBytes)) } ?? .null, .integer(Int(subscription.createdAt)),
                      subscription.set.map { .text($0.id.rawValue) } ?? .null]
        }
        let values = Array(repeating: "(?, ?, ?, ?, ?, ?)", count: subscriptions.count).joined(separator: ", ")
        try await execute("INSERT INTO subscriptions (id, push_token, topic_id, restriction_key, created_at, set_id) VALUES \(values)", binds)
    }

    public func markDeleted(id: SubscriptionID, at time: Int64) async throws {
        try await transaction { [self] in
            try await deleteSubscriptions(where: "id = ?", [.text(id.rawValue)], at: time)
        }
    }

    public func deleteSet(id: SetID, at time: Int64) async throws {
        try await transaction { [self] in
            try await deleteSubscriptions(where: "set_id = ? AND deleted_at IS NULL", [.text(id.rawValue)], at: time)
            try await execute("UPDATE sets SET deleted_at = ? WHERE id = ?", [.integer(Int(time)), .text(id.rawValue)])
        }
    }

    /// Marks subscriptions deleted, and removes them from every list and their held messages.
    private func deleteSubscriptions(where condition: String, _ binds: [SQLiteData], at time: Int64) async throws {
        try await execute("DELETE FROM list_members WHERE member_token IN (SELECT push_token FROM subscriptions WHERE \(condition))", binds)
        try await execute("DELETE FROM held_messages WHERE topic_id IN (SELECT topic_id FROM subscriptions WHERE \(condition))", binds)
        try await execute("UPDATE subscriptions SET deleted_at = ?, restriction_key = NULL WHERE \(condition)", [.integer(Int(time))] + binds)
    }

    public func purgeDeleted(before time: Int64) async throws {
        try await transaction { [self] in
            try await execute("DELETE FROM subscriptions WHERE deleted_at IS NOT NULL AND deleted_at < ?", [.integer(Int(time))])
            try await execute("""
                DELETE FROM sets WHERE deleted_at IS NOT NULL AND deleted_at < ?
                AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE subscriptions.set_id = sets.id)
                """, [.integer(Int(time))])
        }
    }

    // MARK: Lists

    public func insertList(_ list: PushList) async throws {
        try await transaction { [self] in
            try await execute("INSERT INTO lists (id, push_token, creator_key, created_at) VALUES (?, ?, ?, ?)",
                              [.text(list.id.rawValue), .text(list.pushToken.rawValue), .blob(ByteBuffer(bytes: list.creatorKey.rawBytes)), .integer(Int(list.createdAt))])
            for (token, member) in list.members { try await upsertMember(list.id, token, member) }
        }
    }

    public func updateList(id: ListID, _ changes: [ListChange]) async throws {
        try await transaction { [self] in
            for change in changes {
                switch change {
                case .upsert(let token, let member): try await upsertMember(id, token, member)
                case .remove(let token): try await execute("DELETE FROM list_members WHERE list_id = ? AND member_token = ?", [.text(id.rawValue), .text(token.rawValue)])
                }
            }
        }
    }

    public func deleteList(id: ListID) async throws {
        try await transaction { [self] in
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

    // MARK: Held messages

    public func hold(_ message: HeldMessage) async throws {
        try await transaction { [self] in
            // REPLACE drops the row of the same (topic_id, slot): the replaced message.
            try await execute("""
                INSERT OR REPLACE INTO held_messages
                (id, topic_id, set_topic_id, slot, urgency, content_encoding, encrypted_key, accepted_at, expires_at, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(message.id.rawValue), .text(message.topicID.rawValue), message.setTopicID.map { .text($0.rawValue) } ?? .null,
                      .text(message.slot), .text(message.message.urgency.rawValue), message.message.contentEncoding.map { .text($0) } ?? .null,
                      message.encryptedKey.map { .text($0) } ?? .null, .integer(Int(message.message.acceptedAt)), .integer(Int(message.expiresAt)),
                      .blob(message.message.body)])
        }
    }

    public func release(_ ids: [MessageID]) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { [self] in
            for chunk in stride(from: 0, to: ids.count, by: Self.rowsPerStatement) {
                let part = ids[chunk..<min(chunk + Self.rowsPerStatement, ids.count)]
                try await execute("DELETE FROM held_messages WHERE id IN (\(Array(repeating: "?", count: part.count).joined(separator: ", ")))",
                                  part.map { .text($0.rawValue) })
            }
        }
    }

    public func heldMessages() async throws -> [HeldMessage] {
        try await rows("""
            SELECT id, topic_id, set_topic_id, slot, urgency, content_encoding, encrypted_key, accepted_at, expires_at, body FROM held_messages
            """) { row in
            guard let id = row.column("id")?.string, let topicID = row.column("topic_id")?.string, let slot = row.column("slot")?.string,
                  let urgency = row.column("urgency")?.string.flatMap(Urgency.init(rawValue:)),
                  let acceptedAt = row.column("accepted_at")?.integer, let expiresAt = row.column("expires_at")?.integer,
                  let body = row.column("body")?.blob ?? (row.column("body").map { _ in ByteBuffer() })
            else { return nil }
            let message = PushMessage(id: MessageID(trusted: id), body: body, ttl: Int(expiresAt - acceptedAt), urgency: urgency,
                                      contentEncoding: row.column("content_encoding")?.string, acceptedAt: Int64(acceptedAt))
            return HeldMessage(message, topicID: TopicID(trusted: topicID), setTopicID: row.column("set_topic_id")?.string.map(TopicID.init(trusted:)),
                               slot: slot, encryptedKey: row.column("encrypted_key")?.string)
        }
    }

    // MARK: Receipts

    public func insert(_ subscription: ReceiptSubscription) async throws {
        try await transaction { [self] in
            try await execute("INSERT INTO receipt_subscriptions (id, creator_key, created_at) VALUES (?, ?, ?)",
                              [.text(subscription.id.rawValue), .blob(ByteBuffer(bytes: subscription.creatorKey.rawBytes)), .integer(Int(subscription.createdAt))])
        }
    }

    public func deleteReceiptSubscription(id: ReceiptSubscriptionID) async throws {
        try await transaction { [self] in
            for table in ["receipt_requests", "receipts"] {
                try await execute("DELETE FROM \(table) WHERE subscription_id = ?", [.text(id.rawValue)])
            }
            try await execute("DELETE FROM receipt_subscriptions WHERE id = ?", [.text(id.rawValue)])
        }
    }

    public func insert(_ requests: [ReceiptRequest]) async throws {
        try await transaction { [self] in
            for chunk in stride(from: 0, to: requests.count, by: Self.rowsPerStatement) {
                let part = requests[chunk..<min(chunk + Self.rowsPerStatement, requests.count)]
                try await execute("INSERT INTO receipt_requests (message_id, subscription_id, expires_at) VALUES "
                                  + Array(repeating: "(?, ?, ?)", count: part.count).joined(separator: ", "),
                                  part.flatMap { [.text($0.message.rawValue), .text($0.subscription.rawValue), .integer(Int($0.expiresAt))] })
            }
        }
    }

    public func removeRequests(_ messages: [MessageID]) async throws {
        try await transaction { [self] in
            for message in messages { try await execute("DELETE FROM receipt_requests WHERE message_id = ?", [.text(message.rawValue)]) }
        }
    }

    public func resolve(_ receipts: [Receipt]) async throws {
        try await transaction { [self] in
            for receipt in receipts {
                try await execute("DELETE FROM receipt_requests WHERE message_id = ?", [.text(receipt.message.rawValue)])
                try await execute("INSERT OR REPLACE INTO receipts (subscription_id, message_id, status, at) VALUES (?, ?, ?, ?)",
                                  [.text(receipt.subscription.rawValue), .text(receipt.message.rawValue), .integer(receipt.status.rawValue), .integer(Int(receipt.at))])
            }
        }
    }

    public func removeReceipts(_ receipts: [Receipt]) async throws {
        try await transaction { [self] in
            for receipt in receipts {
                try await execute("DELETE FROM receipts WHERE subscription_id = ? AND message_id = ?",
                                  [.text(receipt.subscription.rawValue), .text(receipt.message.rawValue)])
            }
        }
    }

    public func loadReceipts() async throws -> (subscriptions: [ReceiptSubscription], requests: [ReceiptRequest], receipts: [Receipt]) {
        let subscriptions = try await rows("SELECT id, creator_key, created_at FROM receipt_subscriptions") { row -> ReceiptSubscription? in
            guard let id = row.column("id")?.string, let blob = row.column("creator_key")?.blob, let createdAt = row.column("created_at")?.integer,
                  let key = try? VAPIDPublicKey(rawBytes: blob.readableBytesView)
            else { return nil }
            return ReceiptSubscription(id: ReceiptSubscriptionID(trusted: id), creatorKey: key, createdAt: Int64(createdAt))
        }
        let requests = try await rows("SELECT message_id, subscription_id, expires_at FROM receipt_requests") { row -> ReceiptRequest? in
            guard let message = row.column("message_id")?.string, let subscription = row.column("subscription_id")?.string,
                  let expiresAt = row.column("expires_at")?.integer
            else { return nil }
            return ReceiptRequest(message: MessageID(trusted: message), subscription: ReceiptSubscriptionID(trusted: subscription), expiresAt: Int64(expiresAt))
        }
        let receipts = try await rows("SELECT subscription_id, message_id, status, at FROM receipts") { row -> Receipt? in
            guard let subscription = row.column("subscription_id")?.string, let message = row.column("message_id")?.string,
                  let status = row.column("status")?.integer.flatMap(Receipt.Status.init(rawValue:)), let at = row.column("at")?.integer
            else { return nil }
            return Receipt(subscription: ReceiptSubscriptionID(trusted: subscription), message: MessageID(trusted: message), status: status, at: Int64(at))
        }
        return (subscriptions, requests, receipts)
    }

    // MARK: Backup and restore

    /// Writes a consistent copy of the database to `destination` (`VACUUM INTO`): online, beside
    /// a running server, and compact. Refuses an existing destination.
    public static func backup(path: String, to destination: String, logger: Logger = Logger(label: "pushgate.store")) async throws {
        guard !FileManager.default.fileExists(atPath: destination) else { throw BackupProblem("\(destination) exists already; choose a new file") }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            try await connection.query("VACUUM INTO ?", [.text(destination)]) { _ in }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Replaces the database at `path` with the backup `source`, after checking the backup is
    /// a registry this Pushgate can open and passes SQLite's integrity check. Refuses while a
    /// server has `path` open (its lock), so a running instance never has its file swapped.
    public static func restore(from source: String, to path: String, logger: Logger = Logger(label: "pushgate.store")) async throws {
        let backup = try await SQLiteConnection.open(storage: .file(path: source), logger: logger)
        let checks = NIOLockedValueBox<(version: Int?, integrity: String?)>((nil, nil))
        do {
            try await backup.query("PRAGMA user_version", []) { row in checks.withLockedValue { $0.version = row.column("user_version")?.integer } }
            try await backup.query("PRAGMA integrity_check", []) { row in checks.withLockedValue { $0.integrity = row.columns.first?.data.string } }
            try await backup.close()
        } catch {
            try? await backup.close()
            throw BackupProblem("\(source) is not a readable SQLite database (\(error))")
        }
        let (version, integrity) = checks.withLockedValue { $0 }
        guard let version, version > 0 else { throw BackupProblem("\(source) is not a Pushgate registry (no schema version)") }
        guard version <= schemaVersion else { throw NewerSchema(found: version) }
        guard integrity == "ok" else { throw BackupProblem("\(source) fails SQLite's integrity check: \(integrity ?? "no answer")") }
        // Holding the lock (a server would have it) while the file is swapped.
        let lock = FileManager.default.fileExists(atPath: path) ? try await lockFile(path) : -1
        defer { if lock >= 0 { Glibc.close(lock) } }
        let staged = path + ".restoring"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: source, toPath: staged)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        guard rename(staged, path) == 0 else { throw IOError(errnoCode: errno, reason: "rename \(staged) to \(path)") }
    }

    /// A backup or restore that cannot be done.
    public struct BackupProblem: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Secret

    public func installationSecret() async throws -> [UInt8] {
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        // INSERT OR IGNORE: whoever comes first (the server, or `pushgate routes` before it ever
        // ran) creates it; everyone after reads the same value.
        try await writes.withLock {
            try await execute("INSERT OR IGNORE INTO secrets (name, value) VALUES ('installation', ?)", [.blob(ByteBuffer(bytes: fresh))])
        }
        let value = try await rows("SELECT value FROM secrets WHERE name = 'installation'") { $0.column("value")?.blob.map { Array($0.readableBytesView) } }
        guard let secret = value.first, secret.count == 32 else { throw SecretUnreadable() }
        return secret
    }

    /// The stored installation secret is missing or damaged.
    struct SecretUnreadable: Error, CustomStringConvertible {
        var description: String { "the installation secret in the registry is unreadable" }
    }

    public func close() async throws {
        defer { if lockDescriptor >= 0 { Glibc.close(lockDescriptor) } }
        try await connection.close()
    }
}
